import type { Client, ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { CANARY_SQL, Invocation, invoke, localModeEnv, loggedReport, refreshingBackend, sleep } from './support/refresh';
import { connect, runSql } from '../../local/pg';
import { runLockKey } from '../../src/engine/run-lock';
import { RefreshEnv, RefreshErrors } from '../../src/shared/contract';


/**
 * A backend that stops answering, as behind a network blackhole (no reset, no reply): SIGSTOP on the server
 * process of the run's session. The tests run as root and the embedded server as its own user, so the test can
 * signal it. Whatever the run waits for, it gives up before the invocation's deadline and says why.
 */
describe('a silent server', () => {
  let db: ClientConfig;
  let env: Record<string, string>;
  const stopped: number[] = [];
  const sessions: Client[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('refresh_silent');
    env = localModeEnv(db);
    await runSql(db, CANARY_SQL);
  });

  afterEach(async () => {
    for (const pid of stopped.splice(0)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await Promise.all(sessions.splice(0).map((session) => session.end().catch(() => undefined)));
  });

  /** Waits until the run's session shows `wait_event_type = 'Lock'` on a statement matching `query`, then stops its backend. */
  async function stopWhenWaiting(query: string): Promise<number> {
    for (let i = 0; i < 200; i++) {
      const rows = await runSql<{ pid: number }>(db, `
        SELECT pid FROM pg_catalog.pg_stat_activity
         WHERE datname = current_database() AND application_name = 'itc-orchestrator-refresh'
           AND wait_event_type = 'Lock' AND query LIKE $1`, [query]);
      if (rows.length > 0) {
        process.kill(rows[0].pid, 'SIGSTOP');
        stopped.push(rows[0].pid);
        return rows[0].pid;
      }
      await sleep(20);
    }
    throw new Error(`The run never waited on ${query}`);
  }

  /** The invocation's outcome, or 'hung' if it is still going well past the invocation's deadline. */
  async function outcome(run: Promise<Invocation>, remainingMs: number): Promise<Invocation | 'hung'> {
    return Promise.race([run, sleep(remainingMs + 3_000).then(() => 'hung' as const)]);
  }

  test('during the run lock wait, the run gives up before its deadline with a transient error', async () => {
    const holder = await connect(db);
    sessions.push(holder);
    // Another run of the same selection holds its run lock.
    const [{ oid }] = await runSql<{ oid: number }>(db, "SELECT 'canary'::regclass::oid AS oid");
    await holder.query('SELECT pg_catalog.pg_advisory_lock($1::int8)', [runLockKey([Number(oid)])]);

    const remainingMs = 5_000;
    const run = invoke({ views: ['canary'] }, env, remainingMs);
    await stopWhenWaiting('%pg_advisory_xact_lock%');
    const result = await outcome(run, remainingMs);

    expect(result).not.toBe('hung');
    const { error, elapsedMs } = result as Invocation;
    expect(elapsedMs).toBeLessThan(remainingMs);
    expect(error?.name).toBe(RefreshErrors.TRANSIENT);
    expect(error?.message).toMatch(/PostgreSQL stopped answering while waiting for the run lock/);
  });

  test('during a refresh, the view fails and the run still reports before its deadline', async () => {
    await runSql(db, `
      CREATE TABLE IF NOT EXISTS knobs (seconds float8 NOT NULL);
      CREATE MATERIALIZED VIEW IF NOT EXISTS slow AS SELECT pg_sleep(coalesce((SELECT max(seconds) FROM knobs), 0)) IS NULL AS slept;
      INSERT INTO knobs VALUES (3);
    `);
    try {
      const remainingMs = 5_000;
      const run = invoke({ views: ['slow'] }, env, remainingMs);
      const pid = await refreshingBackend(db, 'slow');
      process.kill(pid!, 'SIGSTOP');
      stopped.push(pid!);
      const result = await outcome(run, remainingMs);

      expect(result).not.toBe('hung');
      const { error, elapsedMs, output } = result as Invocation;
      expect(elapsedMs).toBeLessThan(remainingMs);
      expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
      expect(loggedReport(output).views[0]).toMatchObject({ view: 'public.slow', status: 'failed' });
    } finally {
      await runSql(db, 'DELETE FROM knobs');
    }
  });

  test('while opening a refresh connection, the view fails at the deadline and the run still reports in time', async () => {
    // A login that never completes in time: the refresh function's new connections wait in a login trigger.
    await runSql(db, `
      CREATE TABLE login_delay (seconds float8 NOT NULL);
      CREATE FUNCTION delay_login() RETURNS event_trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('application_name') = 'itc-orchestrator-refresh' THEN
          PERFORM pg_sleep(coalesce((SELECT max(seconds) FROM public.login_delay), 0));
        END IF;
      END $$;
      CREATE EVENT TRIGGER delay_login ON login EXECUTE FUNCTION delay_login();
      CREATE TABLE gate_knob (seconds float8 NOT NULL);
      INSERT INTO gate_knob VALUES (2.5);
      CREATE MATERIALIZED VIEW gate AS SELECT pg_sleep(coalesce((SELECT max(seconds) FROM gate_knob), 0)) IS NULL AS slept;
      CREATE MATERIALIZED VIEW after_gate_1 AS SELECT slept FROM gate;
      CREATE MATERIALIZED VIEW after_gate_2 AS SELECT slept FROM gate;
    `);
    try {
      const remainingMs = 6_000;
      // gate refreshes on the pool's first connection; then its two dependents need a second one.
      const run = invoke({ views: ['gate', 'after_gate_1', 'after_gate_2'] }, { ...env, [RefreshEnv.CONCURRENCY]: '2' }, remainingMs);
      await refreshingBackend(db, 'gate');
      await runSql(db, 'INSERT INTO login_delay VALUES (10)');
      const result = await outcome(run, remainingMs);

      expect(result).not.toBe('hung');
      const { error, elapsedMs, output } = result as Invocation;
      expect(elapsedMs).toBeLessThan(remainingMs);
      expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
      const views = loggedReport(output).views;
      expect(views.filter((view) => view.status === 'refreshed').map((view) => view.view).sort()).toEqual(expect.arrayContaining(['public.gate']));
      expect(views.find((view) => view.status === 'failed')?.reason).toMatch(/did not complete a new connection/);
    } finally {
      await runSql(db, 'DROP EVENT TRIGGER delay_login; DELETE FROM login_delay');
    }
  });

  test('during a catalog query, the run gives up before its deadline with a transient error', async () => {
    // The dependency query reads pg_depend; holding it locked keeps that query waiting long enough to stop it.
    const blocker = await connect(db);
    sessions.push(blocker);
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE pg_catalog.pg_depend IN ACCESS EXCLUSIVE MODE');

    const remainingMs = 5_000;
    const run = invoke({ views: ['canary'] }, env, remainingMs);
    await stopWhenWaiting('%pg_depend%');
    await blocker.query('COMMIT');
    const result = await outcome(run, remainingMs);

    expect(result).not.toBe('hung');
    const { error, elapsedMs } = result as Invocation;
    expect(elapsedMs).toBeLessThan(remainingMs);
    expect(error?.name).toBe(RefreshErrors.TRANSIENT);
    expect(error?.message).toMatch(/PostgreSQL stopped answering while reading the catalog/);
  });
});
