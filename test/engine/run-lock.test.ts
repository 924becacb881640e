import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { SLOW_FUNCTION_SQL, endOf, invoke, localModeEnv, logLines, sleep } from './support/refresh';
import { connect, runSql } from '../../local/pg';
import { OverlapPolicy, RefreshEnv, RefreshErrors } from '../../src/shared/contract';

/**
 * The run lock: it outlives server timeouts and idle-session killers, a run that loses it anyway stops, it
 * keeps apart only runs that refresh the same views, and a cancelled wait for it is a failure.
 */
describe('run lock', () => {
  let db: ClientConfig;
  let env: Record<string, string>;
  const skip = () => ({ ...env, [RefreshEnv.OVERLAP_POLICY]: OverlapPolicy.SKIP });

  beforeAll(async () => {
    db = await createTestDatabase('run_lock');
    env = localModeEnv(db);
    await runSql(db, `
      ${SLOW_FUNCTION_SQL}
      CREATE TABLE facts (id int PRIMARY KEY);
      INSERT INTO facts VALUES (1), (2);
      CREATE MATERIALIZED VIEW slow AS SELECT f.id FROM facts f CROSS JOIN (SELECT pause('slow')) p;
      CREATE MATERIALIZED VIEW slow_child AS SELECT count(*)::int AS n FROM slow;
      CREATE MATERIALIZED VIEW other AS SELECT count(*)::int AS n FROM facts;
      CREATE MATERIALIZED VIEW third AS SELECT count(*)::int AS n FROM facts;
    `);
  });

  async function slowFor(seconds: number) {
    await runSql(db, `
      INSERT INTO knobs (tag, seconds) VALUES ('slow', $1) ON CONFLICT (tag) DO UPDATE SET seconds = $1`, [seconds]);
  }

  afterEach(async () => {
    await runSql(db, 'DELETE FROM knobs');
    await runSql(db, `ALTER DATABASE "${db.database}" RESET ALL`);
  });

  /** The backend holding a run lock (a single-key advisory lock) on the test database. */
  async function runLockHolder(): Promise<number | undefined> {
    const rows = await runSql<{ pid: number }>(db, `
      SELECT pid FROM pg_catalog.pg_locks
      WHERE locktype = 'advisory' AND objsubid = 1 AND granted
        AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())`);
    return rows[0]?.pid;
  }

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
      await sleep(25);
    }
  }

  test('the server\'s idle timeouts do not end the lock session: an overlapping run is still kept out', async () => {
    await runSql(db, `ALTER DATABASE "${db.database}" SET idle_session_timeout = '300ms'`);
    await runSql(db, `ALTER DATABASE "${db.database}" SET idle_in_transaction_session_timeout = '300ms'`);
    await slowFor(1.5);
    const holder = invoke({ views: ['slow'] }, skip());
    await sleep(900);
    const second = await invoke({ views: ['slow'] }, skip());
    const first = await holder;

    expect(first.report).toMatchObject({ status: 'succeeded', lock: 'acquired' });
    expect(second.error).toBeUndefined();
    expect(second.report).toMatchObject({ status: 'skipped', lock: 'not-acquired' });
  });

  // The lock session is idle for about one keep-alive interval at a time; the job's threshold leaves room for a
  // busy event loop, and the run outlasts the threshold, so a session left idle would be killed.
  test('a job that kills sessions idle for over three seconds never finds the lock session idle that long', async () => {
    await slowFor(5.5);
    const holder = invoke({ views: ['slow'] }, skip());
    const killer = await connect(db);
    const killed: number[] = [];
    let running = true;
    const job = (async () => {
      while (running) {
        const { rows } = await killer.query<{ pid: number }>(`
          SELECT pid, pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_catalog.pg_backend_pid()
            AND state IN ('idle', 'idle in transaction') AND state_change < now() - interval '3 seconds'`);
        killed.push(...rows.map((row) => row.pid));
        await sleep(100);
      }
    })();
    const lockPid = await waitFor('the run lock', runLockHolder);
    await sleep(4_000);
    const second = await invoke({ views: ['slow'] }, skip());
    const first = await holder;
    running = false;
    await job;
    await killer.end();

    expect(killed).not.toContain(lockPid);
    expect(first.report).toMatchObject({ status: 'succeeded', lock: 'acquired' });
    expect(second.report).toMatchObject({ status: 'skipped', lock: 'not-acquired' });
  });

  test('a run whose lock session is ended anyway starts no more refreshes and fails with RunLockLost', async () => {
    await slowFor(1);
    const [{ n: before }] = await runSql<{ n: number }>(db, 'SELECT n FROM slow_child');
    await runSql(db, 'INSERT INTO facts VALUES (3)');
    const run = invoke({ views: ['slow', 'slow_child'] }, { ...env, [RefreshEnv.CONCURRENCY]: '1' });
    const lockPid = await waitFor('the run lock', runLockHolder);
    await sleep(300);
    await runSql(db, 'SELECT pg_catalog.pg_terminate_backend($1)', [lockPid]);
    const { error, output } = await run;
    await runSql(db, 'DELETE FROM facts WHERE id = 3');

    expect(error?.name).toBe(RefreshErrors.RUN_LOCK_LOST);
    expect(error?.message).toMatch(/run lock was lost/);
    expect(error?.message).toContain('public.slow_child');
    // slow_child was not refreshed: it still counts the rows it counted before the run.
    expect(await runSql(db, 'SELECT n FROM slow_child')).toEqual([{ n: before }]);
    expect(logLines(output).some((line) => line.message === 'Refresh started' && String(line.view) === 'public.slow_child')).toBe(false);
  });

  test('runs with disjoint views both refresh, even under SKIP', async () => {
    await slowFor(1.5);
    const holder = invoke({ views: ['slow'] }, skip());
    await waitFor('the run lock', runLockHolder);
    const other = await invoke({ views: ['other', 'third'] }, skip());
    const otherDone = Date.now();
    const first = await holder;

    expect(other.error).toBeUndefined();
    expect(other.report).toMatchObject({ status: 'succeeded', lock: 'acquired', totals: { refreshed: 2 } });
    expect(first.report).toMatchObject({ status: 'succeeded', lock: 'acquired' });
    expect(endOf(first.report!, 'public.slow')).toBeGreaterThan(otherDone);
  });

  test('runs whose selections share a view both refresh it, one after the other', async () => {
    await slowFor(1);
    const holder = invoke({ views: ['slow', 'other'] }, skip());
    await waitFor('the run lock', runLockHolder);
    const second = await invoke({ views: ['slow'] }, skip());
    const first = await holder;

    expect(first.report).toMatchObject({ status: 'succeeded' });
    expect(second.error).toBeUndefined();
    expect(second.report).toMatchObject({ status: 'succeeded', lock: 'acquired' });
    // The second refresh of slow (1 s) waited for the first to end, then ran its full second.
    expect(endOf(second.report!, 'public.slow')).toBeGreaterThanOrEqual(endOf(first.report!, 'public.slow') + 900);
  });

  test('a run skipped for the lock emits the RunsSkippedByLock metric, per refresh function', async () => {
    await slowFor(1);
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'sales-refresh';
    try {
      const holder = invoke({ views: ['slow'] }, skip());
      await waitFor('the run lock', runLockHolder);
      const second = await invoke({ views: ['slow'] }, skip());
      const first = await holder;

      expect(second.report).toMatchObject({ status: 'skipped' });
      const skipped = logLines(second.output).find((line) => 'RunsSkippedByLock' in line);
      expect(skipped).toMatchObject({ RunsSkippedByLock: 1, FunctionName: 'sales-refresh', service: 'itc-orchestrator-refresh' });
      expect(skipped?._aws).toMatchObject({
        CloudWatchMetrics: [{ Namespace: 'ItcOrchestrator', Dimensions: [expect.arrayContaining(['service', 'FunctionName'])] }],
      });
      // The first run's output also holds the second's, which it overlapped; the run that refreshed emits 0.
      expect(logLines(first.output).filter((line) => 'RunsSkippedByLock' in line).map((line) => line.RunsSkippedByLock).sort()).toEqual([0, 1]);
    } finally {
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    }
  });

  test('a lock wait cancelled by an administrator fails the run as cancelled, not as skipped', async () => {
    await slowFor(2);
    const holder = invoke({ views: ['slow'] }, env);
    await waitFor('the run lock', runLockHolder);
    const waiter = invoke({ views: ['slow'] }, env);
    const waitingPid = await waitFor('a run waiting for the lock', async () => (await runSql<{ pid: number }>(db, `
      SELECT pid FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND NOT granted`))[0]?.pid);
    await runSql(db, 'SELECT pg_catalog.pg_cancel_backend($1)', [waitingPid]);
    const { error, report } = await waiter;
    await holder;

    expect(report).toBeUndefined();
    expect(error?.name).toBe(RefreshErrors.CANCELLED);
    expect(error?.message).toMatch(/cancelled by an administrator/);
  });
});
