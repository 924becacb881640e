/**
 * End to end with `refresh.onlyChangedTables`: the example stack's synthesized state machine runs in
 * aws-local-stepfunctions, the pipelines return `changedTables`, the refresh step is the real bundled
 * handler (in a local function, or in Fargate mode the task's bootstrap in a child process), and every
 * assertion about views reads the database.
 */
import { Duration } from 'aws-cdk-lib';
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { MAX_OVERRIDES_CHARS } from '../../local/ecs';
import type { LocalHandler } from '../../local/lambda';
import { LocalOrchestration } from '../../local/orchestration';
import { withClient } from '../../local/pg';
import { createReturns, createWarehouse, readViews, samplePipelines, staleViews } from '../../local/warehouse';
import { RefreshCompute } from '../../src';
import type { RefreshReport } from '../../src/shared/contract';

const opened: LocalOrchestration[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((orchestration) => orchestration.close()));
});

/**
 * A warehouse with one more table and the view reading it (`returns` -> `returns_by_region`), and the
 * example stack refreshing the warehouse schema with only the changed tables, with these pipelines.
 */
async function setUp(pipelines: (database: ClientConfig) => Record<'Demand' | 'VerifyPlus', LocalHandler>, refreshCompute?: RefreshCompute) {
  const database = await createTestDatabase('e2e_changed');
  await createWarehouse(database);
  await createReturns(database);
  const orchestration = LocalOrchestration.create({
    database,
    retryIntervalMs: 20,
    refresh: { schemas: ['warehouse'], onlyChangedTables: true },
    pipelines: pipelines(database),
    refreshCompute,
  });
  opened.push(orchestration);
  return { database, orchestration };
}

/** A sample pipeline whose result also carries `changedTables` (when given). */
function reporting(handler: LocalHandler, changedTables: unknown): LocalHandler {
  return async (event, context) => ({ ...(await handler(event, context) as object), changedTables });
}

async function returnsByRegion(database: ClientConfig): Promise<unknown[]> {
  return withClient(database, async (client) => (await client.query('SELECT region, quantity::int FROM warehouse.returns_by_region ORDER BY region')).rows);
}

test('two pipelines report different tables: only the views downstream of them are refreshed', async () => {
  const { database, orchestration } = await setUp((db) => ({
    Demand: reporting(samplePipelines(db).Demand, ['warehouse.demand']),
    VerifyPlus: async () => {
      await withClient(db, (client) => client.query("INSERT INTO warehouse.returns VALUES ('north', 3)"));
      return { changedTables: ['warehouse.returns'] };
    },
  }));
  // A write no pipeline reports: the views reading only verify_plus must keep their contents.
  await withClient(database, (client) => client.query("INSERT INTO warehouse.verify_plus (batch, region, product, verified) VALUES ('side', 'west', 'gizmo', true)"));
  const before = await readViews(database);

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('SUCCEEDED');
  const report = execution.output as RefreshReport;
  expect(report.views.map((view) => view.view).sort()).toEqual([
    'warehouse.coverage_summary', 'warehouse.daily_demand', 'warehouse.demand_by_product', 'warehouse.demand_by_region',
    'warehouse.executive_dashboard', 'warehouse.returns_by_region',
  ]);
  expect(report.selection.tables).toEqual([
    { table: 'warehouse.demand', selected: 5, views: expect.arrayContaining(['warehouse.demand_by_region', 'warehouse.executive_dashboard']) },
    { table: 'warehouse.returns', selected: 1, views: ['warehouse.returns_by_region'] },
  ]);
  // In the database: every view downstream of demand caught up, verification_by_region kept its old rows.
  expect(await staleViews(database)).toEqual(['warehouse.verification_by_region']);
  expect((await readViews(database))['warehouse.verification_by_region']).toEqual(before['warehouse.verification_by_region']);
  expect(await returnsByRegion(database)).toEqual([{ region: 'north', quantity: 3 }]);
});

test.each([
  ['the refresh function', undefined],
  ['the Fargate task', RefreshCompute.fargate({ runTimeout: Duration.minutes(1) })],
])('a pipeline that does not report its tables makes %s refresh every view, and the report says why', async (_compute, refreshCompute) => {
  const { database, orchestration } = await setUp((db) => ({
    Demand: reporting(samplePipelines(db).Demand, ['warehouse.demand']),
    VerifyPlus: samplePipelines(db).VerifyPlus,
  }), refreshCompute);
  await withClient(database, (client) => client.query("INSERT INTO warehouse.returns VALUES ('south', 4)"));

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('SUCCEEDED');
  const report = execution.output as RefreshReport;
  expect(report.totals).toMatchObject({ selected: 7, refreshed: 7 });
  expect(report.selection).toEqual({
    basis: 'configured',
    reason: 'not every pipeline reported its changed tables: VerifyPlus returned no changedTables',
  });
  expect(await staleViews(database)).toEqual([]);
  expect(await returnsByRegion(database)).toEqual([{ region: 'south', quantity: 4 }]);
  if (refreshCompute) expect(orchestration.ecs!.tasks).toHaveLength(1);
});

test('a changedTables that is not a list also refreshes every view, naming the pipeline', async () => {
  const { database, orchestration } = await setUp((db) => ({
    Demand: reporting(samplePipelines(db).Demand, 'warehouse.demand'),
    VerifyPlus: reporting(samplePipelines(db).VerifyPlus, ['warehouse.verify_plus']),
  }));

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('SUCCEEDED');
  expect((execution.output as RefreshReport).selection.reason)
    .toBe('not every pipeline reported its changed tables: Demand returned a changedTables that is not a list');
  expect(await staleViews(database)).toEqual([]);
});

test('every pipeline reports an empty list: the refresh runs, refreshes nothing and succeeds', async () => {
  const { database, orchestration } = await setUp(() => ({
    Demand: async () => ({ changedTables: [] }),
    VerifyPlus: async () => ({ inserted: 0, changedTables: [] }),
  }));
  // Changes no pipeline reports stay out of the views.
  await withClient(database, (client) => client.query("INSERT INTO warehouse.returns VALUES ('east', 5)"));
  const before = await readViews(database);

  const execution = await orchestration.run({});

  expect(execution.status).toBe('SUCCEEDED');
  expect(execution.states.some((state) => state.name === 'Refresh materialized views' && state.outcome === 'succeeded')).toBe(true);
  expect(execution.output).toMatchObject({
    status: 'succeeded',
    views: [],
    totals: { selected: 0, refreshed: 0 },
    selection: { basis: 'tables', reason: 'nothing changed: event.tables is empty', tables: [] },
  });
  expect(await readViews(database)).toEqual(before);
  expect(await returnsByRegion(database)).toEqual([]);
});

test('a failing pipeline still fails the run with PipelineFailed, and nothing is refreshed', async () => {
  const { database, orchestration } = await setUp((db) => ({
    Demand: () => {
      throw new Error('source unavailable');
    },
    VerifyPlus: reporting(samplePipelines(db).VerifyPlus, ['warehouse.verify_plus']),
  }));
  const before = await readViews(database);

  const execution = await orchestration.run({});

  expect(execution.status).toBe('FAILED');
  expect(execution.error).toBe('PipelineFailed');
  expect(execution.cause).toMatch(/^\[Demand failed with Error: .*source unavailable/);
  expect(await readViews(database)).toEqual(before);
});

describe('in Fargate mode', () => {
  test('one pipeline reports one changed table: the task refreshes only the view downstream of it', async () => {
    const { database, orchestration } = await setUp((db) => ({
      Demand: async () => ({ changedTables: [] }),
      VerifyPlus: async () => {
        await withClient(db, (client) => client.query("INSERT INTO warehouse.returns VALUES ('north', 3)"));
        return { changedTables: ['warehouse.returns'] };
      },
    }), RefreshCompute.fargate({ runTimeout: Duration.minutes(1) }));
    expect(orchestration.stack.refreshFunctionLogicalId).toBeUndefined();
    // Writes no pipeline reports: the views reading them must keep their contents.
    await withClient(database, (client) => client.query(`
      INSERT INTO warehouse.demand (batch, region, product, demand_date, quantity) VALUES ('side', 'west', 'gizmo', '2026-01-01', 7);
      INSERT INTO warehouse.verify_plus (batch, region, product, verified) VALUES ('side', 'west', 'gizmo', true);
    `));
    const before = await readViews(database);

    const execution = await orchestration.run({ batch: 'nightly' });

    expect(execution.status).toBe('SUCCEEDED');
    const report = execution.output as RefreshReport;
    expect(report.views.map((view) => view.view)).toEqual(['warehouse.returns_by_region']);
    expect(report.totals).toMatchObject({ selected: 1, refreshed: 1, failed: 0 });
    expect(report.selection).toEqual({ basis: 'tables', tables: [{ table: 'warehouse.returns', selected: 1, views: ['warehouse.returns_by_region'] }] });
    // In the database: the view of returns caught up, every other view kept its old rows.
    expect(await returnsByRegion(database)).toEqual([{ region: 'north', quantity: 3 }]);
    expect(await readViews(database)).toEqual(before);
    // Stale: each view whose rows the unreported writes change (coverage_summary's counts stay the same).
    expect(await staleViews(database)).toEqual([
      'warehouse.demand_by_region', 'warehouse.verification_by_region', 'warehouse.demand_by_product',
      'warehouse.daily_demand', 'warehouse.executive_dashboard',
    ]);
    // The task ran the refresh and answered the token.
    expect(orchestration.ecs!.tasks).toHaveLength(1);
    await orchestration.ecs!.tasks[0].exited;
    expect(orchestration.ecs!.tasks[0].exitCode).toBe(0);
    expect(orchestration.standIn!.calls.at(-1)).toBe('SendTaskSuccess');
  });

  test('changed tables beyond what ECS accepts in the overrides refresh every view, and the report says why', async () => {
    const tables = Array.from({ length: 300 }, (_, index) => `warehouse.changed_table_${String(index).padStart(4, '0')}`);
    const { database, orchestration } = await setUp((db) => ({
      Demand: reporting(samplePipelines(db).Demand, tables),
      VerifyPlus: reporting(samplePipelines(db).VerifyPlus, ['warehouse.verify_plus']),
    }), RefreshCompute.fargate({ runTimeout: Duration.minutes(1) }));
    expect(JSON.stringify({ tables }).length).toBeGreaterThan(MAX_OVERRIDES_CHARS);

    const execution = await orchestration.run({ batch: 'nightly' });

    expect(execution.status).toBe('SUCCEEDED');
    const report = execution.output as RefreshReport;
    expect(report.selection).toMatchObject({ basis: 'configured' });
    expect(report.selection.reason).toMatch(/the changed tables did not reach the refresh task: ECS refused its container override/);
    expect(report.totals.failed + report.totals.skipped).toBe(0);
    expect(await staleViews(database)).toEqual([]);
    // ECS refused every start with the list; the one task that ran had every view to refresh.
    expect(orchestration.ecs!.tasks).toHaveLength(1);
  });
});
