/**
 * End to end: the example stack's synthesized state machine runs in aws-local-stepfunctions,
 * the refresh step is the real bundled handler, and every assertion reads the database.
 */
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { LocalOrchestration, LocalOrchestrationOptions } from '../../local/orchestration';
import { withClient } from '../../local/pg';
import { formatRunReport } from '../../local/report';
import type { LocalExecution } from '../../local/step-functions';
import { createWarehouse, demandRows, readViews, samplePipelines, staleViews, verificationRows } from '../../local/warehouse';
import { RefreshErrors, RefreshReport } from '../../src/shared/contract';

const REFRESH_FUNCTION = 'itc-example-refresh';
const opened: LocalOrchestration[] = [];

type Options = Partial<LocalOrchestrationOptions>;
interface TestOrchestration {
  readonly database: ClientConfig;
  readonly orchestration: LocalOrchestration;
}

/** A fresh warehouse and the example stack synthesized against it; options may depend on the database. */
async function setUp(options: Options | ((database: ClientConfig) => Options) = {}): Promise<TestOrchestration> {
  const database = await createTestDatabase('e2e');
  await createWarehouse(database);
  const resolved = typeof options === 'function' ? options(database) : options;
  const orchestration = LocalOrchestration.create({ database, retryIntervalMs: 20, ...resolved });
  opened.push(orchestration);
  return { database, orchestration };
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((orchestration) => orchestration.close()));
});

async function count(database: ClientConfig, sql: string, params: unknown[] = []): Promise<number> {
  return withClient(database, async (client) => Number((await client.query<{ n: string }>(sql, params)).rows[0].n));
}

function invocationsOf(execution: LocalExecution, target: string) {
  return execution.invocations.filter((invocation) => invocation.target === target);
}

test('a run loads both pipelines, then refreshes every view to match the tables', async () => {
  const { database, orchestration } = await setUp({ pipelineWorkMs: 300 });
  expect(await staleViews(database)).toEqual(['warehouse.demand_by_product', 'warehouse.executive_dashboard']);

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('SUCCEEDED');
  expect(await staleViews(database)).toEqual([]);
  // The pipelines' rows are in the views, not only in the tables.
  const batchQuantity = demandRows('nightly').reduce((sum, row) => sum + row.quantity, 0);
  expect(await count(database, "SELECT sum(quantity) AS n FROM warehouse.demand WHERE batch = 'nightly'")).toBe(batchQuantity);
  const tableTotal = await count(database, 'SELECT sum(quantity) AS n FROM warehouse.demand');
  const checks = await count(database, 'SELECT count(*) AS n FROM warehouse.verify_plus');
  const dashboard = await withClient(database, async (client) =>
    (await client.query('SELECT total_quantity, checks, top_product FROM warehouse.executive_dashboard')).rows);
  expect(dashboard).toEqual([{ total_quantity: String(tableTotal), checks: String(checks), top_product: expect.any(String) }]);
  expect(checks).toBe(2 + verificationRows('nightly').length);

  // The output is the refresh report: populated views with a unique index went CONCURRENTLY.
  const report = execution.output as RefreshReport;
  expect(report.totals).toEqual({ selected: 6, refreshed: 6, failed: 0, skipped: 0 });
  // A run this small lists every view.
  expect(report.viewsOmitted).toBe(0);
  expect(report.views).toHaveLength(6);
  const concurrently = Object.fromEntries(report.views.map((view) => [view.view, view.concurrently]));
  expect(concurrently).toEqual({
    'warehouse.demand_by_region': true,
    'warehouse.verification_by_region': true,
    'warehouse.daily_demand': true,
    'warehouse.demand_by_product': false,
    'warehouse.coverage_summary': false,
    'warehouse.executive_dashboard': false,
  });

  // Both pipelines ran at the same time; the refresh started after both had finished.
  const [demand] = invocationsOf(execution, 'itc-example-demand');
  const [verifyPlus] = invocationsOf(execution, 'itc-example-verify-plus');
  const [refresh] = invocationsOf(execution, REFRESH_FUNCTION);
  expect(demand.startedAt).toBeLessThan(verifyPlus.endedAt!);
  expect(verifyPlus.startedAt).toBeLessThan(demand.endedAt!);
  expect(refresh.startedAt).toBeGreaterThanOrEqual(Math.max(demand.endedAt!, verifyPlus.endedAt!));

  // The printed report shows the same: overlapping pipeline bars, the refresh bar after them, one row per view.
  const printed = formatRunReport(execution, orchestration.stateMachine.definition).split('\n');
  const bar = (state: string) => {
    const cells = printed.find((line) => line.trimStart().startsWith(`${state} `) && line.includes('|'))!.split('|')[1];
    return { from: cells.indexOf('█'), to: cells.lastIndexOf('█') };
  };
  expect(bar('Run pipeline Demand').from).toBeLessThanOrEqual(bar('Run pipeline VerifyPlus').to);
  expect(bar('Run pipeline VerifyPlus').from).toBeLessThanOrEqual(bar('Run pipeline Demand').to);
  expect(bar('Refresh materialized views').from).toBeGreaterThanOrEqual(Math.max(bar('Run pipeline Demand').to, bar('Run pipeline VerifyPlus').to));
  expect(printed.filter((line) => /^ {2}warehouse\.\w+ +refreshed +CONCURRENTLY /.test(line))).toHaveLength(3);
  expect(printed.filter((line) => /^ {2}warehouse\.\w+ +refreshed +plain /.test(line))).toHaveLength(3);
});

test('a failed pipeline fails the run naming it, and the refresh never runs', async () => {
  const { database, orchestration } = await setUp({
    pipelines: {
      Demand: () => {
        throw Object.assign(new Error('the demand feed returned HTTP 503'), { name: 'DemandFeedUnavailable' });
      },
    },
  });
  const before = await readViews(database);

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('FAILED');
  expect(execution.error).toBe('PipelineFailed');
  expect(execution.cause).toContain('Demand failed with DemandFeedUnavailable');
  expect(execution.cause).toContain('the demand feed returned HTTP 503');
  expect(execution.cause).not.toContain('VerifyPlus');
  expect(invocationsOf(execution, REFRESH_FUNCTION)).toEqual([]);
  // VerifyPlus loaded its rows, yet no view changed: the tables moved on without the views.
  expect(await count(database, "SELECT count(*) AS n FROM warehouse.verify_plus WHERE batch = 'nightly'")).toBe(verificationRows('nightly').length);
  expect(await readViews(database)).toEqual(before);
  expect(await staleViews(database)).toContain('warehouse.verification_by_region');
});

test('a view whose refresh fails fails the run naming it; its dependents are skipped, the others refreshed', async () => {
  const { database, orchestration } = await setUp((db) => {
    const sample = samplePipelines(db);
    return {
      pipelines: {
        // Demand loads its batch plus one row that the data-quality guard of demand_by_region rejects.
        Demand: async (event, context) => {
          const result = await sample.Demand(event, context);
          await withClient(db, (client) => client.query(
            "INSERT INTO warehouse.demand (batch, region, product, quantity, demand_date) VALUES ('nightly', 'north', 'widget', -5, CURRENT_DATE)"));
          return result;
        },
      },
    };
  });
  const before = await readViews(database);

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('FAILED');
  expect(execution.error).toBe(RefreshErrors.VIEWS_FAILED);
  const cause = JSON.parse(execution.cause!) as { errorType: string; errorMessage: string };
  expect(cause.errorType).toBe(RefreshErrors.VIEWS_FAILED);
  expect(cause.errorMessage).toContain('warehouse.demand_by_region');
  expect(cause.errorMessage).toContain('demand quantity must not be negative');
  // Its dependents were skipped, not attempted: the report in the error says so view by view.
  expect(cause.errorMessage).toContain('(1 failed, 2 skipped, 3 refreshed)');
  expect(cause.errorMessage).toMatch(/warehouse\.coverage_summary skipped: /);
  expect(cause.errorMessage).toMatch(/warehouse\.executive_dashboard skipped: /);
  // A failed view is not retried by the state machine.
  expect(invocationsOf(execution, REFRESH_FUNCTION)).toHaveLength(1);

  const after = await readViews(database);
  // The failed view and everything downstream of it keep their previous contents.
  for (const view of ['warehouse.demand_by_region', 'warehouse.coverage_summary', 'warehouse.executive_dashboard']) {
    expect(after[view]).toEqual(before[view]);
  }
  expect(after['warehouse.executive_dashboard']).toBeNull();
  // The views that do not depend on it were refreshed.
  const stale = await staleViews(database);
  expect(stale.sort()).toEqual(['warehouse.coverage_summary', 'warehouse.demand_by_region', 'warehouse.executive_dashboard']);
});

test('of two runs started together, the second ends as skipped and loads nothing', async () => {
  const { database, orchestration } = await setUp({ pipelineWorkMs: 300 });

  const [first, second] = await Promise.all([orchestration.run({ batch: 'first' }), orchestration.run({ batch: 'second' })]);

  expect(first.status).toBe('SUCCEEDED');
  expect((first.output as RefreshReport).status).toBe('succeeded');
  expect(second.status).toBe('SUCCEEDED');
  expect(second.output).toEqual({ status: 'skipped', reason: expect.any(String), runningExecutionArn: first.executionArn });
  expect(second.invocations.map((invocation) => invocation.target)).toEqual(['sfn:listExecutions']);
  expect(await count(database, "SELECT count(*) AS n FROM warehouse.demand WHERE batch = 'second'")).toBe(0);
  expect(await count(database, "SELECT count(*) AS n FROM warehouse.demand WHERE batch = 'first'")).toBe(demandRows('first').length);
  expect(await staleViews(database)).toEqual([]);
});

test('a run started while another is loading ends as skipped', async () => {
  const { database, orchestration } = await setUp({ pipelineWorkMs: 800 });

  const first = orchestration.run({ batch: 'first' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const second = await orchestration.run({ batch: 'second' });
  const firstDone = await first;

  expect(second.output).toMatchObject({ status: 'skipped', runningExecutionArn: firstDone.executionArn });
  expect(second.stopDate!.getTime()).toBeLessThan(firstDone.stopDate!.getTime());
  expect(firstDone.status).toBe('SUCCEEDED');
  expect(await count(database, "SELECT count(*) AS n FROM warehouse.demand WHERE batch = 'second'")).toBe(0);
  expect(await count(database, "SELECT count(*) AS n FROM warehouse.verify_plus WHERE batch = 'second'")).toBe(0);
});

test('a pipeline throttled once by Lambda is retried and the run succeeds', async () => {
  const { database, orchestration } = await setUp();
  orchestration.throttle('Demand');

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('SUCCEEDED');
  const demand = invocationsOf(execution, 'itc-example-demand');
  expect(demand.map((invocation) => invocation.error)).toEqual(['Lambda.TooManyRequestsException', undefined]);
  expect(execution.states.find((state) => state.name === 'Run pipeline Demand')).toMatchObject({ outcome: 'succeeded', attempts: 2 });
  // The throttled invocation never ran: the batch is loaded once.
  expect(await count(database, "SELECT count(*) AS n FROM warehouse.demand WHERE batch = 'nightly'")).toBe(demandRows('nightly').length);
  expect(await staleViews(database)).toEqual([]);
  expect((execution.output as RefreshReport).totals.refreshed).toBe(6);
});
