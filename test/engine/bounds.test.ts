import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke, localModeEnv, logLines } from './support/refresh';
import { runSql } from '../../local/pg';
import { RefreshEnv, RefreshErrors, ReportLimits } from '../../src/shared/contract';

/** Step Functions' limit on a task's output, in bytes. */
const STEP_FUNCTIONS_OUTPUT_LIMIT = 256 * 1024;
/** CloudWatch Logs' limit on one event, in bytes, less the 26 bytes it adds to each. */
const LOG_EVENT_LIMIT = 256 * 1024 - 26;
const bytes = (value: unknown) => Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value));

/** An identifier of 63 bytes, the most PostgreSQL keeps, made of characters JSON must escape. */
function escapedName(tag: string): string {
  return `${'\u0001'.repeat(63 - tag.length)}${tag}`;
}
const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * What a run returns and logs stays within its bounds whatever the input: a deep chain, names that JSON must
 * escape, thousands of bad names.
 */
describe('bounds', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('bounds');
    env = localModeEnv(db);
    await runSql(db, `ALTER DATABASE "${db.database}" SET synchronous_commit = off`);
  });

  test('a failure at the head of a chain 3,600 views deep skips the chain and reports it', async () => {
    const DEPTH = 3_600;
    await runSql(db, `
      CREATE SCHEMA chain;
      CREATE TABLE chain.divisor (d int NOT NULL);
      INSERT INTO chain.divisor VALUES (1);
      CREATE MATERIALIZED VIEW chain.v0000 AS SELECT 1 / d AS n FROM chain.divisor`);
    const statements = Array.from({ length: DEPTH - 1 }, (_, i) =>
      `CREATE MATERIALIZED VIEW chain.v${String(i + 1).padStart(4, '0')} AS SELECT n FROM chain.v${String(i).padStart(4, '0')}`);
    for (let i = 0; i < statements.length; i += 600) await runSql(db, statements.slice(i, i + 600).join(';\n'));
    await runSql(db, 'UPDATE chain.divisor SET d = 0');

    const { error, output } = await invoke({}, { ...env, [RefreshEnv.SCHEMAS]: '["chain"]', [RefreshEnv.MAX_ATTEMPTS]: '1' }, 110_000);

    expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
    expect(error?.message).toMatch(new RegExp(`^${DEPTH} of ${DEPTH} materialized views were not refreshed \\(1 failed, ${DEPTH - 1} skipped`));
    expect(logLines(output).find((line) => line.message === 'Refresh run finished')).toBeDefined();
  });

  test('the whole report and every log line stay within their bounds when names must be escaped', async () => {
    const schema = escapedName('s');
    const tables = Array.from({ length: 50 }, (_, i) => escapedName(`t${i}`));
    const views = Array.from({ length: 10 }, (_, i) => escapedName(`v${i}`));
    const reads = tables.map((table) => `SELECT count(*) FROM ${quoted(schema)}.${quoted(table)}`).join(' UNION ALL ');
    await runSql(db, [
      `CREATE SCHEMA ${quoted(schema)}`,
      ...tables.map((table) => `CREATE TABLE ${quoted(schema)}.${quoted(table)} (id int)`),
      ...views.map((view) => `CREATE MATERIALIZED VIEW ${quoted(schema)}.${quoted(view)} AS ${reads}`),
    ].join(';\n'));

    const { report, error, output } = await invoke(
      { tables: tables.map((table) => `${quoted(schema)}.${quoted(table)}`) },
      { ...env, [RefreshEnv.SCHEMAS]: JSON.stringify([quoted(schema)]) },
    );

    expect(error).toBeUndefined();
    expect(report).toMatchObject({ status: 'succeeded', totals: { refreshed: 10 } });
    expect(bytes(report)).toBeLessThanOrEqual(ReportLimits.REPORT_BYTES);
    expect(bytes(report)).toBeLessThan(STEP_FUNCTIONS_OUTPUT_LIMIT);
    expect((report!.selection.tables ?? []).length + (report!.selection.omittedTables ?? 0)).toBe(50);
    for (const line of output.split('\n')) expect(bytes(line)).toBeLessThan(LOG_EVENT_LIMIT);
  });

  test('an invalid request names the first bad entries and counts the rest, however many there are', async () => {
    const names = Array.from({ length: 7_000 }, (_, i) => `staging.dropped_load_table_${String(i).padStart(5, '0')}`);
    await runSql(db, 'CREATE SCHEMA IF NOT EXISTS staging');
    const { error, output } = await invoke({ tables: names }, env);

    expect(error?.name).toBe(RefreshErrors.INVALID_REQUEST);
    expect(error?.message).toContain('staging.dropped_load_table_00000');
    expect(error?.message).toMatch(/and 6,99\d more/);
    expect(error!.message.length).toBeLessThan(2_000);
    for (const line of output.split('\n')) expect(bytes(line)).toBeLessThan(16 * 1024);
  });
});
