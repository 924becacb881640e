import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { SLOW_FUNCTION_SQL, endOf, invoke, logLines, startOf, viewOf } from './support/refresh';
import { connect, libpqEnvironment, runSql } from '../../local/pg';
import { ConcurrentRefresh, RefreshEnv } from '../../src/shared/contract';

/**
 * Order, parallelism, selection and the CONCURRENTLY choice, through the bundled handler in local mode.
 */
describe('refresh order and parallelism', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('refresh_order');
    env = libpqEnvironment(db);
    await runSql(db, `
      ${SLOW_FUNCTION_SQL}
      CREATE TABLE sales (id int PRIMARY KEY, amount int NOT NULL);
      INSERT INTO sales VALUES (1, 10), (2, 20);
      -- base -> plain view -> top: top must wait for base although it never names it.
      CREATE MATERIALIZED VIEW base AS SELECT s.id, s.amount FROM sales s CROSS JOIN (SELECT pause('base')) p;
      CREATE VIEW doubled AS SELECT id, amount * 2 AS amount FROM base;
      CREATE MATERIALIZED VIEW top AS SELECT sum(amount) AS total FROM doubled;
      -- slow_a and the chain fast_b -> fast_c, independent of each other.
      CREATE MATERIALIZED VIEW slow_a AS SELECT 1 AS x FROM (SELECT pause('slow_a')) p;
      CREATE MATERIALIZED VIEW fast_b AS SELECT 1 AS x FROM (SELECT pause('fast_b')) p;
      CREATE MATERIALIZED VIEW fast_c AS SELECT x FROM fast_b;
      CREATE MATERIALIZED VIEW after_a AS SELECT x FROM slow_a;
      -- two equally slow, independent views
      CREATE MATERIALIZED VIEW twin_1 AS SELECT 1 AS x FROM (SELECT pause('twin')) p;
      CREATE MATERIALIZED VIEW twin_2 AS SELECT 1 AS x FROM (SELECT pause('twin')) p;
      CREATE MATERIALIZED VIEW twin_3 AS SELECT 1 AS x FROM (SELECT pause('twin')) p;
      CREATE SCHEMA "Sales Hub";
      CREATE MATERIALIZED VIEW "Sales Hub"."Daily Totals" AS SELECT count(*) AS n FROM sales;
      CREATE SCHEMA other;
      CREATE MATERIALIZED VIEW other.elsewhere AS SELECT count(*) AS n FROM sales;
    `);
  });

  async function setPause(tag: string, seconds: number) {
    await runSql(db, 'INSERT INTO knobs (tag, seconds) VALUES ($1, $2) ON CONFLICT (tag) DO UPDATE SET seconds = $2', [tag, seconds]);
  }

  test('a view reached through a plain view waits for the view it reads, and sees its new contents', async () => {
    await runSql(db, 'UPDATE sales SET amount = amount + 1');
    await setPause('base', 0.4);
    const { report, error } = await invoke({ views: ['top', 'public.base'] }, { ...env, [RefreshEnv.CONCURRENCY]: '4' });
    await setPause('base', 0);

    expect(error).toBeUndefined();
    // Plan order: dependencies first.
    expect(report!.views.map((view) => view.view)).toEqual(['public.base', 'public.top']);
    expect(startOf(report!, 'public.top')).toBeGreaterThanOrEqual(endOf(report!, 'public.base'));
    // (11 + 21) * 2: top was refreshed from the refreshed base, not from stale data.
    expect(await runSql(db, 'SELECT total::int FROM top')).toEqual([{ total: 64 }]);
  });

  test('a view starts as soon as its own dependencies finish, not when the whole level is done', async () => {
    await setPause('slow_a', 1);
    const { report, error } = await invoke(
      { views: ['slow_a', 'fast_b', 'fast_c', 'after_a'] },
      { ...env, [RefreshEnv.CONCURRENCY]: '2' },
    );
    await setPause('slow_a', 0);

    expect(error).toBeUndefined();
    expect(report!.views.every((view) => view.status === 'refreshed')).toBe(true);
    // Level by level, fast_c (level 1) would wait for slow_a (level 0); from the ready queue it runs beside it.
    expect(startOf(report!, 'public.fast_c')).toBeGreaterThanOrEqual(endOf(report!, 'public.fast_b'));
    expect(endOf(report!, 'public.fast_c')).toBeLessThan(endOf(report!, 'public.slow_a'));
    expect(startOf(report!, 'public.after_a')).toBeGreaterThanOrEqual(endOf(report!, 'public.slow_a'));
  });

  test('independent views overlap up to the concurrency, and run one at a time at concurrency 1', async () => {
    await setPause('twin', 0.4);
    const parallel = await invoke({ views: ['twin_1', 'twin_2'] }, { ...env, [RefreshEnv.CONCURRENCY]: '2' });
    const serial = await invoke({ views: ['twin_1', 'twin_2'] }, { ...env, [RefreshEnv.CONCURRENCY]: '1' });
    await setPause('twin', 0);

    expect(parallel.report!.concurrency).toBe(2);
    expect(startOf(parallel.report!, 'public.twin_2')).toBeLessThan(endOf(parallel.report!, 'public.twin_1'));
    expect(serial.report!.concurrency).toBe(1);
    const [first, second] = serial.report!.views.map((view) => view.view).sort((a, b) => startOf(serial.report!, a) - startOf(serial.report!, b));
    expect(startOf(serial.report!, second)).toBeGreaterThanOrEqual(endOf(serial.report!, first));
  });

  test('no more refreshes than the concurrency run at once', async () => {
    await setPause('twin', 0.4);
    const { report, error } = await invoke({ views: ['twin_1', 'twin_2', 'twin_3'] }, { ...env, [RefreshEnv.CONCURRENCY]: '2' });
    await setPause('twin', 0);

    expect(error).toBeUndefined();
    const names = report!.views.map((view) => view.view);
    // Refreshes running at the moment each one starts, itself included.
    const runningAtStart = names.map((name) => names.filter((other) =>
      startOf(report!, other) <= startOf(report!, name) && endOf(report!, other) > startOf(report!, name)).length);
    expect(Math.max(...runningAtStart)).toBe(2);
  });

  test('quoted names with spaces and capitals are read like regclass and reported quoted', async () => {
    await runSql(db, 'INSERT INTO sales VALUES (3, 30)');
    const { report, error } = await invoke({ views: ['"Sales Hub"."Daily Totals"'] }, env);

    expect(error).toBeUndefined();
    expect(report!.views).toEqual([expect.objectContaining({ view: '"Sales Hub"."Daily Totals"', status: 'refreshed' })]);
    expect(await runSql(db, 'SELECT n::int FROM "Sales Hub"."Daily Totals"')).toEqual([{ n: 3 }]);
    await runSql(db, 'DELETE FROM sales WHERE id = 3');
  });

  test('without an event, the configured schemas and views are refreshed, and nothing else', async () => {
    const { report, error } = await invoke({}, {
      ...env,
      [RefreshEnv.SCHEMAS]: JSON.stringify(['"Sales Hub"']),
      [RefreshEnv.VIEWS]: JSON.stringify(['fast_b']),
    });

    expect(error).toBeUndefined();
    expect(report!.views.map((view) => view.view).sort()).toEqual(['"Sales Hub"."Daily Totals"', 'public.fast_b']);
  });

  test('the event selection replaces the configured one', async () => {
    const { report } = await invoke({ views: ['other.elsewhere'] }, { ...env, [RefreshEnv.SCHEMAS]: JSON.stringify(['public']) });
    expect(report!.views.map((view) => view.view)).toEqual(['other.elsewhere']);
  });

  test('with no configuration, every materialized view outside the system schemas is refreshed', async () => {
    const { report, error } = await invoke(undefined, env);

    expect(error).toBeUndefined();
    const expected = await runSql<{ name: string }>(db, `
      SELECT format('%I.%I', schemaname, matviewname) AS name FROM pg_matviews ORDER BY 1`);
    expect(report!.views.map((view) => view.view).sort()).toEqual(expected.map((row) => row.name).sort());
    expect(report!.totals).toEqual({ selected: expected.length, refreshed: expected.length, failed: 0, skipped: 0 });
    expect(report!.status).toBe('succeeded');
    expect(report!.lock).toBe('acquired');
  });

  test('an unqualified name follows the search_path, as a regclass does', async () => {
    await runSql(db, 'CREATE MATERIALIZED VIEW public.elsewhere AS SELECT 0 AS n');
    const publicFirst = await invoke({ views: ['elsewhere'] }, env);
    await runSql(db, `ALTER DATABASE "${db.database}" SET search_path = other, public`);
    try {
      const otherFirst = await invoke({ views: ['elsewhere'] }, env);

      expect(publicFirst.report!.views.map((view) => view.view)).toEqual(['public.elsewhere']);
      expect(otherFirst.report!.views.map((view) => view.view)).toEqual(['other.elsewhere']);
    } finally {
      await runSql(db, `ALTER DATABASE "${db.database}" RESET search_path`);
      await runSql(db, 'DROP MATERIALIZED VIEW public.elsewhere');
    }
  });

  test('logs are JSON and metrics are EMF: per-view duration and counts', async () => {
    const { output, report } = await invoke({ views: ['fast_b', 'fast_c'] }, env);
    const lines = logLines(output);

    const durations = lines.filter((line) => (line._aws as { CloudWatchMetrics?: Array<{ Metrics: Array<{ Name: string }> }> } | undefined)
      ?.CloudWatchMetrics?.[0].Metrics.some((metric) => metric.Name === 'ViewRefreshDuration'));
    expect(durations.map((line) => line.View).sort()).toEqual(['public.fast_b', 'public.fast_c']);
    expect(durations.every((line) => typeof line.ViewRefreshDuration === 'number')).toBe(true);
    const counts = lines.find((line) => 'ViewsRefreshed' in line);
    expect(counts).toMatchObject({ ViewsRefreshed: 2, ViewsFailed: 0, ViewsSkipped: 0 });
    expect(lines.find((line) => line.message === 'Refresh run finished')).toMatchObject({
      level: 'INFO',
      service: 'itc-orchestrator-refresh',
      report: { totals: report!.totals },
    });
  });
});

describe('REFRESH ... CONCURRENTLY', () => {
  let db: ClientConfig;
  let env: Record<string, string>;
  const all = ['with_unique', 'no_index', 'partial_unique', 'expression_unique', 'not_populated'];

  beforeAll(async () => {
    db = await createTestDatabase('refresh_concurrently');
    env = libpqEnvironment(db);
    await runSql(db, `
      CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL);
      INSERT INTO items VALUES (1, 'a'), (2, 'b');
      CREATE MATERIALIZED VIEW with_unique AS SELECT id, label FROM items;
      CREATE UNIQUE INDEX ON with_unique (id);
      CREATE MATERIALIZED VIEW no_index AS SELECT id, label FROM items;
      CREATE MATERIALIZED VIEW partial_unique AS SELECT id, label FROM items;
      CREATE UNIQUE INDEX ON partial_unique (id) WHERE id > 0;
      CREATE MATERIALIZED VIEW expression_unique AS SELECT id, label FROM items;
      CREATE UNIQUE INDEX ON expression_unique ((id + 0));
      CREATE MATERIALIZED VIEW not_populated AS SELECT id, label FROM items WITH NO DATA;
      CREATE UNIQUE INDEX ON not_populated (id);
    `);
  });

  function usedConcurrently(report: { views: Array<{ view: string; concurrently: boolean }> }) {
    return Object.fromEntries(report.views.map((view) => [view.view.replace('public.', ''), view.concurrently]));
  }

  test('AUTO uses it only for populated views with a unique index on plain columns and no WHERE', async () => {
    const { report, error } = await invoke({ views: all }, env);

    expect(error).toBeUndefined();
    expect(usedConcurrently(report!)).toEqual({
      with_unique: true,
      no_index: false,
      partial_unique: false,
      expression_unique: false,
      not_populated: false,
    });
    // The plain REFRESH populated the view created WITH NO DATA.
    expect(await runSql(db, 'SELECT count(*)::int AS n FROM not_populated')).toEqual([{ n: 2 }]);
  });

  test('CONCURRENTLY really lets readers in: a plain refresh waits for an open reader, a concurrent one does not', async () => {
    const reader = await connect(db);
    try {
      await reader.query('BEGIN; SELECT * FROM with_unique; SELECT * FROM no_index');
      const { error, output } = await invoke({ views: ['with_unique', 'no_index'] }, {
        ...env,
        [RefreshEnv.LOCK_TIMEOUT_MS]: '300',
        [RefreshEnv.MAX_ATTEMPTS]: '1',
      });
      expect(error?.name).toBe('MaterializedViewRefreshFailed');
      expect(error?.message).toMatch(/public\.no_index failed after 1 attempt\(s\): 55P03/);
      expect(error?.message).not.toMatch(/with_unique failed/);
      const refreshed = logLines(output).find((line) => line.message === 'View refreshed');
      expect(refreshed).toMatchObject({ view: 'public.with_unique', concurrently: true });
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
    }
  });

  test('NEVER overrides the choice for every view', async () => {
    const { report } = await invoke({ views: all }, { ...env, [RefreshEnv.CONCURRENT_REFRESH]: ConcurrentRefresh.NEVER });
    expect(Object.values(usedConcurrently(report!))).toEqual([false, false, false, false, false]);
  });

  test('ALWAYS fails the views that do not qualify, saying why, and refreshes the others concurrently', async () => {
    const { error, output } = await invoke({ views: ['with_unique', 'no_index'] }, {
      ...env,
      [RefreshEnv.CONCURRENT_REFRESH]: ConcurrentRefresh.ALWAYS,
    });
    expect(error?.name).toBe('MaterializedViewRefreshFailed');
    expect(error?.message).toContain('public.no_index failed after 0 attempt(s): cannot be refreshed CONCURRENTLY: it has no unique index');
    expect(logLines(output).find((line) => line.message === 'View refreshed')).toMatchObject({ view: 'public.with_unique', concurrently: true });
  });

  test('the report names the view and states CONCURRENTLY per view', async () => {
    const { report } = await invoke({ views: ['with_unique'] }, env);
    expect(viewOf(report!, 'public.with_unique')).toMatchObject({ status: 'refreshed', concurrently: true, attempts: 1 });
  });
});
