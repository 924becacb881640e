/**
 * End to end with pipelines of every kind: the mixed example stack (a Lambda function, a Glue job, a nested
 * workflow that invokes a function, an ECS task) runs in aws-local-stepfunctions with the local stand-ins of
 * Glue, ECS and Step Functions, and the real bundled refresh against the sample warehouse.
 */
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import type { LocalHandler } from '../../local/lambda';
import { LocalOrchestration, LocalOrchestrationOptions } from '../../local/orchestration';
import { withClient } from '../../local/pg';
import { WAREHOUSE_VIEWS, createReturns, createWarehouse, samplePipelines, staleViews } from '../../local/warehouse';
import type { RefreshReport } from '../../src/shared/contract';

const opened: LocalOrchestration[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((orchestration) => orchestration.close()));
});

/** The sample warehouse with `returns` (which the Glue job writes) and its view, orchestrated by the mixed example. */
async function setUp(options: (database: ClientConfig) => Partial<LocalOrchestrationOptions> = () => ({})) {
  const database = await createTestDatabase('e2e_kinds');
  await createWarehouse(database);
  await createReturns(database);
  const orchestration = LocalOrchestration.create({
    database,
    pipelineKinds: 'mixed',
    retryIntervalMs: 20,
    refresh: { schemas: ['warehouse'] },
    jobs: { Orders: () => withClient(database, (client) => client.query("INSERT INTO warehouse.returns VALUES ('north', 2)")).then(() => undefined) },
    ...options(database),
  });
  opened.push(orchestration);
  return { database, orchestration };
}

/** A sample pipeline whose result also carries `changedTables`. */
function reporting(handler: LocalHandler, changedTables: unknown): LocalHandler {
  return async (event, context) => ({ ...(await handler(event, context) as object), changedTables });
}

const RUN_STATES = ['Run pipeline Demand', 'Run pipeline Orders', 'Run pipeline Verify', 'Run the data tests'];

test('a function, a Glue job, a nested workflow and an ECS task all run, then every view is refreshed', async () => {
  const { database, orchestration } = await setUp();

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('SUCCEEDED');
  expect(execution.invocations.map((call) => `${call.state} -> ${call.target}`).sort()).toEqual([
    'List running executions -> sfn:listExecutions',
    'Refresh materialized views -> itc-example-refresh',
    'Run pipeline Demand -> itc-example-demand',
    'Run pipeline Orders -> glue:itc-example-orders',
    'Run pipeline Verify -> states:itc-example-verify',
    'Run the data tests -> ecs:itc-example-dbt',
  ].sort());
  // The refresh started only after every pipeline ended.
  const ended = Math.max(...execution.states.filter((state) => RUN_STATES.includes(state.name)).map((state) => state.exitedAt!));
  expect(execution.states.find((state) => state.name === 'Refresh materialized views')!.enteredAt).toBeGreaterThanOrEqual(ended);
  // The nested workflow's function loaded its batch, the Glue job its rows, and every view caught up.
  await withClient(database, async (client) => {
    expect((await client.query("SELECT count(*)::int AS n FROM warehouse.verify_plus WHERE batch = 'nightly'")).rows[0].n).toBe(4);
    expect((await client.query('SELECT count(*)::int AS n FROM warehouse.returns')).rows[0].n).toBe(1);
  });
  expect(await staleViews(database)).toEqual([]);
  expect((execution.output as RefreshReport).totals).toMatchObject({ selected: 7, refreshed: 7 });
});

describe('one failed pipeline of any kind fails the execution, named in its error and cause, and nothing is refreshed', () => {
  test.each([
    ['a function', 'Demand', (): Partial<LocalOrchestrationOptions> => ({ pipelines: { Demand: () => { throw new Error('source offline'); } } }),
      /^\[Demand failed with Error: .*source offline/],
    ['a Glue job', 'Orders', (): Partial<LocalOrchestrationOptions> => ({ jobs: { Orders: () => { throw new Error('bad input file'); } } }),
      /^\[Orders failed with States\.TaskFailed: \{.*"JobRunState":"FAILED".*bad input file/],
    ['a nested workflow', 'Verify', (): Partial<LocalOrchestrationOptions> => ({ pipelines: { VerifyPlus: () => { throw new Error('checks failed'); } } }),
      /^\[Verify failed with States\.TaskFailed: \{.*"Status":"FAILED".*checks failed/],
    ['an ECS task', 'Dbt', (): Partial<LocalOrchestrationOptions> => ({ jobs: { Dbt: () => { throw new Error('2 data tests failed'); } } }),
      /^\[Dbt failed with States\.TaskFailed: \{.*"ExitCode":1.*2 data tests failed/],
  ])('%s', async (_kind, name, options, cause) => {
    const { database, orchestration } = await setUp(() => options());

    const execution = await orchestration.run({ batch: 'nightly' });

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PipelineFailed');
    expect(execution.cause).toMatch(cause);
    expect(execution.cause!.match(/\[\w+ failed with/g)).toEqual([`[${name} failed with`]);
    expect(execution.states.map((state) => state.name)).not.toContain('Refresh materialized views');
    expect(await staleViews(database)).not.toEqual([]);
  });
});

describe('transient errors of each service are retried, other errors are not', () => {
  test.each([
    ['Glue', 'glue:itc-example-orders', 'Glue.ConcurrentRunsExceededException', 'Run pipeline Orders'],
    ['ECS', 'ecs:itc-example-dbt', 'ECS.AmazonECSException', 'Run the data tests'],
    ['Step Functions', 'states:itc-example-verify', 'StepFunctions.ExecutionLimitExceededException', 'Run pipeline Verify'],
  ])('%s: %s twice, then the run succeeds', async (_service, target, error, state) => {
    const { orchestration } = await setUp();
    orchestration.services!.injectFault(target, { error, cause: `${error} (local stand-in)` }, 2);

    const execution = await orchestration.run({ batch: 'nightly' });

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states.find((record) => record.name === state)).toMatchObject({ outcome: 'succeeded', attempts: 3 });
    expect(execution.invocations.filter((call) => call.target === target).map((call) => call.error)).toEqual([error, error, undefined]);
  });

  test('a Glue error that is not transient fails the pipeline at once', async () => {
    const { orchestration } = await setUp();
    orchestration.services!.injectFault('glue:itc-example-orders', { error: 'Glue.EntityNotFoundException', cause: 'Cannot find job' });

    const execution = await orchestration.run({ batch: 'nightly' });

    expect(execution.status).toBe('FAILED');
    expect(execution.cause).toBe('[Orders failed with Glue.EntityNotFoundException: Cannot find job]');
    expect(execution.invocations.filter((call) => call.target === 'glue:itc-example-orders')).toHaveLength(1);
  });
});

describe('change selection fed by each kind: a function\'s result, a Glue job\'s fixed list, a nested workflow\'s output, an ECS task\'s empty list', () => {
  const selective = { schemas: ['warehouse'], onlyChangedTables: true };

  test('the function reports demand, the nested workflow nothing: demand and returns (the Glue job\'s) are selected', async () => {
    const { database, orchestration } = await setUp((db) => ({
      refresh: selective,
      pipelines: { Demand: reporting(samplePipelines(db).Demand, ['warehouse.demand']), VerifyPlus: reporting(samplePipelines(db).VerifyPlus, []) },
    }));

    const execution = await orchestration.run({ batch: 'nightly' });

    expect(execution.status).toBe('SUCCEEDED');
    const report = execution.output as RefreshReport;
    expect(report.selection.tables?.map((table) => table.table)).toEqual(['warehouse.demand', 'warehouse.returns']);
    // verify_plus changed, but no pipeline said so: its view keeps its old rows.
    expect(await staleViews(database)).toEqual(['warehouse.verification_by_region']);
  });

  test('the nested workflow reports verify_plus, the function nothing: verify_plus and returns are selected', async () => {
    const { database, orchestration } = await setUp((db) => ({
      refresh: selective,
      pipelines: { Demand: reporting(samplePipelines(db).Demand, []), VerifyPlus: reporting(samplePipelines(db).VerifyPlus, ['warehouse.verify_plus']) },
    }));
    // The dashboard reads views of demand too, which no run has populated yet.
    await withClient(database, async (client) => {
      for (const view of WAREHOUSE_VIEWS) await client.query(`REFRESH MATERIALIZED VIEW ${view}`);
    });

    const execution = await orchestration.run({ batch: 'nightly' });

    expect(execution.status).toBe('SUCCEEDED');
    expect((execution.output as RefreshReport).selection.tables?.map((table) => table.table)).toEqual(['warehouse.returns', 'warehouse.verify_plus']);
    expect(await staleViews(database)).toEqual(expect.arrayContaining(['warehouse.daily_demand']));
    expect(await staleViews(database)).not.toContain('warehouse.verification_by_region');
  });

  test('a nested workflow whose output has no list refreshes every view, the reason naming it', async () => {
    const { database, orchestration } = await setUp((db) => ({
      refresh: selective,
      pipelines: { Demand: reporting(samplePipelines(db).Demand, ['warehouse.demand']) },
    }));

    const execution = await orchestration.run({ batch: 'nightly' });

    expect(execution.status).toBe('SUCCEEDED');
    expect((execution.output as RefreshReport).selection).toEqual({
      basis: 'configured',
      reason: 'not every pipeline reported its changed tables: Verify returned no changedTables',
    });
    expect(await staleViews(database)).toEqual([]);
  });
});
