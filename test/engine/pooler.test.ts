import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { SLOW_FUNCTION_SQL, endOf, invoke, localModeEnv, sleep, startOf } from './support/refresh';
import { connect, runSql } from '../../local/pg';
import { Pgbouncer, PoolMode, startPgbouncer } from '../../local/pgbouncer';
import { OverlapPolicy, RefreshEnv, RefreshErrors } from '../../src/shared/contract';

/** Server connections pgbouncer keeps per database and user in these tests. */
const POOL_SIZE = 12;

/**
 * The refresh handler behind a real pgbouncer, in session and in transaction mode: runs refresh in order, the
 * run lock keeps out only a run of the same views and is never left behind, and no setting outlives a run.
 */
describe.each<PoolMode>(['session', 'transaction'])('behind pgbouncer in %s mode', (poolMode) => {
  let db: ClientConfig;
  let pooled: ClientConfig;
  let bouncer: Pgbouncer;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase(`pooler_${poolMode}`);
    await runSql(db, `
      ${SLOW_FUNCTION_SQL}
      CREATE TABLE facts (id int PRIMARY KEY);
      INSERT INTO facts VALUES (1), (2);
      CREATE MATERIALIZED VIEW slow AS SELECT f.id FROM facts f CROSS JOIN (SELECT pause('slow')) p;
      CREATE UNIQUE INDEX ON slow (id);
      CREATE MATERIALIZED VIEW slow_child AS SELECT count(*)::int AS n FROM slow;
      CREATE MATERIALIZED VIEW other AS SELECT count(*)::int AS n FROM facts;
    `);
    bouncer = await startPgbouncer({
      serverHost: String(db.host),
      serverPort: Number(db.port),
      user: String(db.user),
      password: String(db.password),
      poolMode,
      poolSize: POOL_SIZE,
    });
    pooled = { ...db, host: bouncer.host, port: bouncer.port };
    env = localModeEnv(pooled);
  });

  afterAll(async () => {
    await bouncer?.stop();
  });

  afterEach(async () => {
    await runSql(db, 'DELETE FROM knobs');
  });

  async function slowFor(seconds: number) {
    await runSql(db, `
      INSERT INTO knobs (tag, seconds) VALUES ('slow', $1) ON CONFLICT (tag) DO UPDATE SET seconds = $1`, [seconds]);
  }

  /** The settings of every server connection in the pool, as the next clients of the pooler would find them. */
  async function pooledSettings(): Promise<Array<Record<string, string>>> {
    const clients = await Promise.all(Array.from({ length: POOL_SIZE }, () => connect(pooled)));
    try {
      // Each client in a transaction holds its own server connection, so together they see them all.
      await Promise.all(clients.map((client) => client.query('BEGIN')));
      return await Promise.all(clients.map(async (client) => (await client.query(`
        SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout,
               current_setting('idle_in_transaction_session_timeout') AS idle_in_transaction_session_timeout`)).rows[0]));
    } finally {
      await Promise.all(clients.map((client) => client.query('ROLLBACK').then(() => client.end())));
    }
  }

  async function advisoryLocks(): Promise<number> {
    const [{ n }] = await runSql<{ n: number }>(db, "SELECT count(*)::int AS n FROM pg_catalog.pg_locks WHERE locktype = 'advisory'");
    return n;
  }

  test('a run refreshes its views in dependency order, both plain and CONCURRENTLY', async () => {
    await runSql(db, 'INSERT INTO facts VALUES (3)');
    const { report, error } = await invoke({ views: ['slow', 'slow_child', 'other'] }, env);
    await runSql(db, 'DELETE FROM facts WHERE id = 3');

    expect(error).toBeUndefined();
    expect(report).toMatchObject({ status: 'succeeded', lock: 'acquired', totals: { refreshed: 3 } });
    expect(report!.views.find((view) => view.view === 'public.slow')?.concurrently).toBe(true);
    expect(startOf(report!, 'public.slow_child')).toBeGreaterThanOrEqual(endOf(report!, 'public.slow'));
    expect(await runSql(db, 'SELECT n FROM slow_child')).toEqual([{ n: 3 }]);
  });

  test('no setting of a run is left on a pooled server connection, and no lock is left behind', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => invoke({ views: ['slow', 'slow_child', 'other'] }, {
      ...env,
      [RefreshEnv.STATEMENT_TIMEOUT_MS]: '98765',
      [RefreshEnv.LOCK_TIMEOUT_MS]: '4321',
    })));
    expect(runs.map((run) => run.error)).toEqual([undefined, undefined, undefined]);

    expect(await advisoryLocks()).toBe(0);
    const settings = await pooledSettings();
    expect(settings).toHaveLength(POOL_SIZE);
    for (const setting of settings) {
      expect(setting).toEqual({ statement_timeout: '0', lock_timeout: '0', idle_in_transaction_session_timeout: '0' });
    }
  });

  test('runs one after the other each get the lock: none is skipped for a lock no run holds', async () => {
    const outcomes = [];
    for (let i = 0; i < 4; i++) {
      const { report, error } = await invoke({ views: ['other'] }, { ...env, [RefreshEnv.OVERLAP_POLICY]: OverlapPolicy.SKIP });
      expect(error).toBeUndefined();
      outcomes.push(`${report!.status}/${report!.lock}`);
    }
    expect(outcomes).toEqual(Array(4).fill('succeeded/acquired'));
  });

  test('of two runs of the same views started at once under SKIP, exactly one refreshes; a run of other views is not held up', async () => {
    await slowFor(1);
    const skip = { ...env, [RefreshEnv.OVERLAP_POLICY]: OverlapPolicy.SKIP };
    const same = Promise.all([invoke({ views: ['slow'] }, skip), invoke({ views: ['slow'] }, skip)]);
    await sleep(300);
    const other = await invoke({ views: ['other'] }, skip);
    const reports = (await same).map((run) => run.report!);

    expect(reports.map((report) => report.status).sort()).toEqual(['skipped', 'succeeded']);
    expect(other.report).toMatchObject({ status: 'succeeded', lock: 'acquired' });
  });

  test('under WAIT, the second run of the same views waits for the first, then refreshes', async () => {
    await slowFor(0.6);
    const runs = await Promise.all([invoke({ views: ['slow'] }, env), invoke({ views: ['slow'] }, env)]);
    const reports = runs.map((run) => run.report!);

    expect(reports.map((report) => report.lock).sort()).toEqual(['acquired', 'acquired-after-wait']);
    const first = reports.find((report) => report.lock === 'acquired')!;
    const second = reports.find((report) => report.lock === 'acquired-after-wait')!;
    expect(startOf(second, 'public.slow')).toBeGreaterThanOrEqual(endOf(first, 'public.slow'));
  });

  test('a lock session ended on the server stops the run with RunLockLost', async () => {
    await slowFor(1);
    const run = invoke({ views: ['slow', 'slow_child'] }, { ...env, [RefreshEnv.CONCURRENCY]: '1' });
    let holder: number | undefined;
    for (let i = 0; i < 200 && holder === undefined; i++) {
      await sleep(25);
      holder = (await runSql<{ pid: number }>(db, `
        SELECT pid FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted`))[0]?.pid;
    }
    expect(holder).toBeDefined();
    await sleep(300);
    await runSql(db, 'SELECT pg_catalog.pg_terminate_backend($1)', [holder]);
    const { error } = await run;

    expect(error?.name).toBe(RefreshErrors.RUN_LOCK_LOST);
    expect(error?.message).toContain('public.slow_child skipped: not started: the run lock was lost');
  });
});
