import type { Client, ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke, localModeEnv, loggedReport } from './support/refresh';
import { connect, runSql } from '../../local/pg';
import { VIEW_LOCK_NAMESPACE } from '../../src/engine/run-lock';
import { ConcurrentRefresh, RefreshEnv, RefreshErrors } from '../../src/shared/contract';

/** A refresh that waited too long says what it waited for: the relation and the process, or another run. */
describe('wait reasons', () => {
  let db: ClientConfig;
  let env: Record<string, string>;
  let holder: Client | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('wait_reasons');
    env = { ...localModeEnv(db), [RefreshEnv.LOCK_TIMEOUT_MS]: '1500', [RefreshEnv.MAX_ATTEMPTS]: '1' };
    await runSql(db, `
      CREATE TABLE facts (id int PRIMARY KEY);
      INSERT INTO facts VALUES (1);
      CREATE MATERIALIZED VIEW plain_totals AS SELECT count(*)::int AS n FROM facts;
      CREATE MATERIALIZED VIEW keyed_totals AS SELECT 1 AS id, count(*)::int AS n FROM facts;
      CREATE UNIQUE INDEX ON keyed_totals (id);
    `);
  });

  afterEach(async () => {
    await holder?.query('ROLLBACK').catch(() => undefined);
    await holder?.end().catch(() => undefined);
    holder = undefined;
  });

  async function hold(sql: string): Promise<number> {
    holder = await connect({ ...db, application_name: 'nightly-migration' });
    await holder.query('BEGIN');
    await holder.query(sql);
    const { rows } = await holder.query<{ pid: number }>('SELECT pg_catalog.pg_backend_pid() AS pid');
    return rows[0].pid;
  }

  async function reasonOf(view: string, policy: ConcurrentRefresh): Promise<string> {
    const { error, output } = await invoke({ views: [view] }, { ...env, [RefreshEnv.CONCURRENT_REFRESH]: policy });
    expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
    return loggedReport(output).views[0].reason!;
  }

  test('a plain REFRESH held up by a migration on its base table names the table and the process, not readers', async () => {
    const pid = await hold('LOCK TABLE facts IN ACCESS EXCLUSIVE MODE');
    const reason = await reasonOf('plain_totals', ConcurrentRefresh.NEVER);

    expect(reason).not.toMatch(/readers held the view/);
    expect(reason).toContain('public.facts');
    expect(reason).toContain(`pid ${pid}`);
    expect(reason).toContain('nightly-migration');
  });

  test('a CONCURRENTLY refresh held up by a migration names the table and the process', async () => {
    const pid = await hold('LOCK TABLE facts IN ACCESS EXCLUSIVE MODE');
    const reason = await reasonOf('keyed_totals', ConcurrentRefresh.AUTO);

    expect(reason).toContain('public.facts');
    expect(reason).toContain(`pid ${pid}`);
  });

  test('a wait on another run\'s guard of the view says another run is refreshing it', async () => {
    const [{ oid }] = await runSql<{ oid: number }>(db, "SELECT 'plain_totals'::regclass::oid AS oid");
    await hold(`SELECT pg_catalog.pg_advisory_xact_lock(${VIEW_LOCK_NAMESPACE}, ${oid})`);
    const reason = await reasonOf('plain_totals', ConcurrentRefresh.NEVER);

    expect(reason).toMatch(/another refresh run is refreshing public\.plain_totals/);
  });
});
