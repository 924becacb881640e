import type { Client, ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { SLOW_FUNCTION_SQL, invoke, localModeEnv, loggedReport, refreshingBackend, sleep } from './support/refresh';
import { connect, runSql } from '../../local/pg';
import { RefreshErrors } from '../../src/shared/contract';

/** Each way a run can end without refreshing is named for what happened, not as a connection failure. */
describe('error names', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('refresh_error_names');
    env = localModeEnv(db);
    await runSql(db, `
      ${SLOW_FUNCTION_SQL}
      CREATE TABLE facts (id int PRIMARY KEY);
      INSERT INTO facts VALUES (1), (2);
      CREATE MATERIALIZED VIEW slow AS SELECT f.id FROM facts f CROSS JOIN (SELECT pause('slow')) p;
      CREATE MATERIALIZED VIEW quick AS SELECT count(*)::int AS n FROM facts;
      CREATE SCHEMA hidden;
      CREATE MATERIALIZED VIEW hidden.secret_totals AS SELECT count(*)::int AS n FROM facts;
      CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw';
      GRANT SELECT ON facts TO outsider;
    `);
  });

  afterAll(async () => {
    await runSql(db, 'DELETE FROM knobs');
    await runSql(db, 'DROP OWNED BY outsider; DROP ROLE outsider').catch(() => undefined);
  });

  test('a permission denied while planning is a permission error that names the object, not a connection failure', async () => {
    const outsider = { ...env, PGUSER: 'outsider', PGPASSWORD: 'outsider-pw' };
    const { error } = await invoke({ views: ['hidden.secret_totals'] }, outsider);

    expect(error?.name).toBe(RefreshErrors.PERMISSION_DENIED);
    expect(error?.message).toMatch(/42501 permission denied for schema hidden/);
    expect(error?.message).toMatch(/outsider/);
  });

  test('a run started with too little time left is an out-of-time error and touches nothing', async () => {
    const { error, elapsedMs } = await invoke({ views: ['quick'] }, env, 150);

    expect(error?.name).toBe(RefreshErrors.OUT_OF_TIME);
    expect(error?.message).toMatch(/Nothing was refreshed: the invocation had \d+ ms left/);
    expect(elapsedMs).toBeLessThan(150);
  });

  /** Holds pg_depend locked, so the run's dependency query waits on it; returns the session holding the lock. */
  async function blockCatalog(): Promise<Client> {
    const blocker = await connect(db);
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE pg_catalog.pg_depend IN ACCESS EXCLUSIVE MODE');
    return blocker;
  }

  async function runBackendWaitingOnCatalog(): Promise<number> {
    for (let i = 0; i < 200; i++) {
      const rows = await runSql<{ pid: number }>(db, `
        SELECT pid FROM pg_catalog.pg_stat_activity
         WHERE datname = current_database() AND application_name = 'itc-orchestrator-refresh'
           AND wait_event_type = 'Lock' AND query LIKE '%pg_depend%'`);
      if (rows.length > 0) return rows[0].pid;
      await sleep(20);
    }
    throw new Error('The run never waited on its catalog query');
  }

  test('a catalog query cancelled by an administrator ends the run as cancelled, not as a connection failure', async () => {
    const blocker = await blockCatalog();
    try {
      const run = invoke({ views: ['quick'] }, env);
      await runSql(db, 'SELECT pg_catalog.pg_cancel_backend($1)', [await runBackendWaitingOnCatalog()]);
      const { error } = await run;

      expect(error?.name).toBe(RefreshErrors.CANCELLED);
      expect(error?.message).toMatch(/an administrator cancelled its statement \(pg_cancel_backend\): 57014 canceling statement due to user request/);
    } finally {
      await blocker.end();
    }
  });

  test('a run whose time runs out while it reads the catalog is an out-of-time error', async () => {
    const blocker = await blockCatalog();
    try {
      const { error, elapsedMs } = await invoke({ views: ['quick'] }, env, 2_000);

      expect(error?.name).toBe(RefreshErrors.OUT_OF_TIME);
      expect(error?.message).toMatch(/the invocation ran out of time: 57014 canceling statement due to statement timeout/);
      expect(elapsedMs).toBeLessThan(2_000);
    } finally {
      await blocker.end();
    }
  });

  test('a refresh cancelled by an administrator fails as cancelled, not as out of time, and is not retried', async () => {
    await runSql(db, "INSERT INTO knobs (tag, seconds) VALUES ('slow', 5) ON CONFLICT (tag) DO UPDATE SET seconds = 5");
    const run = invoke({ views: ['slow', 'quick'] }, env);
    const pid = await refreshingBackend(db, 'slow', 5_000);
    const cancelled = pid !== undefined
      && (await runSql<{ done: boolean }>(db, 'SELECT pg_catalog.pg_cancel_backend($1) AS done', [pid]))[0].done;
    expect(cancelled).toBe(true);
    const { error, output } = await run;
    await runSql(db, 'DELETE FROM knobs');

    expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
    const view = loggedReport(output).views.find((entry) => entry.view === 'public.slow')!;
    expect(view).toMatchObject({ status: 'failed', attempts: 1 });
    expect(view.reason).toMatch(/^cancelled by an administrator \(pg_cancel_backend\)/);
    expect(view.reason).not.toMatch(/running out of time/);
    expect(loggedReport(output).views.find((entry) => entry.view === 'public.quick')).toMatchObject({ status: 'refreshed' });
  });
});
