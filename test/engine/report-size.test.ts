import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke, localModeEnv, logLines } from './support/refresh';
import { runSql } from '../../local/pg';
import { ConcurrentRefresh, RefreshEnv, RefreshErrors, RefreshReport, ReportLimits } from '../../src/shared/contract';

/** Step Functions' limit on a task's output, in bytes. */
const STEP_FUNCTIONS_OUTPUT_LIMIT = 256 * 1024;
/** CloudWatch Logs' limit on one event, in bytes, less the 26 bytes it adds to each. */
const LOG_EVENT_LIMIT = 256 * 1024 - 26;
const VIEWS = 3_000;

const bytes = (value: unknown) => Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value));

/**
 * The report and the logs of a run of thousands of views, through the bundled handler in local mode.
 */
describe(`the report of a ${VIEWS}-view run`, () => {
  let db: ClientConfig;
  let env: Record<string, string>;
  const names = Array.from({ length: VIEWS }, (_, i) => `wide.revenue_by_region_and_product_${String(i).padStart(4, '0')}`);

  beforeAll(async () => {
    db = await createTestDatabase('refresh_report_size');
    env = { ...localModeEnv(db), [RefreshEnv.SCHEMAS]: JSON.stringify(['wide']) };
    // Commits need not wait for the disk: thousands of tiny refreshes, each its own transaction.
    await runSql(db, `ALTER DATABASE "${db.database}" SET synchronous_commit = off`);
    await runSql(db, 'CREATE SCHEMA wide');
    // Chains of ten: each view reads the one before it, except at the start of a chain.
    const statements = names.map((name, i) => (i % 10 === 0
      ? `CREATE MATERIALIZED VIEW ${name} AS SELECT ${i} AS n`
      : `CREATE MATERIALIZED VIEW ${name} AS SELECT n + 1 AS n FROM ${names[i - 1]}`));
    for (let i = 0; i < statements.length; i += 500) {
      await runSql(db, statements.slice(i, i + 500).join(';\n'));
    }
  });

  test('stays well under the Step Functions output limit, and the log has every view', async () => {
    const { report, error, output } = await invoke(undefined, { ...env, [RefreshEnv.CONCURRENCY]: '4' }, 110_000);

    expect(error).toBeUndefined();
    expect(report!.status).toBe('succeeded');
    expect(report!.totals).toEqual({ selected: VIEWS, refreshed: VIEWS, failed: 0, skipped: 0 });
    expect(bytes(report)).toBeLessThanOrEqual(STEP_FUNCTIONS_OUTPUT_LIMIT / 2);
    // The views listed are whole entries in plan order, and the rest are counted.
    expect(report!.views.length).toBeGreaterThan(0);
    expect(report!.views.length + report!.viewsOmitted).toBe(VIEWS);
    expect(report!.views.every((view) => view.status === 'refreshed' && view.attempts === 1)).toBe(true);

    const lines = output.split('\n').filter((line) => line.length > 0);
    expect(Math.max(...lines.map(bytes))).toBeLessThanOrEqual(LOG_EVENT_LIMIT / 2);
    const logs = logLines(output);
    const refreshed = new Set(logs.filter((line) => line.message === 'View refreshed').map((line) => line.view));
    expect(refreshed.size).toBe(VIEWS);
    const planned = logs.filter((line) => line.message === 'Refresh run planned');
    expect(planned.flatMap((line) => (line.views as Array<{ view: string }>).map((view) => view.view)).sort()).toEqual([...names].sort());
    expect(planned.map((line) => [line.part, line.parts])).toEqual(planned.map((_, i) => [i + 1, planned.length]));
    const finished = logs.find((line) => line.message === 'Refresh run finished');
    expect(finished!.report).toEqual(report);
  }, 300_000);

  test('lists failed views first, with their reasons, as far as they fit, and counts the rest', async () => {
    // Under ALWAYS, a view without a unique index fails without running: every view fails.
    await runSql(db, `CREATE UNIQUE INDEX ON ${names[0]} (n)`);
    const { error, output } = await invoke(undefined, { ...env, [RefreshEnv.CONCURRENT_REFRESH]: ConcurrentRefresh.ALWAYS }, 110_000);

    expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
    expect(bytes(error!.message)).toBeLessThanOrEqual(8_000 * 3);
    const lines = output.split('\n').filter((line) => line.length > 0);
    expect(Math.max(...lines.map(bytes))).toBeLessThanOrEqual(LOG_EVENT_LIMIT / 2);

    const report = logLines(output).find((line) => line.message === 'Refresh run finished')!.report as RefreshReport;
    expect(bytes(report)).toBeLessThanOrEqual(STEP_FUNCTIONS_OUTPUT_LIMIT / 2);
    expect(report.totals.selected).toBe(VIEWS);
    expect(report.totals.refreshed).toBe(1);
    expect(report.views.length + report.viewsOmitted).toBe(VIEWS);
    // Views not refreshed come before refreshed ones, failed before skipped, each with its reason.
    expect(report.views.length).toBeLessThan(VIEWS - 1);
    expect(report.views.every((view) => view.status !== 'refreshed' && view.reason)).toBe(true);
    expect(report.views.filter((view) => view.status === 'failed')).toHaveLength(Math.min(report.totals.failed, report.views.length));
    expect(report.views.every((view) => view.reason!.length <= ReportLimits.REASON_CHARS)).toBe(true);
  }, 300_000);
});
