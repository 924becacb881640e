import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { CANARY_SQL, armCanary, expectCanaryUnchanged, invoke } from './support/refresh';
import { libpqEnvironment, runSql } from '../../local/pg';
import { RefreshEnv, RefreshErrors } from '../../src/shared/contract';

/**
 * Bad input is rejected with an error naming it, before anything is refreshed. The canary proves it: a view
 * whose source changed before each bad request must still show the old contents afterwards, and the tables a
 * name tries to drop must still be there.
 */
describe('bad input', () => {
  let db: ClientConfig;
  let env: Record<string, string>;
  const sqlNamedView = 'x"; DROP TABLE canary_source; --';

  beforeAll(async () => {
    db = await createTestDatabase('refresh_bad_input');
    env = libpqEnvironment(db);
    await runSql(db, `
      ${CANARY_SQL}
      INSERT INTO canary_source DEFAULT VALUES;
      REFRESH MATERIALIZED VIEW canary;
      CREATE VIEW plain_view AS SELECT * FROM canary_source;
      CREATE SCHEMA empty_schema;
      CREATE MATERIALIZED VIEW "${sqlNamedView.replace(/"/g, '""')}" AS SELECT count(*)::int AS n FROM canary_source;
    `);
  });

  async function expectNothingChanged(before: number) {
    await expectCanaryUnchanged(db, before);
    expect(await runSql(db, "SELECT to_regclass('public.canary_source') IS NOT NULL AS present")).toEqual([{ present: true }]);
  }

  const badEvents: Array<[string, unknown, RegExp]> = [
    ['a view that does not exist', { views: ['canary', 'public.nope'] }, /Materialized view "public\.nope" does not exist/],
    ['a view in a schema that does not exist', { views: ['canary', 'nowhere.canary'] }, /"nowhere\.canary" does not exist/],
    ['a table', { views: ['canary', 'canary_source'] }, /"canary_source" is a table, not a materialized view/],
    ['a plain view', { views: ['canary', 'public.plain_view'] }, /"public\.plain_view" is a plain view, not a materialized view/],
    ['a name with a database prefix', { views: ['canary', 'db.public.canary'] }, /Invalid view name "db\.public\.canary": use schema\.view/],
    ['an empty name', { views: ['canary', ''] }, /Invalid view name "": it is empty/],
    ['a name ending with a dot', { views: ['canary', 'public.'] }, /Invalid view name "public\.": it ends with a dot/],
    ['an unterminated quote', { views: ['canary', '"canary'] }, /Invalid view name "\\"canary": unterminated double quote/],
    ['two words', { views: ['canary', 'public canary'] }, /Invalid view name "public canary": unexpected "c" at position 8/],
    ['a name that is not a string', { views: ['canary', 42] }, /Invalid view name 42: expected a string/],
    ['a name longer than PostgreSQL keeps', { views: ['canary', 'v'.repeat(64)] }, /identifier longer than 63 bytes/],
    ['a statement after the name', { views: ['canary', 'canary; DROP TABLE canary_source'] }, /Invalid view name "canary; DROP TABLE canary_source": unexpected ";" at position 7/],
    ['a quote-breaking payload', { views: ['canary', "canary'); DROP TABLE canary_source; --"] }, /Invalid view name .*unexpected "'" at position 7/],
    ['a comment', { views: ['canary', 'canary -- x'] }, /unexpected "-" at position 8/],
    ['a function call', { views: ['canary', 'pg_sleep(10)'] }, /unexpected "\(" at position 9/],
    ['an empty selection', { views: [] }, /the selection is empty: event\.views is an empty array/],
    ['views that are not a list', { views: 'canary' }, /Invalid event\.views "canary": expected an array/],
    ['an event that is not an object', 'canary', /Invalid event "canary": expected an object/],
  ];

  test.each(badEvents)('%s is rejected by name, and nothing is refreshed', async (_case, event, message) => {
    const before = await armCanary(db);
    const { error, report } = await invoke(event, env);

    expect(report).toBeUndefined();
    expect(error?.name).toBe(RefreshErrors.INVALID_REQUEST);
    expect(error?.message).toMatch(message);
    await expectNothingChanged(before);
  });

  test('every bad name of a request is reported at once', async () => {
    const { error } = await invoke({ views: ['nope_1', 'canary', 'canary_source', 'nope_2;'] }, env);
    expect(error?.message).toMatch(/"nope_1" does not exist; .*"canary_source" is a table.*; Invalid view name "nope_2;"/);
  });

  const badSettings: Array<[string, Record<string, string>, RegExp]> = [
    ['concurrency 0', { [RefreshEnv.CONCURRENCY]: '0' }, /ITC_REFRESH_CONCURRENCY="0": expected an integer from 1 to 64/],
    ['a concurrency that is not a number', { [RefreshEnv.CONCURRENCY]: 'four' }, /ITC_REFRESH_CONCURRENCY="four"/],
    ['an unknown overlap policy', { [RefreshEnv.OVERLAP_POLICY]: 'maybe' }, /ITC_REFRESH_OVERLAP_POLICY="maybe": expected one of wait, skip/],
    ['an unknown CONCURRENTLY policy', { [RefreshEnv.CONCURRENT_REFRESH]: 'sometimes' }, /ITC_REFRESH_CONCURRENTLY="sometimes": expected one of auto, always, never/],
    ['a view list that is not JSON', { [RefreshEnv.VIEWS]: 'canary' }, /ITC_REFRESH_VIEWS="canary": expected a JSON array of strings/],
    ['configured views of which one is missing', { [RefreshEnv.VIEWS]: '["canary","gone"]' }, /invalid ITC_REFRESH_VIEWS: Materialized view "gone" does not exist/],
    ['a configured schema that does not exist', { [RefreshEnv.SCHEMAS]: '["public","nowhere"]' }, /invalid ITC_REFRESH_SCHEMAS: schema "nowhere" does not exist/],
    ['configured schemas without materialized views', { [RefreshEnv.SCHEMAS]: '["empty_schema"]' }, /the selection is empty: ITC_REFRESH_SCHEMAS=\["empty_schema"\] names no materialized views/],
    ['a TLS mode that does not exist', { [RefreshEnv.TLS_MODE]: 'prefer' }, /ITC_DB_TLS_MODE="prefer": expected one of verify-full, require, disable/],
    ['a negative lock wait', { [RefreshEnv.LOCK_WAIT_MS]: '-1' }, /ITC_REFRESH_LOCK_WAIT_MS="-1"/],
    ['attempts above the bound', { [RefreshEnv.MAX_ATTEMPTS]: '11' }, /ITC_REFRESH_MAX_ATTEMPTS="11": expected an integer from 1 to 10/],
  ];

  test.each(badSettings)('%s is rejected by name, and nothing is refreshed', async (_case, settings, message) => {
    const before = await armCanary(db);
    const { error } = await invoke({}, { ...env, ...settings });

    expect(error?.name).toBe(RefreshErrors.INVALID_REQUEST);
    expect(error?.message).toMatch(message);
    await expectNothingChanged(before);
  });

  test('a view whose own name contains SQL is refreshed as that view, and the SQL never runs', async () => {
    const quoted = `"${sqlNamedView.replace(/"/g, '""')}"`;
    const before = await armCanary(db);
    const { report, error } = await invoke({ views: [quoted] }, env);

    expect(error).toBeUndefined();
    expect(report!.views).toEqual([expect.objectContaining({ view: `public.${quoted}`, status: 'refreshed' })]);
    const [{ n }] = await runSql<{ n: number }>(db, `SELECT n FROM ${quoted}`);
    const [{ rows }] = await runSql<{ rows: number }>(db, 'SELECT count(*)::int AS rows FROM canary_source');
    expect(n).toBe(rows);
    // Only the named view was refreshed; the table its name mentions is still there.
    await expectNothingChanged(before);
  });
});
