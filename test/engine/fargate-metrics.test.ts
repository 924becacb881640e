/**
 * The refresh engine's metrics on both computes, end to end: the example stack with freshness alarms and the
 * skipped-by-lock alarm runs once on each compute. On Lambda CloudWatch extracts the function's Embedded Metric
 * Format lines; on Fargate the task writes the same lines to its log group, where the synthesized metric filters
 * read them. Both give every alarm on the engine's metrics the values it watches.
 */
import { Duration } from 'aws-cdk-lib';
import { createTestDatabase } from './support/database';
import { Datapoint, embeddedMetricDatapoints, metricFilterDatapoints, metricFilters, sumOf } from '../../local/metric-filter';
import { LocalOrchestration } from '../../local/orchestration';
import { TemplateResolver } from '../../local/template';
import { createWarehouse } from '../../local/warehouse';
import { RefreshCompute } from '../../src';
import { RefreshMetric, RefreshReport } from '../../src/shared/contract';

const FRESH_VIEWS = ['warehouse.daily_demand', 'warehouse.executive_dashboard'];
const ALARMS = { freshness: { maxAge: Duration.hours(26), views: FRESH_VIEWS }, alarmOnRefreshRunsSkippedByLock: true };

const opened: LocalOrchestration[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((orchestration) => orchestration.close()));
});

interface WatchedAlarm {
  readonly name: string;
  readonly metric: { namespace: string; name: string; dimensions: Record<string, string> };
  readonly threshold: number;
  readonly operator: string;
}

/** One successful execution; the refresh's log lines once the run's metrics are among them. */
async function runOnce(refreshCompute: RefreshCompute) {
  const database = await createTestDatabase('metrics');
  await createWarehouse(database);
  const lines: string[] = [];
  const orchestration = LocalOrchestration.create({ database, refreshCompute, alarms: ALARMS, onRefreshLog: (line) => lines.push(line) });
  opened.push(orchestration);
  const execution = await orchestration.run({ batch: 'nightly' });
  expect(execution.status).toBe('SUCCEEDED');
  await orchestration.ecs?.tasks[0].exited;
  // The function's output reaches the log through a pipe that may trail its answer.
  for (let waited = 0; !lines.some((line) => line.includes(`"${RefreshMetric.RUN_SUCCEEDED}"`)) && waited < 5_000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const template = orchestration.stack.template;
  const resolver = new TemplateResolver(template, orchestration.stack.stackName);
  // The alarms on the engine's metrics, with the function's name resolved as CloudFormation would.
  const alarms: WatchedAlarm[] = Object.values(template.Resources ?? {})
    .filter((resource) => resource.Type === 'AWS::CloudWatch::Alarm' && (resource.Properties as any).Namespace === RefreshMetric.NAMESPACE)
    .map((resource) => {
      const properties = resource.Properties as any;
      return {
        name: properties.AlarmName,
        metric: {
          namespace: properties.Namespace,
          name: properties.MetricName,
          dimensions: Object.fromEntries(properties.Dimensions.map((dimension: { Name: string; Value: unknown }) => [dimension.Name,
            typeof dimension.Value === 'string' ? dimension.Value : resolver.functionName((dimension.Value as { Ref: string }).Ref)])),
        },
        threshold: properties.Threshold,
        operator: properties.ComparisonOperator,
      };
    });
  return { report: execution.output as RefreshReport, lines, template, alarms };
}

function breaching(alarm: WatchedAlarm, sum: number): boolean {
  switch (alarm.operator) {
    case 'LessThanThreshold': return sum < alarm.threshold;
    case 'GreaterThanOrEqualToThreshold': return sum >= alarm.threshold;
    default: throw new Error(`Unexpected comparison ${alarm.operator}`);
  }
}

/** The datapoints without the compute's own dimension, and without the run's duration, whose value varies. */
function comparable(datapoints: readonly Datapoint[]) {
  return datapoints
    .filter((datapoint) => datapoint.name !== RefreshMetric.RUN_DURATION)
    .map(({ dimensions, ...rest }) => {
      const { [RefreshMetric.FUNCTION_DIMENSION]: _fn, [RefreshMetric.TASK_FAMILY_DIMENSION]: _family, ...shared } = dimensions;
      return { ...rest, dimensions: shared };
    })
    .map((datapoint) => JSON.stringify(datapoint))
    .sort();
}

test('a Fargate run\'s log, through the synthesized metric filters, gives every alarm on the engine\'s metrics the values the function\'s would', async () => {
  const fargate = await runOnce(RefreshCompute.fargate({ runTimeout: Duration.minutes(2) }));
  const lambda = await runOnce(RefreshCompute.lambda());

  const filters = metricFilters(fargate.template);
  expect(filters.map((filter) => filter.name).sort()).toEqual([
    'RunDuration', 'RunsSkippedByLock', 'RunsSucceeded', 'ViewRefreshed', 'ViewUnchanged', 'ViewsFailed', 'ViewsRefreshed', 'ViewsSkipped', 'ViewsUnchanged',
  ]);
  const fromFilters = metricFilterDatapoints(filters, fargate.lines);
  const fromEmf = embeddedMetricDatapoints(lambda.lines);

  // The same alarms on both computes: the freshness alarm, one per listed view, and the skipped-by-lock alarm.
  expect(fargate.alarms.map((alarm) => alarm.name).sort()).toEqual(lambda.alarms.map((alarm) => alarm.name).sort());
  expect(fargate.alarms).toHaveLength(2 + FRESH_VIEWS.length);
  for (const [run, datapoints] of [[fargate, fromFilters], [lambda, fromEmf]] as const) {
    for (const alarm of run.alarms) {
      const sum = sumOf(datapoints, alarm.metric);
      // Each alarm gets data, and a run that refreshed every view leaves it OK.
      expect({ alarm: alarm.name, sum }).toEqual({ alarm: alarm.name, sum: expect.any(Number) });
      expect({ alarm: alarm.name, breaching: breaching(alarm, sum!) }).toEqual({ alarm: alarm.name, breaching: false });
    }
  }
  const family = fargate.alarms.find((alarm) => alarm.metric.name === RefreshMetric.RUN_SUCCEEDED)!.metric.dimensions;
  expect(family).toEqual({ service: RefreshMetric.SERVICE, TaskDefinitionFamily: 'itc-example-refresh' });
  expect(sumOf(fromFilters, { namespace: RefreshMetric.NAMESPACE, name: RefreshMetric.VIEWS_REFRESHED, dimensions: family }))
    .toBe(fargate.report.totals.refreshed);
  expect(sumOf(fromFilters, { namespace: RefreshMetric.NAMESPACE, name: RefreshMetric.RUN_DURATION, dimensions: family }))
    .toBeGreaterThan(0);

  // Every metric the filters publish carries the same name, value and dimensions as the function's, but for the compute's own.
  const runMetrics = new Set(filters.map((filter) => filter.name));
  expect(comparable(fromFilters)).toEqual(comparable(fromEmf.filter((datapoint) =>
    runMetrics.has(datapoint.name) && datapoint.dimensions[RefreshMetric.FUNCTION_DIMENSION] !== undefined)));
});
