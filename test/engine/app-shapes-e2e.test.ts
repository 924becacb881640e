/**
 * End to end for apps whose pipelines are all of one kind, and for an app with none: only Glue jobs, only nested
 * workflows, and a refresh-only schedule. Each example stack is synthesized once and its state machine runs in
 * aws-local-stepfunctions with the local stand-ins of Glue and Step Functions and the real bundled refresh, against
 * one sample warehouse whose views every test starts from current.
 */
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { ExampleStack, ExampleStackProps, GLUE_EXAMPLE, MIXED_EXAMPLE, WORKFLOWS_EXAMPLE, synthesizeExampleStack } from '../../local/example-stack';
import type { LocalHandler } from '../../local/lambda';
import { LocalOrchestration, LocalOrchestrationOptions } from '../../local/orchestration';
import { withClient } from '../../local/pg';
import type { LocalExecution } from '../../local/step-functions';
import { RETURNS_VIEW, WAREHOUSE_VIEWS, createReturns, createWarehouse, demandRows, samplePipelines, staleViews } from '../../local/warehouse';
import type { RefreshReport } from '../../src/shared/contract';

const REFRESH_STATE = 'Refresh materialized views';
const ALL_VIEWS = [...WAREHOUSE_VIEWS, RETURNS_VIEW].sort();
/** The views that read `warehouse.demand`, directly or through other views. */
const DEMAND_VIEWS = ['warehouse.coverage_summary', 'warehouse.daily_demand', 'warehouse.demand_by_product', 'warehouse.demand_by_region', 'warehouse.executive_dashboard'];
const selective = { schemas: ['warehouse'], onlyChangedTables: true };

let database: ClientConfig;
const opened: LocalOrchestration[] = [];
let batches = 0;

beforeAll(async () => {
  database = await createTestDatabase('e2e_shapes');
  await createWarehouse(database);
  await createReturns(database);
});

// Every test starts with every view current, so a stale view afterwards is one the run left out.
beforeEach(async () => {
  await withClient(database, async (client) => {
    for (const view of [...WAREHOUSE_VIEWS, RETURNS_VIEW]) await client.query(`REFRESH MATERIALIZED VIEW ${view}`);
  });
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((orchestration) => orchestration.close()));
});

/** Synthesizes the example stack once for a describe block. */
function sharedStack(props: Omit<ExampleStackProps, 'database'>): () => ExampleStack {
  let stack: ExampleStack | undefined;
  beforeAll(() => {
    stack = synthesizeExampleStack({ database, ...props });
  });
  return () => stack!;
}

function orchestrate(stack: ExampleStack, options: Omit<LocalOrchestrationOptions, 'database'>): LocalOrchestration {
  const orchestration = LocalOrchestration.fromStack({ database, retryIntervalMs: 20, ...options }, stack);
  opened.push(orchestration);
  return orchestration;
}

/** A batch name of its own for each run, so no two runs insert the same rows. */
function nextBatch(): string {
  return `shape-${++batches}`;
}

/** Glue job work: loads the Demand batch, or one row of returns. */
const loadDemand = (batch: string) => () => withClient(database, async (client) => {
  for (const row of demandRows(batch)) {
    await client.query('INSERT INTO warehouse.demand (batch, region, product, quantity, demand_date) VALUES ($1, $2, $3, $4, CURRENT_DATE)',
      [batch, row.region, row.product, row.quantity]);
  }
});
const loadReturns = () => withClient(database, (client) => client.query("INSERT INTO warehouse.returns VALUES ('north', 2)")).then(() => undefined);

function refreshedViews(execution: LocalExecution): string[] {
  const report = execution.output as RefreshReport;
  expect(report.views.every((view) => view.status === 'refreshed')).toBe(true);
  return report.views.map((view) => view.view).sort();
}

function targets(execution: LocalExecution): string[] {
  return execution.invocations.map((call) => `${call.state} -> ${call.target}`).sort();
}

describe('only Glue jobs', () => {
  describe('that list the tables they write', () => {
    const stack = sharedStack({ pipelineKinds: 'glue', refresh: selective });

    test('both jobs run, then only the views downstream of their tables are refreshed', async () => {
      const batch = nextBatch();
      const orchestration = orchestrate(stack(), { pipelineKinds: 'glue', jobs: { Demand: loadDemand(batch), Orders: loadReturns } });

      const execution = await orchestration.run({ batch });

      expect(execution.status).toBe('SUCCEEDED');
      expect(targets(execution)).toEqual([
        'List running executions -> sfn:listExecutions',
        `${REFRESH_STATE} -> itc-example-refresh`,
        `Run pipeline Demand -> glue:${GLUE_EXAMPLE.demandJobName}`,
        `Run pipeline Orders -> glue:${MIXED_EXAMPLE.glueJobName}`,
      ]);
      const report = execution.output as RefreshReport;
      expect(report.selection).toEqual(expect.objectContaining({ basis: 'tables' }));
      expect(report.selection.tables?.map((table) => table.table)).toEqual(['warehouse.demand', 'warehouse.returns']);
      expect(refreshedViews(execution)).toEqual([...DEMAND_VIEWS, RETURNS_VIEW].sort());
      expect(await staleViews(database)).toEqual([]);
    });

    test('a failed job run fails its branch and the execution, and nothing is refreshed', async () => {
      const batch = nextBatch();
      const orchestration = orchestrate(stack(), {
        pipelineKinds: 'glue',
        jobs: { Demand: loadDemand(batch), Orders: () => { throw new Error('bad input file'); } },
      });

      const execution = await orchestration.run({ batch });

      expect(execution.status).toBe('FAILED');
      expect(execution.error).toBe('PipelineFailed');
      expect(execution.cause).toMatch(/^\[Orders failed with States\.TaskFailed: \{.*"JobRunState":"FAILED".*bad input file/);
      expect(execution.cause!.match(/\[\w+ failed with/g)).toEqual(['[Orders failed with']);
      // The branch catches its task's failure and fails the execution after every branch ended.
      expect(execution.states.find((state) => state.name === 'Run pipeline Orders')).toMatchObject({ outcome: 'caught' });
      expect(execution.states.find((state) => state.name === 'Run pipeline Demand')).toMatchObject({ outcome: 'succeeded' });
      expect(execution.states.map((state) => state.name)).not.toContain(REFRESH_STATE);
      // Demand's rows are in, but no view caught up with them.
      expect(await staleViews(database)).toEqual(expect.arrayContaining(['warehouse.demand_by_region']));
    });
  });

  describe('that say nothing of their tables', () => {
    const stack = sharedStack({ pipelineKinds: 'glue', glueJobTables: 'unknown', refresh: selective });

    test('every view is refreshed, the reason naming each job', async () => {
      const batch = nextBatch();
      const orchestration = orchestrate(stack(), { pipelineKinds: 'glue', jobs: { Demand: loadDemand(batch), Orders: loadReturns } });

      const execution = await orchestration.run({ batch });

      expect(execution.status).toBe('SUCCEEDED');
      expect((execution.output as RefreshReport).selection).toEqual({
        basis: 'configured',
        reason: 'not every pipeline reported its changed tables: Demand does not report its changed tables; Orders does not report its changed tables',
      });
      expect(refreshedViews(execution)).toEqual(ALL_VIEWS);
      expect(await staleViews(database)).toEqual([]);
    });
  });
});

describe('only nested workflows', () => {
  const stack = sharedStack({ pipelineKinds: 'workflows', refresh: selective });
  /** The nested workflows' functions, the Demand one reporting `warehouse.demand`, the VerifyPlus one `verify`. */
  const functions = (verify: unknown): LocalOrchestrationOptions['pipelines'] => {
    const sample = samplePipelines(database);
    const reporting = (handler: LocalHandler, changedTables: unknown): LocalHandler =>
      async (event, context) => ({ ...(await handler(event, context) as object), ...(changedTables === undefined ? {} : { changedTables }) });
    return { Demand: reporting(sample.Demand, ['warehouse.demand']), VerifyPlus: reporting(sample.VerifyPlus, verify) };
  };

  test('both workflows run their functions, then only the views of the tables they report are refreshed', async () => {
    const orchestration = orchestrate(stack(), { pipelineKinds: 'workflows', pipelines: functions([]) });

    const execution = await orchestration.run({ batch: nextBatch() });

    expect(execution.status).toBe('SUCCEEDED');
    expect(targets(execution)).toEqual([
      'List running executions -> sfn:listExecutions',
      `${REFRESH_STATE} -> itc-example-refresh`,
      `Run pipeline Demand -> states:${WORKFLOWS_EXAMPLE.demandStateMachineName}`,
      `Run pipeline Verify -> states:${WORKFLOWS_EXAMPLE.verifyStateMachineName}`,
    ]);
    expect((execution.output as RefreshReport).selection.tables?.map((table) => table.table)).toEqual(['warehouse.demand']);
    expect(refreshedViews(execution)).toEqual(DEMAND_VIEWS);
    // verify_plus got rows, but its workflow reported no change: its view keeps its old rows.
    expect(await staleViews(database)).toEqual(['warehouse.verification_by_region']);
  });

  test('a workflow whose output has no list refreshes every view, the reason naming it', async () => {
    const orchestration = orchestrate(stack(), { pipelineKinds: 'workflows', pipelines: functions(undefined) });

    const execution = await orchestration.run({ batch: nextBatch() });

    expect(execution.status).toBe('SUCCEEDED');
    expect((execution.output as RefreshReport).selection).toEqual({
      basis: 'configured',
      reason: 'not every pipeline reported its changed tables: Verify returned no changedTables',
    });
    expect(refreshedViews(execution)).toEqual(ALL_VIEWS);
    expect(await staleViews(database)).toEqual([]);
  });

  test('a failed nested execution fails its branch and the execution, and nothing is refreshed', async () => {
    const orchestration = orchestrate(stack(), {
      pipelineKinds: 'workflows',
      pipelines: { ...functions([]), VerifyPlus: () => { throw new Error('checks failed'); } },
    });

    const execution = await orchestration.run({ batch: nextBatch() });

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PipelineFailed');
    expect(execution.cause).toMatch(/^\[Verify failed with States\.TaskFailed: \{.*"Status":"FAILED".*checks failed/);
    expect(execution.cause!.match(/\[\w+ failed with/g)).toEqual(['[Verify failed with']);
    expect(execution.states.find((state) => state.name === 'Run pipeline Verify')).toMatchObject({ outcome: 'caught' });
    expect(execution.states.map((state) => state.name)).not.toContain(REFRESH_STATE);
    expect(await staleViews(database)).toEqual(expect.arrayContaining(['warehouse.demand_by_region']));
  });
});

describe('no pipeline: a refresh-only schedule', () => {
  const stack = sharedStack({ pipelineKinds: 'none', refresh: selective });

  test('nothing but the refresh runs, and it refreshes every view, saying why', async () => {
    await loadDemand(nextBatch())();
    await loadReturns();
    const orchestration = orchestrate(stack(), { pipelineKinds: 'none' });

    const execution = await orchestration.run({});

    expect(execution.status).toBe('SUCCEEDED');
    expect(targets(execution)).toEqual([
      'List running executions -> sfn:listExecutions',
      `${REFRESH_STATE} -> itc-example-refresh`,
    ]);
    expect(execution.states.map((state) => state.name).filter((name) => name.startsWith('Run pipeline'))).toEqual([]);
    expect((execution.output as RefreshReport).selection).toEqual({ basis: 'configured', reason: 'the orchestrator has no pipelines' });
    expect(refreshedViews(execution)).toEqual(ALL_VIEWS);
    expect(await staleViews(database)).toEqual([]);
  });
});
