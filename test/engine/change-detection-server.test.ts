import type { ClientConfig } from 'pg';
import { invoke, localModeEnv, sleep } from './support/refresh';
import { runSql } from '../../local/pg';
import { PostgresServer, startPostgres } from '../../local/postgres';
import { RefreshEnv, RefreshReport } from '../../src/shared/contract';

/**
 * Change detection across what resets the statistics or puts another server in place: each case needs a server of
 * its own to restart, crash or fail over. Every case ends with every view refreshed once, the reason named, and
 * nothing the run after.
 */
describe('change detection across restarts, crashes and failover', () => {
  let server: PostgresServer;
  let db: ClientConfig;

  beforeAll(async () => {
    server = await startPostgres();
    db = await server.createDatabase('detect');
    await runSql(db, `
      CREATE TABLE t1 (id int); CREATE TABLE t2 (id int);
      INSERT INTO t1 SELECT generate_series(1, 10); INSERT INTO t2 SELECT generate_series(1, 10);
      CREATE MATERIALIZED VIEW mv1 AS SELECT count(*)::int AS n FROM t1;
      CREATE MATERIALIZED VIEW mv2 AS SELECT count(*)::int AS n FROM t2;
    `);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  const ALL = ['public.mv1', 'public.mv2'];

  async function run(target: ClientConfig = db): Promise<RefreshReport> {
    const { report, error } = await invoke({}, { ...localModeEnv(target), [RefreshEnv.DETECT_CHANGES]: 'true' });
    if (error) throw error;
    return report!;
  }

  const refreshed = (report: RefreshReport) => report.views.filter((view) => view.status === 'refreshed').map((view) => view.view).sort();

  /** A run that leaves every view with a current baseline, checked by a run that then refreshes nothing. */
  async function settle(target: ClientConfig = db): Promise<void> {
    await run(target);
    expect(refreshed(await run(target))).toEqual([]);
  }

  async function accepting(target: ClientConfig): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        await runSql(target, 'SELECT 1');
        return;
      } catch (error) {
        if (tries > 100) throw error;
        await sleep(100);
      }
    }
  }

  test('a clean restart refreshes everything once, naming the restart', async () => {
    await settle();
    await server.restart('fast');
    const report = await run();
    expect(refreshed(report)).toEqual(ALL);
    expect(report.selection.changes!.fullRefreshReason).toMatch(/pg_postmaster_start_time\(\) changed/);
    expect(refreshed(await run())).toEqual([]);
  }, 60_000);

  test('an immediate shutdown (a crash) refreshes everything once', async () => {
    await settle();
    await runSql(db, 'INSERT INTO t1 VALUES (11)');
    await server.restart('immediate');
    const report = await run();
    expect(refreshed(report)).toEqual(ALL);
    expect(report.selection.changes!.fullRefreshReason).toBeDefined();
    expect(refreshed(await run())).toEqual([]);
  }, 60_000);

  test('a backend killed with SIGKILL (the server restarts its processes, not itself) refreshes everything once', async () => {
    await settle();
    const [{ pid }] = await runSql<{ pid: number }>(db, 'SELECT pg_backend_pid() AS pid');
    const victim = runSql(db, 'SELECT pg_sleep(30)').catch(() => undefined);
    await sleep(200);
    const [{ victimPid }] = await runSql<{ victimPid: number }>(db,
      "SELECT pid AS \"victimPid\" FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND pid <> $1", [pid]);
    process.kill(victimPid, 'SIGKILL');
    await victim;
    await sleep(500);
    await accepting(db);
    const report = await run();
    expect(refreshed(report)).toEqual(ALL);
    expect(report.selection.changes!.fullRefreshReason).toMatch(/pg_stat_bgwriter\.stats_reset changed/);
    expect(refreshed(await run())).toEqual([]);
  }, 60_000);

  test('a promoted physical standby refreshes everything once, although its counters climb back to the baseline', async () => {
    const standby = await server.startStandby();
    try {
      await settle();
      await runSql(db, 'INSERT INTO t1 SELECT generate_series(100, 106)');
      const standbyDb = standby.config('detect');
      for (let tries = 0; (await runSql<{ n: number }>(standbyDb, 'SELECT count(*)::int AS n FROM t1'))[0].n !== 18; tries++) {
        if (tries > 100) throw new Error('the standby did not replay the inserts');
        await sleep(100);
      }
      await runSql(standby.config(), 'SELECT pg_promote()');
      await accepting(standbyDb);
      const report = await run(standbyDb);
      expect(refreshed(report)).toEqual(ALL);
      expect(report.selection.changes!.fullRefreshReason).toMatch(/pg_postmaster_start_time\(\) changed/);
      expect(await runSql(standbyDb, 'SELECT n FROM mv1')).toEqual([{ n: 18 }]);
      expect(refreshed(await run(standbyDb))).toEqual([]);
    } finally {
      await standby.stop();
    }
  }, 90_000);
});
