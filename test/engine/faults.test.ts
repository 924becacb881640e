import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { SLOW_FUNCTION_SQL, endOf, invoke, loggedReport, sleep, startOf, viewOf } from './support/refresh';
import { connect, libpqEnvironment, runSql } from '../../local/pg';
import { OverlapPolicy, RefreshEnv, RefreshErrors, RefreshReport } from '../../src/shared/contract';

/**
 * Overlapping runs, timeouts, failures, retries and a backend killed mid-refresh, against the real server
 * and through the bundled handler.
 */
describe('faults', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('refresh_faults');
    env = libpqEnvironment(db);
    await runSql(db, `
      ${SLOW_FUNCTION_SQL}
      CREATE TABLE facts (id int PRIMARY KEY, v int NOT NULL);
      INSERT INTO facts VALUES (1, 10), (2, 20);
      CREATE MATERIALIZED VIEW slow AS SELECT f.id, f.v FROM facts f CROSS JOIN (SELECT pause('slow')) p;
      CREATE MATERIALIZED VIEW slow_child AS SELECT count(*)::int AS n FROM slow;
      CREATE MATERIALIZED VIEW fragile AS SELECT id, v / divisor('fragile') AS q FROM facts;
      CREATE VIEW fragile_view AS SELECT * FROM fragile;
      CREATE MATERIALIZED VIEW fragile_child AS SELECT count(*)::int AS n FROM fragile_view;
      CREATE MATERIALIZED VIEW fragile_grandchild AS SELECT n FROM fragile_child;
      CREATE MATERIALIZED VIEW sturdy AS SELECT count(*)::int AS n FROM facts;
      CREATE MATERIALIZED VIEW guarded AS SELECT count(*)::int AS n FROM facts;
      -- flaky raises the SQLSTATE in flaky_plan on its first "failures" calls. The call counter is a
      -- sequence, which a failed refresh does not roll back.
      CREATE TABLE flaky_plan (errcode text NOT NULL, failures int NOT NULL);
      CREATE SEQUENCE flaky_calls;
      CREATE FUNCTION flaky() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        planned record;
      BEGIN
        SELECT * INTO planned FROM public.flaky_plan;
        IF FOUND AND nextval('public.flaky_calls') <= planned.failures THEN
          RAISE EXCEPTION 'injected failure' USING ERRCODE = planned.errcode;
        END IF;
        RETURN 0;
      END $$;
      CREATE MATERIALIZED VIEW flaky_view AS SELECT count(*)::int AS n FROM facts CROSS JOIN (SELECT flaky()) p;
    `);
  });

  async function knob(tag: string, values: { seconds?: number; divisor?: number }) {
    await runSql(db, `
      INSERT INTO knobs (tag, seconds, divisor) VALUES ($1, $2, $3)
      ON CONFLICT (tag) DO UPDATE SET seconds = $2, divisor = $3`, [tag, values.seconds ?? 0, values.divisor ?? 1]);
  }

  let nextId = 100;
  /** Adds a fact, so a refreshed view differs from a stale one. Returns the new row count. */
  async function addFact(): Promise<number> {
    await runSql(db, 'INSERT INTO facts VALUES ($1, 1)', [nextId++]);
    const [{ n }] = await runSql<{ n: number }>(db, 'SELECT count(*)::int AS n FROM facts');
    return n;
  }

  const rows = async (view: string) => (await runSql<{ n: number }>(db, `SELECT count(*)::int AS n FROM ${view}`))[0].n;

  afterEach(async () => {
    await runSql(db, 'DELETE FROM knobs; DELETE FROM flaky_plan');
  });

  describe('overlapping runs', () => {
    test('under SKIP, of two runs started at once exactly one refreshes; the other reports it was skipped', async () => {
      await knob('slow', { seconds: 0.8 });
      const settings = { ...env, [RefreshEnv.OVERLAP_POLICY]: OverlapPolicy.SKIP };
      const runs = await Promise.all([invoke({ views: ['slow'] }, settings), invoke({ views: ['slow'] }, settings)]);

      expect(runs.map((run) => run.error)).toEqual([undefined, undefined]);
      const reports = runs.map((run) => run.report!);
      const refreshed = reports.filter((report) => report.status === 'succeeded');
      const skipped = reports.filter((report) => report.status === 'skipped');
      expect(refreshed).toHaveLength(1);
      expect(skipped).toHaveLength(1);
      expect(refreshed[0]).toMatchObject({ lock: 'acquired', totals: { refreshed: 1, skipped: 0 } });
      expect(skipped[0]).toMatchObject({ lock: 'not-acquired', totals: { selected: 1, refreshed: 0, skipped: 1 } });
      expect(skipped[0].views[0]).toMatchObject({
        view: 'public.slow',
        status: 'skipped',
        reason: expect.stringContaining('another refresh run of the same views holds their run lock (overlap policy skip)'),
      });
    });

    test('under WAIT, the second run waits for the first, then refreshes, and says it waited', async () => {
      await knob('slow', { seconds: 0.6 });
      const runs = await Promise.all([invoke({ views: ['slow'] }, env), invoke({ views: ['slow'] }, env)]);

      const reports = runs.map((run) => run.report!);
      expect(reports.map((report) => report.lock).sort()).toEqual(['acquired', 'acquired-after-wait']);
      const first = reports.find((report) => report.lock === 'acquired')!;
      const second = reports.find((report) => report.lock === 'acquired-after-wait')!;
      expect(second.status).toBe('succeeded');
      expect(startOf(second, 'public.slow')).toBeGreaterThanOrEqual(endOf(first, 'public.slow'));
    });

    test('under WAIT, the wait ends at its bound and the run is reported as skipped', async () => {
      await knob('slow', { seconds: 1.5 });
      const holder = invoke({ views: ['slow'] }, env);
      await sleep(300);
      const waiter = await invoke({ views: ['slow'] }, { ...env, [RefreshEnv.LOCK_WAIT_MS]: '200' });
      await holder;

      expect(waiter.report).toMatchObject({ status: 'skipped', lock: 'not-acquired' });
      expect(waiter.elapsedMs).toBeLessThan(1_000);
    });

    test('the lock wait is bounded by the invocation\'s remaining time too', async () => {
      await knob('slow', { seconds: 2.5 });
      const holder = invoke({ views: ['slow'] }, env);
      await sleep(300);
      const waiter = await invoke({ views: ['slow'] }, env, 1_500);
      await holder;

      expect(waiter.report).toMatchObject({ status: 'skipped', lock: 'not-acquired' });
      expect(waiter.elapsedMs).toBeLessThan(1_500);
    });

    test('the lock is per database: a run on another database of the same server is not held up', async () => {
      const otherDb = await createTestDatabase('refresh_faults_other');
      await runSql(otherDb, 'CREATE MATERIALIZED VIEW lone AS SELECT 1 AS x');
      await knob('slow', { seconds: 1.5 });
      const holder = invoke({ views: ['slow'] }, env);
      await sleep(300);

      const other = await invoke({ views: ['lone'] }, { ...libpqEnvironment(otherDb), [RefreshEnv.OVERLAP_POLICY]: OverlapPolicy.SKIP });
      const otherDone = Date.now();
      const held = await holder;

      expect(other.report).toMatchObject({ status: 'succeeded', lock: 'acquired', totals: { refreshed: 1 } });
      expect(held.report).toMatchObject({ status: 'succeeded', lock: 'acquired' });
      // The first run still held its database's lock when the other run finished.
      expect(endOf(held.report!, 'public.slow')).toBeGreaterThan(otherDone);
    });

    test('the lock is free again after a run, failed or not', async () => {
      await knob('fragile', { divisor: 0 });
      expect((await invoke({ views: ['fragile'] }, env)).error?.name).toBe(RefreshErrors.VIEWS_FAILED);
      await knob('fragile', { divisor: 1 });
      expect((await invoke({ views: ['fragile'] }, env)).report?.lock).toBe('acquired');
    });
  });

  describe('failures', () => {
    test('a failed view keeps its contents, its dependents are skipped, independent views go on, the error names them', async () => {
      await knob('fragile', { divisor: 0 });
      const [{ n: childBefore }] = await runSql<{ n: number }>(db, 'SELECT n FROM fragile_child');
      const fragileBefore = await rows('fragile');
      const facts = await addFact();

      const { error, report, output } = await invoke({ views: ['fragile', 'fragile_child', 'fragile_grandchild', 'sturdy'] }, env);

      expect(report).toBeUndefined();
      expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
      expect(error?.message).toMatch(/^3 of 4 materialized views were not refreshed \(1 failed, 2 skipped, 1 refreshed\): /);
      expect(error?.message).toContain('public.fragile failed after 1 attempt(s): 22012 division by zero; the view keeps its previous contents');
      expect(error?.message).toContain('public.fragile_child skipped: depends on public.fragile, which was not refreshed');
      expect(error?.message).toContain('public.fragile_grandchild skipped: depends on public.fragile_child, which was not refreshed');
      const logged = loggedReport(output);
      expect(viewOf(logged, 'public.sturdy')).toMatchObject({ status: 'refreshed' });
      expect(viewOf(logged, 'public.fragile_child')).toMatchObject({ status: 'skipped', attempts: 0 });
      expect(logged.totals).toEqual({ selected: 4, refreshed: 1, failed: 1, skipped: 2 });

      expect(await runSql(db, 'SELECT n FROM sturdy')).toEqual([{ n: facts }]);
      expect(await rows('fragile')).toBe(fragileBefore);
      expect(await runSql(db, 'SELECT n FROM fragile_child')).toEqual([{ n: childBefore }]);

      await knob('fragile', { divisor: 1 });
      const retry = await invoke({ views: ['fragile', 'fragile_child', 'fragile_grandchild', 'sturdy'] }, env);
      expect(retry.report!.totals.refreshed).toBe(4);
      expect(await runSql(db, 'SELECT n FROM fragile_grandchild')).toEqual([{ n: facts }]);
    });

    test('a lock timeout is retried with backoff, and the view is refreshed once the lock is free', async () => {
      const facts = await addFact();
      // An open reader holds ACCESS SHARE, which a plain REFRESH (ACCESS EXCLUSIVE) must wait for.
      const locker = await connect(db);
      await locker.query('BEGIN; SELECT * FROM guarded');
      const release = sleep(700).then(() => locker.query('COMMIT')).finally(() => locker.end());

      const { report, error } = await invoke({ views: ['guarded'] }, {
        ...env,
        [RefreshEnv.LOCK_TIMEOUT_MS]: '200',
        [RefreshEnv.MAX_ATTEMPTS]: '6',
      });
      await release;

      expect(error).toBeUndefined();
      expect(viewOf(report!, 'public.guarded').attempts).toBeGreaterThanOrEqual(2);
      expect(await runSql(db, 'SELECT n FROM guarded')).toEqual([{ n: facts }]);
    });

    test('with a single attempt, a lock timeout fails the view', async () => {
      const locker = await connect(db);
      await locker.query('BEGIN; SELECT * FROM guarded');
      try {
        const { error } = await invoke({ views: ['guarded'] }, { ...env, [RefreshEnv.LOCK_TIMEOUT_MS]: '200', [RefreshEnv.MAX_ATTEMPTS]: '1' });
        expect(error?.message).toContain('public.guarded failed after 1 attempt(s): 55P03 canceling statement due to lock timeout');
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
      }
    });

    /** The next `failures` refreshes of flaky_view fail with `errcode`. Returns how to count the attempts since. */
    async function injectFailures(errcode: string, failures: number): Promise<() => Promise<number>> {
      await runSql(db, 'INSERT INTO flaky_plan VALUES ($1, $2)', [errcode, failures]);
      await runSql(db, "SELECT setval('flaky_calls', 1, false)");
      return async () => (await runSql<{ calls: number }>(db, 'SELECT CASE WHEN is_called THEN last_value ELSE 0 END::int AS calls FROM flaky_calls'))[0].calls;
    }

    test.each([
      ['a serialization failure', '40001'],
      ['a deadlock', '40P01'],
    ])('%s is retried on the same view, and the view is refreshed', async (_case, errcode) => {
      const attempts = await injectFailures(errcode, 2);
      const facts = await addFact();

      const { report, error } = await invoke({ views: ['flaky_view'] }, { ...env, [RefreshEnv.MAX_ATTEMPTS]: '3' });

      expect(error).toBeUndefined();
      expect(viewOf(report!, 'public.flaky_view')).toMatchObject({ status: 'refreshed', attempts: 3 });
      expect(await attempts()).toBe(3);
      expect(await runSql(db, 'SELECT n FROM flaky_view')).toEqual([{ n: facts }]);
    });

    test('retries are bounded by the attempts setting and spaced by a growing backoff', async () => {
      const attempts = await injectFailures('40001', 100);
      const before = await rows('flaky_view');
      await addFact();

      const { error, output } = await invoke({ views: ['flaky_view'] }, { ...env, [RefreshEnv.MAX_ATTEMPTS]: '3' });

      expect(error?.message).toContain('public.flaky_view failed after 3 attempt(s): 40001 injected failure; the view keeps its previous contents');
      expect(await attempts()).toBe(3);
      // The failures are instant: the time is the backoff, at least 100 ms after the first attempt and 200 ms after the second.
      expect(viewOf(loggedReport(output), 'public.flaky_view').durationMs).toBeGreaterThanOrEqual(300);
      expect(await rows('flaky_view')).toBe(before);
    });

    test('an error that is not transient is not retried', async () => {
      const attempts = await injectFailures('42501', 100);

      const { error } = await invoke({ views: ['flaky_view'] }, { ...env, [RefreshEnv.MAX_ATTEMPTS]: '3' });

      expect(error?.message).toContain('public.flaky_view failed after 1 attempt(s): 42501 injected failure');
      expect(await attempts()).toBe(1);
    });
  });

  describe('timeouts', () => {
    test('a refresh is stopped before the invocation\'s time runs out; views not started are skipped', async () => {
      await knob('slow', { seconds: 30 });
      const before = await rows('slow');
      await addFact();

      const { error, output, elapsedMs } = await invoke({ views: ['slow', 'slow_child', 'sturdy'] }, { ...env, [RefreshEnv.CONCURRENCY]: '1' }, 2_500);

      // The handler reported before the (fake) Lambda deadline.
      expect(elapsedMs).toBeLessThan(2_500);
      expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
      const logged = loggedReport(output);
      expect(viewOf(logged, 'public.slow')).toMatchObject({
        status: 'failed',
        reason: expect.stringMatching(/^stopped after \d+ ms because the invocation was running out of time; the view keeps its previous contents \(57014/),
      });
      expect(viewOf(logged, 'public.slow_child')).toMatchObject({ status: 'skipped', reason: 'depends on public.slow, which was not refreshed' });
      expect(viewOf(logged, 'public.sturdy')).toMatchObject({ status: 'skipped', reason: 'not started: the invocation ran out of time' });
      expect(await rows('slow')).toBe(before);
    });

    test('a run out of time names the views it stopped and never started, and points to RefreshCompute.fargate()', async () => {
      await knob('slow', { seconds: 30 });

      const { error } = await invoke({ views: ['slow', 'slow_child', 'sturdy'] }, { ...env, [RefreshEnv.CONCURRENCY]: '1' }, 2_500);

      expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
      expect(error?.message).toContain(
        '3 of 3 materialized views were not refreshed (1 failed, 2 skipped, 0 refreshed). '
          + 'The run ran out of time (stopped: public.slow; never started: public.sturdy, public.slow_child). '
          + 'A Lambda invocation lasts at most 15 minutes: run the refresh as an ECS Fargate task with RefreshCompute.fargate()',
      );
    });

    test('on Fargate, a run out of time points to the run timeout instead', async () => {
      await knob('slow', { seconds: 30 });

      const { error } = await invoke({ views: ['slow', 'sturdy'] }, { ...env, [RefreshEnv.CONCURRENCY]: '1', [RefreshEnv.COMPUTE]: 'fargate' }, 2_500);

      expect(error?.message).toContain('The run ran out of time (stopped: public.slow; never started: public.sturdy). '
        + 'Raise `runTimeout` of RefreshCompute.fargate() so the views fit in one run');
      expect(error?.message).not.toContain('15 minutes');
    });

    test('a view stopped by its own statement_timeout is not reported as out of time', async () => {
      await knob('slow', { seconds: 5 });

      const { error } = await invoke({ views: ['slow'] }, { ...env, [RefreshEnv.STATEMENT_TIMEOUT_MS]: '300' });

      expect(error?.message).toContain('1 of 1 materialized views were not refreshed (1 failed, 0 skipped, 0 refreshed): public.slow failed');
      expect(error?.message).not.toContain('ran out of time');
    });

    test('the configured statement_timeout applies per refresh when time allows', async () => {
      await knob('slow', { seconds: 5 });
      const { error, elapsedMs } = await invoke({ views: ['slow'] }, { ...env, [RefreshEnv.STATEMENT_TIMEOUT_MS]: '300' });

      expect(error?.message).toContain('public.slow failed after 1 attempt(s): exceeded statement_timeout of 300 ms');
      expect(elapsedMs).toBeLessThan(3_000);
    });
  });

  describe('a backend terminated mid-refresh', () => {
    /** Terminates the backend running the view's refresh as soon as it shows up. */
    async function terminateRefreshOf(view: string): Promise<number> {
      for (let i = 0; i < 250; i++) {
        // The subquery is a fence (OFFSET 0): only the matching backends reach pg_terminate_backend.
        const killed = await runSql<{ pid: number; terminated: boolean }>(db, `
          SELECT pid, pg_terminate_backend(pid) AS terminated FROM (
            SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'itc-orchestrator-refresh' AND state = 'active'
               AND query = 'REFRESH MATERIALIZED VIEW "public"."' || $1 || '"'
            OFFSET 0) AS refreshing`, [view]);
        if (killed.some((row) => row.terminated)) return killed.length;
        await sleep(20);
      }
      throw new Error(`No refresh of ${view} to terminate`);
    }

    test('the view keeps its previous contents, the report says so, and the next run succeeds', async () => {
      await knob('slow', { seconds: 1 });
      const before = await rows('slow');
      const facts = await addFact();

      const run = invoke({ views: ['slow', 'slow_child'] }, { ...env, [RefreshEnv.MAX_ATTEMPTS]: '1' });
      expect(await terminateRefreshOf('slow')).toBe(1);
      const { error, output } = await run;

      expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
      expect(error?.message).toMatch(/public\.slow failed after 1 attempt\(s\): 57P01 terminating connection due to administrator command; the view keeps its previous contents/);
      const logged: RefreshReport = loggedReport(output);
      expect(viewOf(logged, 'public.slow')).toMatchObject({ status: 'failed', attempts: 1 });
      expect(viewOf(logged, 'public.slow_child').status).toBe('skipped');
      expect(await rows('slow')).toBe(before);

      await knob('slow', { seconds: 0 });
      const next = await invoke({ views: ['slow', 'slow_child'] }, env);
      expect(next.report).toMatchObject({ status: 'succeeded', lock: 'acquired', totals: { refreshed: 2 } });
      expect(await rows('slow')).toBe(facts);
    });

    test('with retries, the refresh is tried again on a new connection and succeeds', async () => {
      await knob('slow', { seconds: 0.6 });
      const facts = await addFact();

      const run = invoke({ views: ['slow'] }, { ...env, [RefreshEnv.MAX_ATTEMPTS]: '3' });
      await terminateRefreshOf('slow');
      const { report, error } = await run;

      expect(error).toBeUndefined();
      expect(viewOf(report!, 'public.slow')).toMatchObject({ status: 'refreshed', attempts: 2 });
      expect(await rows('slow')).toBe(facts);
    });
  });
});
