/**
 * End to end with `refresh.detectChangesInDatabase`: the example stack's synthesized state machine runs in
 * aws-local-stepfunctions, the pipelines report nothing, and the refresh step is the real bundled handler, in a
 * local function or, in Fargate mode, the task's bootstrap in a child process.
 */
import { Duration } from 'aws-cdk-lib';
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import type { LocalHandler } from '../../local/lambda';
import { embeddedMetricDatapoints, metricFilterDatapoints, metricFilters } from '../../local/metric-filter';
import { LocalOrchestration } from '../../local/orchestration';
import { withClient } from '../../local/pg';
import { createWarehouse, samplePipelines, staleViews, WAREHOUSE_VIEWS } from '../../local/warehouse';
import { RefreshCompute } from '../../src';
import { RefreshMetric, RefreshReport } from '../../src/shared/contract';

const opened: LocalOrchestration[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((orchestration) => orchestration.close()));
});

test.each([
  ['the refresh function', undefined],
  ['the Fargate task', RefreshCompute.fargate({ runTimeout: Duration.minutes(1) })],
])('%s refreshes what the database shows changed: everything at first, then only the views of a plain SQL write, then nothing', async (_compute, refreshCompute) => {
  const database: ClientConfig = await createTestDatabase('e2e_detect');
  await createWarehouse(database);
  await withClient(database, (client) => client.query(`
    CREATE TABLE warehouse.returns (region text NOT NULL, quantity integer NOT NULL);
    CREATE MATERIALIZED VIEW warehouse.returns_by_region AS
      SELECT region, sum(quantity)::bigint AS quantity FROM warehouse.returns GROUP BY region;
  `));
  // The pipelines load data on the first execution only, and never say what they changed.
  let load = true;
  const lines: string[] = [];
  const quiet = (handler: LocalHandler): LocalHandler => async (event, context) => (load ? handler(event, context) : {});
  const sample = samplePipelines(database);
  const orchestration = LocalOrchestration.create({
    database,
    retryIntervalMs: 20,
    refresh: { schemas: ['warehouse'], detectChangesInDatabase: true },
    pipelines: { Demand: quiet(sample.Demand), VerifyPlus: quiet(sample.VerifyPlus) },
    refreshCompute,
    onRefreshLog: (line) => lines.push(line),
  });
  opened.push(orchestration);
  const refreshed = (report: RefreshReport) => report.views.filter((view) => view.status === 'refreshed').map((view) => view.view).sort();

  const first = await orchestration.run({ batch: 'nightly' });
  expect(first.status).toBe('SUCCEEDED');
  expect(refreshed(first.output as RefreshReport)).toEqual([...WAREHOUSE_VIEWS, 'warehouse.returns_by_region'].sort());
  expect(await staleViews(database)).toEqual([]);

  load = false;
  await withClient(database, (client) => client.query("INSERT INTO warehouse.returns VALUES ('north', 3)"));
  const second = await orchestration.run({ batch: 'nightly' });
  expect(second.status).toBe('SUCCEEDED');
  const report = second.output as RefreshReport;
  expect(refreshed(report)).toEqual(['warehouse.returns_by_region']);
  expect(report.selection.changes).toMatchObject({ selected: 1, unchanged: WAREHOUSE_VIEWS.length });
  expect(report.selection.changes!.views[0]).toEqual({ view: 'warehouse.returns_by_region', decision: 'changed', sources: ['warehouse.returns'] });

  const third = await orchestration.run({ batch: 'nightly' });
  expect(third.status).toBe('SUCCEEDED');
  expect((third.output as RefreshReport).views).toEqual([]);
  expect((third.output as RefreshReport).selection.reason).toMatch(/^nothing changed/);
  if (refreshCompute) expect(orchestration.ecs!.tasks).toHaveLength(3);

  // The counts of views left unchanged reach CloudWatch on both computes: EMF on Lambda, the metric filters on Fargate.
  await Promise.all(orchestration.ecs?.tasks.map((task) => task.exited) ?? []);
  const runs = () => lines.filter((line) => line.includes(`"${RefreshMetric.RUN_SUCCEEDED}"`)).length;
  for (let waited = 0; runs() < 3 && waited < 5_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  const datapoints = refreshCompute ? metricFilterDatapoints(metricFilters(orchestration.stack.template), lines) : embeddedMetricDatapoints(lines);
  const total = (name: string, view?: string) => datapoints
    .filter((point) => point.name === name && point.dimensions[RefreshMetric.VIEW_DIMENSION] === view)
    .reduce((sum, point) => sum + point.value, 0);
  expect(total(RefreshMetric.VIEWS_UNCHANGED)).toBe(WAREHOUSE_VIEWS.length + WAREHOUSE_VIEWS.length + 1);
  expect(total(RefreshMetric.VIEW_UNCHANGED, 'warehouse.daily_demand')).toBe(2);
  expect(total(RefreshMetric.VIEW_UNCHANGED, 'warehouse.returns_by_region')).toBe(1);
}, 120_000);
