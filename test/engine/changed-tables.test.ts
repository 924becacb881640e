import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke, localModeEnv, logLines } from './support/refresh';
import { runSql } from '../../local/pg';
import { RefreshEnv, RefreshErrors } from '../../src/shared/contract';

/** Each view's `n` column, by view name: the count it held when it was last refreshed. */
async function rowCounts(db: ClientConfig, views: readonly string[]): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const view of views) {
    const [{ n }] = await runSql<{ n: number }>(db, `SELECT n FROM ${view}`);
    result[view] = n;
  }
  return result;
}

/**
 * Selection by changed tables (`event.tables`), through the bundled handler in local mode.
 *
 * Every view counts the rows of what it reads, so a view's content shows whether a run refreshed it:
 * each test inserts rows into the base tables first, and a view that was not refreshed keeps its old count.
 */
describe('refresh selection by changed tables', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  // orders -> mv_orders -> mv_orders_rollup; items -> items_view (plain) -> mv_items; orders + items -> mv_both;
  // events -> (partitioned) mv_events; audit is read by no view; mv_other is outside the configured set,
  // and other_top reads mv_other.
  const VIEWS = ['mv_orders', 'mv_orders_rollup', 'mv_items', 'mv_both', 'mv_events', 'other_top'] as const;

  beforeAll(async () => {
    db = await createTestDatabase('changed_tables');
    env = { ...localModeEnv(db), [RefreshEnv.SCHEMAS]: JSON.stringify(['public']) };
    await runSql(db, `
      CREATE TABLE orders (id serial PRIMARY KEY);
      CREATE TABLE items (id serial PRIMARY KEY);
      CREATE TABLE audit (id serial PRIMARY KEY);
      CREATE TABLE events (id serial, day date NOT NULL) PARTITION BY RANGE (day);
      CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      CREATE MATERIALIZED VIEW mv_orders AS SELECT count(*)::int AS n FROM orders;
      CREATE MATERIALIZED VIEW mv_orders_rollup AS SELECT n AS n FROM mv_orders;
      CREATE VIEW items_view AS SELECT id FROM items;
      CREATE MATERIALIZED VIEW mv_items AS SELECT count(*)::int AS n FROM items_view;
      CREATE MATERIALIZED VIEW mv_both AS SELECT (SELECT count(*) FROM orders)::int + (SELECT count(*) FROM items)::int AS n;
      CREATE MATERIALIZED VIEW mv_events AS SELECT count(*)::int AS n FROM events;
      CREATE SCHEMA elsewhere;
      CREATE MATERIALIZED VIEW elsewhere.mv_other AS SELECT count(*)::int AS n FROM audit;
      CREATE MATERIALIZED VIEW other_top AS SELECT n FROM elsewhere.mv_other;
    `);
  });

  /** Runs `work` with the refresh function's name set, as Lambda sets it; the metrics carry it as a dimension. */
  async function asFunction<T>(name: string, work: () => Promise<T>): Promise<T> {
    process.env.AWS_LAMBDA_FUNCTION_NAME = name;
    try {
      return await work();
    } finally {
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    }
  }

  /** Adds a row to every base table; returns each view's count as it stands, before any refresh. */
  async function touchEverything(): Promise<Record<string, number>> {
    await runSql(db, `
      INSERT INTO orders DEFAULT VALUES; INSERT INTO items DEFAULT VALUES; INSERT INTO audit DEFAULT VALUES;
      INSERT INTO events (day) VALUES ('2026-06-01');
    `);
    return counts();
  }

  const counts = () => rowCounts(db, VIEWS);

  /** The views whose content changed since `before`. */
  async function changedSince(before: Record<string, number>): Promise<string[]> {
    const after = await counts();
    return VIEWS.filter((view) => after[view] !== before[view]);
  }

  test('a changed table selects the views reading it and their dependents, in dependency order', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables: ['orders'] }, env);

    expect(error).toBeUndefined();
    expect(report!.views.map((view) => view.view)).toEqual(['public.mv_both', 'public.mv_orders', 'public.mv_orders_rollup']);
    expect(report!.views.every((view) => view.status === 'refreshed')).toBe(true);
    expect(await changedSince(before)).toEqual(['mv_orders', 'mv_orders_rollup', 'mv_both']);
    expect(report!.selection).toEqual({
      basis: 'tables',
      tables: [{ table: 'public.orders', selected: 3, views: ['public.mv_both', 'public.mv_orders', 'public.mv_orders_rollup'] }],
    });
  });

  test('a table read through a plain view selects the view behind it', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables: ['public.items'] }, env);

    expect(error).toBeUndefined();
    expect(await changedSince(before)).toEqual(['mv_items', 'mv_both']);
    expect(report!.selection.tables).toEqual([{ table: 'public.items', selected: 2, views: ['public.mv_both', 'public.mv_items'] }]);
  });

  test('a plain view named as changed selects the views reading it', async () => {
    const before = await touchEverything();
    const { error } = await invoke({ tables: ['items_view'] }, env);

    expect(error).toBeUndefined();
    expect(await changedSince(before)).toEqual(['mv_items']);
  });

  test('a changed partition selects the views reading its partitioned table', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables: ['events_2026'] }, env);

    expect(error).toBeUndefined();
    expect(await changedSince(before)).toEqual(['mv_events']);
    expect(report!.selection.tables).toEqual([{ table: 'public.events_2026', selected: 1, views: ['public.mv_events'] }]);
  });

  test('a table read by no selected view refreshes nothing and succeeds, saying nothing changed', async () => {
    const before = await touchEverything();
    const { report, error, output } = await asFunction('sales-refresh', () => invoke({ tables: ['audit'] }, env));

    expect(error).toBeUndefined();
    // audit reaches other_top only through elsewhere.mv_other, which is outside the configured schemas and is
    // not refreshed, so other_top would return the same rows.
    expect(await changedSince(before)).toEqual([]);
    expect(report).toMatchObject({
      status: 'succeeded',
      lock: 'not-needed',
      views: [],
      totals: { selected: 0, refreshed: 0, failed: 0, skipped: 0 },
      selection: { basis: 'tables', reason: expect.stringMatching(/^nothing changed/), tables: [{ table: 'public.audit', selected: 0, views: [] }] },
    });
    const emf = logLines(output).find((line) => 'RunsSucceeded' in line);
    expect(emf).toMatchObject({ RunsSucceeded: 1, ViewsRefreshed: 0, FunctionName: 'sales-refresh' });
  });

  test('an empty list of changed tables refreshes nothing and succeeds', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables: [] }, env);

    expect(error).toBeUndefined();
    expect(await changedSince(before)).toEqual([]);
    expect(report).toMatchObject({ status: 'succeeded', views: [], selection: { basis: 'tables', reason: 'nothing changed: event.tables is empty' } });
  });

  test('event.views and event.tables select the union', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ views: ['mv_events'], tables: ['items'] }, env);

    expect(error).toBeUndefined();
    expect(report!.views.map((view) => view.view).sort()).toEqual(['public.mv_both', 'public.mv_events', 'public.mv_items']);
    expect(await changedSince(before)).toEqual(['mv_items', 'mv_both', 'mv_events']);
  });

  test('each changed table lists the views it selected; a view selected by two tables is refreshed once', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables: ['orders', 'items', 'orders'] }, env);

    expect(error).toBeUndefined();
    expect(report!.views.map((view) => view.view)).toEqual(['public.mv_both', 'public.mv_items', 'public.mv_orders', 'public.mv_orders_rollup']);
    expect(report!.selection.tables).toEqual([
      { table: 'public.orders', selected: 3, views: ['public.mv_both', 'public.mv_orders', 'public.mv_orders_rollup'] },
      { table: 'public.items', selected: 2, views: ['public.mv_both', 'public.mv_items'] },
    ]);
    expect(await changedSince(before)).toEqual(['mv_orders', 'mv_orders_rollup', 'mv_items', 'mv_both']);
  });

  test.each([
    ['an unknown table', ['orders', 'no_such_table'], /invalid event\.tables: table "no_such_table" does not exist/],
    ['a malformed name', ['orders', 'orders; DROP TABLE orders'], /invalid event\.tables: Invalid table name/],
    ['a name that is not a string', [42], /invalid event\.tables: Invalid table name 42: expected a string/],
    ['a sequence', ['orders_id_seq'], /invalid event\.tables: "orders_id_seq" is a sequence, not a table or view/],
    ['a list that is not an array', 'orders', /invalid event\.tables "orders": expected an array of table names/],
  ])('%s in event.tables is an invalid request, and nothing is refreshed', async (_case, tables, message) => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables, views: ['mv_events'] }, env);

    expect(report).toBeUndefined();
    expect(error).toMatchObject({ name: RefreshErrors.INVALID_REQUEST, message: expect.stringMatching(/^Nothing was refreshed: /) });
    expect(error!.message).toMatch(message);
    expect(await changedSince(before)).toEqual([]);
  });

  test('without tables or views the configured set is refreshed, with the reason the event gives', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ fullRefreshReason: 'pipeline Demand reported no changedTables; ' }, env);

    expect(error).toBeUndefined();
    expect(await changedSince(before)).toEqual(['mv_orders', 'mv_orders_rollup', 'mv_items', 'mv_both', 'mv_events']);
    expect(report!.selection).toEqual({ basis: 'configured', reason: 'pipeline Demand reported no changedTables' });
  });

  test('each refreshed view emits a ViewRefreshed count, and the run a RunsSucceeded count', async () => {
    await touchEverything();
    // Twice in one process, as in a warm Lambda environment: the dimensions do not pile up.
    await asFunction('sales-refresh', () => invoke({ tables: ['orders'] }, env));
    const { output, error } = await asFunction('sales-refresh', () => invoke({ tables: ['orders'] }, env));

    expect(error).toBeUndefined();
    const lines = logLines(output);
    const perView = lines.filter((line) => 'ViewRefreshed' in line);
    expect(perView.map((line) => line.View).sort()).toEqual(['public.mv_both', 'public.mv_orders', 'public.mv_orders_rollup']);
    expect(perView.every((line) => line.ViewRefreshed === 1 && line.FunctionName === 'sales-refresh' && line.service === 'itc-orchestrator-refresh')).toBe(true);
    // The construct's alarms match exactly this namespace and set of dimensions.
    type Emf = { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> };
    const emf = (line: Record<string, unknown>) => (line._aws as Emf).CloudWatchMetrics[0];
    expect(perView.map((line) => ({ ...emf(line), Dimensions: emf(line).Dimensions.map((set) => [...set].sort()) }))[0])
      .toMatchObject({ Namespace: 'ItcOrchestrator', Dimensions: [['FunctionName', 'View', 'service']] });
    const run = lines.find((line) => 'RunsSucceeded' in line)!;
    expect(emf(run).Dimensions.map((set) => [...set].sort())).toEqual([['FunctionName', 'service']]);
    expect(lines.find((line) => 'RunsSucceeded' in line)).toMatchObject({ RunsSucceeded: 1, ViewsRefreshed: 3 });
  });

  test('a run that leaves a view unrefreshed emits no RunsSucceeded', async () => {
    await runSql(db, 'CREATE MATERIALIZED VIEW mv_fails AS SELECT 1 / (SELECT count(*)::int FROM audit WHERE id < 0) AS n WITH NO DATA');
    try {
      const { output, error } = await invoke({ views: ['mv_fails'] }, { ...env, [RefreshEnv.MAX_ATTEMPTS]: '1' });

      expect(error).toMatchObject({ name: RefreshErrors.VIEWS_FAILED });
      const lines = logLines(output);
      expect(lines.find((line) => 'ViewsFailed' in line)).toMatchObject({ ViewsFailed: 1 });
      expect(lines.some((line) => 'RunsSucceeded' in line)).toBe(false);
    } finally {
      await runSql(db, 'DROP MATERIALIZED VIEW mv_fails');
    }
  });
});

describe('the selection report stays small', () => {
  test('it names ten views per changed table and lists fifty changed tables, counting the rest', async () => {
    const db = await createTestDatabase('changed_tables_wide');
    const tables = Array.from({ length: 60 }, (_, i) => `t${String(i + 1).padStart(2, '0')}`);
    const fanOut = Array.from({ length: 12 }, (_, i) => `fan_${String(i + 1).padStart(2, '0')}`);
    await runSql(db, `
      ${tables.map((table) => `CREATE TABLE ${table} (id int);`).join('\n')}
      CREATE MATERIALIZED VIEW wide AS SELECT ${tables.map((table) => `(SELECT count(*) FROM ${table})`).join(' + ')} AS n;
      ${fanOut.map((view) => `CREATE MATERIALIZED VIEW ${view} AS SELECT count(*) AS n FROM t01;`).join('\n')}
    `);

    const { report, error } = await invoke({ tables }, localModeEnv(db));

    expect(error).toBeUndefined();
    expect(report!.totals.refreshed).toBe(13);
    expect(report!.selection.tables).toHaveLength(50);
    expect(report!.selection.omittedTables).toBe(10);
    expect(report!.selection.tables![0]).toEqual({
      table: 'public.t01',
      selected: 13,
      views: ['public.fan_01', 'public.fan_02', 'public.fan_03', 'public.fan_04', 'public.fan_05',
        'public.fan_06', 'public.fan_07', 'public.fan_08', 'public.fan_09', 'public.fan_10'],
    });
    expect(report!.selection.tables![49]).toEqual({ table: 'public.t50', selected: 1, views: ['public.wide'] });
  });
});

describe('selection by changed tables follows the dependencies the refresh order follows', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  // t -> t_count() (BEGIN ATOMIC) -> mv_f -> mv_f_top; t -> t_count() -> t_twice() (BEGIN ATOMIC) -> v_twice (plain)
  // -> mv_g; t -> mv_a; mv_x reads t through dynamic SQL the catalog cannot see, and is declared to depend on
  // mv_a; mv_x_top reads mv_x; side -> mv_side. (A refresh runs functions with search_path pg_catalog, pg_temp, so
  // the dynamic SQL names its table with the schema.)
  const VIEWS = ['mv_f', 'mv_f_top', 'mv_g', 'mv_a', 'mv_x', 'mv_x_top', 'mv_side'] as const;
  const declared = JSON.stringify([{ view: 'public.mv_x', dependsOn: ['public.mv_a'] }]);

  beforeAll(async () => {
    db = await createTestDatabase('changed_tables_edges');
    env = { ...localModeEnv(db), [RefreshEnv.SCHEMAS]: JSON.stringify(['public']) };
    await runSql(db, `
      CREATE TABLE t (id int);
      CREATE TABLE side (id int);
      CREATE FUNCTION t_count() RETURNS bigint LANGUAGE sql STABLE BEGIN ATOMIC SELECT count(*) FROM t; END;
      CREATE FUNCTION t_twice() RETURNS bigint LANGUAGE sql STABLE BEGIN ATOMIC SELECT t_count() * 2; END;
      CREATE FUNCTION t_count_dynamic() RETURNS bigint LANGUAGE plpgsql STABLE
        AS $$ DECLARE n bigint; BEGIN EXECUTE 'SELECT count(*) FROM public.t' INTO n; RETURN n; END $$;
      CREATE MATERIALIZED VIEW mv_f AS SELECT t_count()::int AS n;
      CREATE MATERIALIZED VIEW mv_f_top AS SELECT n FROM mv_f;
      CREATE VIEW v_twice AS SELECT t_twice() AS n;
      CREATE MATERIALIZED VIEW mv_g AS SELECT n::int AS n FROM v_twice;
      CREATE MATERIALIZED VIEW mv_a AS SELECT count(*)::int AS n FROM t;
      CREATE MATERIALIZED VIEW mv_x AS SELECT t_count_dynamic()::int AS n;
      CREATE MATERIALIZED VIEW mv_x_top AS SELECT n FROM mv_x;
      CREATE MATERIALIZED VIEW mv_side AS SELECT count(*)::int AS n FROM side;
    `);
  });

  const counts = () => rowCounts(db, VIEWS);

  /** Adds a row to both tables; returns each view's count as it stands, before any refresh. */
  async function touchEverything(): Promise<Record<string, number>> {
    await runSql(db, 'INSERT INTO t VALUES (1); INSERT INTO side VALUES (1);');
    return counts();
  }

  async function changedSince(before: Record<string, number>): Promise<string[]> {
    const after = await counts();
    return VIEWS.filter((view) => after[view] !== before[view]);
  }

  /** Where each view stands in the report, which lists views in plan order. */
  function positions(views: ReadonlyArray<{ view: string }>): Record<string, number> {
    return Object.fromEntries(views.map((entry, index) => [entry.view, index]));
  }

  test('a table read through SQL-standard function bodies selects the views calling them, and their dependents', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables: ['t'] }, env);

    expect(error).toBeUndefined();
    expect(await changedSince(before)).toEqual(['mv_f', 'mv_f_top', 'mv_g', 'mv_a']);
    expect(report!.selection.tables).toEqual([{ table: 'public.t', selected: 4, views: ['public.mv_a', 'public.mv_f', 'public.mv_f_top', 'public.mv_g'] }]);
    const at = positions(report!.views);
    expect(at['public.mv_f']).toBeLessThan(at['public.mv_f_top']);
  });

  test('a declared dependency selects the declaring view and its dependents, after the view it depends on', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables: ['t'] }, { ...env, [RefreshEnv.EXTRA_DEPENDENCIES]: declared });

    expect(error).toBeUndefined();
    expect(await changedSince(before)).toEqual(['mv_f', 'mv_f_top', 'mv_g', 'mv_a', 'mv_x', 'mv_x_top']);
    expect(report!.totals).toMatchObject({ selected: 6, refreshed: 6 });
    expect(report!.selection.tables).toEqual([{
      table: 'public.t',
      selected: 6,
      views: ['public.mv_a', 'public.mv_f', 'public.mv_f_top', 'public.mv_g', 'public.mv_x', 'public.mv_x_top'],
    }]);
    const at = positions(report!.views);
    expect(at['public.mv_a']).toBeLessThan(at['public.mv_x']);
    expect(at['public.mv_x']).toBeLessThan(at['public.mv_x_top']);
  });

  test('a dependency declared in the event selects like a configured one', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables: ['t'], extraDependencies: JSON.parse(declared) }, env);

    expect(error).toBeUndefined();
    expect(await changedSince(before)).toEqual(['mv_f', 'mv_f_top', 'mv_g', 'mv_a', 'mv_x', 'mv_x_top']);
    expect(report!.selection.tables![0]).toMatchObject({ table: 'public.t', selected: 6 });
  });

  test('a declared dependency on a view another table selects is followed from that table only', async () => {
    const before = await touchEverything();
    const { report, error } = await invoke({ tables: ['side'] }, { ...env, [RefreshEnv.EXTRA_DEPENDENCIES]: declared });

    expect(error).toBeUndefined();
    expect(await changedSince(before)).toEqual(['mv_side']);
    expect(report!.selection.tables).toEqual([{ table: 'public.side', selected: 1, views: ['public.mv_side'] }]);
  });

  test('a declared dependency on a table is an invalid request, even when the changed tables select nothing', async () => {
    for (const tables of [['t'], []]) {
      const before = await touchEverything();
      const { report, error } = await invoke({ tables, extraDependencies: [{ view: 'mv_x', dependsOn: ['t'] }] }, env);

      expect(report).toBeUndefined();
      expect(error).toMatchObject({ name: RefreshErrors.INVALID_REQUEST, message: expect.stringMatching(/^Nothing was refreshed: /) });
      expect(error!.message).toMatch(/invalid event\.extraDependencies: "t" is a table, not a materialized view/);
      expect(await changedSince(before)).toEqual([]);
    }
  });
});
