import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { SLOW_FUNCTION_SQL, invoke, localModeEnv, logLines, refreshingBackend, sleep } from './support/refresh';
import { runSql } from '../../local/pg';
import { RefreshEnv, RefreshErrors } from '../../src/shared/contract';

/**
 * The session that holds the run lock: its transaction outlives `transaction_timeout`, holds no snapshot under a
 * stricter default isolation, and a session that goes silent is noticed within seconds.
 */
describe('the run lock session', () => {
  let db: ClientConfig;
  let env: Record<string, string>;
  const stopped: number[] = [];
  const VIEWS = ['v1', 'v2', 'v3', 'v4', 'v5', 'v6'];

  beforeAll(async () => {
    db = await createTestDatabase('lock_session');
    env = { ...localModeEnv(db), [RefreshEnv.CONCURRENCY]: '1' };
    await runSql(db, `
      ${SLOW_FUNCTION_SQL}
      CREATE TABLE facts (id int PRIMARY KEY);
      INSERT INTO facts VALUES (1);
      CREATE TABLE junk (id int);
      ${VIEWS.map((view) => `CREATE MATERIALIZED VIEW ${view} AS SELECT f.id FROM facts f CROSS JOIN (SELECT pause('slow')) p`).join(';\n')};
    `);
  });

  afterEach(async () => {
    for (const pid of stopped.splice(0)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await runSql(db, 'DELETE FROM knobs');
    await runSql(db, `ALTER DATABASE "${db.database}" RESET ALL`);
  });

  async function slowFor(seconds: number) {
    await runSql(db, "INSERT INTO knobs (tag, seconds) VALUES ('slow', $1) ON CONFLICT (tag) DO UPDATE SET seconds = $1", [seconds]);
  }

  async function runLockHolder(): Promise<number> {
    for (let i = 0; i < 250; i++) {
      const rows = await runSql<{ pid: number }>(db, `
        SELECT pid FROM pg_catalog.pg_locks
        WHERE locktype = 'advisory' AND objsubid = 1 AND granted
          AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())`);
      if (rows.length > 0) return rows[0].pid;
      await sleep(20);
    }
    throw new Error('No run took the run lock');
  }

  test('transaction_timeout does not end the lock transaction: a run longer than it refreshes every view', async () => {
    await runSql(db, `ALTER DATABASE "${db.database}" SET transaction_timeout = '2500ms'`);
    await slowFor(0.8);
    const { report, error } = await invoke({ views: VIEWS.slice(0, 5) }, env);

    expect(error).toBeUndefined();
    expect(report).toMatchObject({ status: 'succeeded', totals: { refreshed: 5 } });
  });

  test('under a repeatable-read default the lock transaction holds no snapshot, so vacuum removes dead rows mid-run', async () => {
    await runSql(db, `ALTER DATABASE "${db.database}" SET default_transaction_isolation = 'repeatable read'`);
    await runSql(db, 'INSERT INTO junk SELECT generate_series(1, 20000)');
    await slowFor(1.5);
    const run = invoke({ views: ['v1', 'v2'] }, env);
    const lockPid = await runLockHolder();
    await sleep(300);
    await runSql(db, 'DELETE FROM junk');
    // Once v2's refresh runs, only the lock transaction can have a snapshot from before the delete.
    expect(await refreshingBackend(db, 'v2')).toBeDefined();
    await runSql(db, 'VACUUM junk');
    const [{ dead }] = await runSql<{ dead: number }>(db, "SELECT n_dead_tup::int AS dead FROM pg_catalog.pg_stat_user_tables WHERE relname = 'junk'");
    const [{ isolation }] = await runSql<{ isolation: string }>(db, `
      SELECT a.backend_xmin IS NULL AS isolation FROM pg_catalog.pg_stat_activity a WHERE a.pid = $1`, [lockPid]);
    const { error } = await run;

    expect(error).toBeUndefined();
    expect(dead).toBe(0);
    expect(isolation).toBe(true);
  });

  test('a lock session that goes silent is noticed within seconds, and no refresh starts after that', async () => {
    await slowFor(1);
    const started = Date.now();
    const run = invoke({ views: VIEWS }, env, 40_000);
    const lockPid = await runLockHolder();
    await sleep(1_200);
    process.kill(lockPid, 'SIGSTOP');
    stopped.push(lockPid);
    const stoppedAt = Date.now();
    const { error, output } = await run;
    const endedAt = Date.now();

    expect(error?.name).toBe(RefreshErrors.RUN_LOCK_LOST);
    expect(error?.message).toMatch(/lock session/);
    expect(endedAt - stoppedAt).toBeLessThan(10_000);
    // At most the refresh under way when it went silent, and the one after it, start after the stop.
    const startedAfter = logLines(output).filter((line) => line.message === 'Refresh started' && Date.parse(String(line.timestamp)) > stoppedAt + 6_000);
    expect(startedAfter).toEqual([]);
    expect(endedAt - started).toBeLessThan(20_000);
  });
});
