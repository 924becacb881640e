import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RefreshCompute } from '../../../src';
import { RUN_METRICS } from '../../../src/private/task-metric-filters';
import { RefreshEnv, RefreshMetric } from '../../../src/shared/contract';
import { orchestratorFixture } from '../orchestrator-fixture';

const FRESHNESS = { maxAge: Duration.hours(26), views: ['reporting.daily_totals', 'Reporting.Order'] };

/** Both computes with every alarm on the refresh engine's metrics. */
function withAlarms(refreshCompute: RefreshCompute) {
  return orchestratorFixture({ refreshCompute, freshness: FRESHNESS, alarmOnRefreshRunsSkippedByLock: true, resourcePrefix: 'itc-nightly' });
}

/** Each alarm by logical ID: what it watches, with the compute's own dimension left out. */
function alarmsWithoutComputeDimension(template: Template, computeDimension: string) {
  return Object.fromEntries(Object.entries(template.findResources('AWS::CloudWatch::Alarm')).map(([id, alarm]) => {
    const { Dimensions = [], ...watched } = alarm.Properties;
    return [id, { ...watched, Dimensions: Dimensions.filter((dimension: { Name: string }) => dimension.Name !== computeDimension) }];
  }));
}

function dimensionsOf(template: Template, alarmName: string): Record<string, unknown> {
  const [alarm] = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: alarmName } }));
  return Object.fromEntries(alarm.Properties.Dimensions.map((dimension: { Name: string; Value: unknown }) => [dimension.Name, dimension.Value]));
}

describe('the refresh engine\'s metrics and alarms on both computes', () => {
  const lambda = withAlarms(RefreshCompute.lambda());
  const fargate = withAlarms(RefreshCompute.fargate());

  test('the same alarms, on the same metrics, with the same thresholds: only the compute\'s dimension differs', () => {
    const onLambda = alarmsWithoutComputeDimension(lambda.template, RefreshMetric.FUNCTION_DIMENSION);
    const onFargate = alarmsWithoutComputeDimension(fargate.template, RefreshMetric.TASK_FAMILY_DIMENSION);
    expect(Object.keys(onFargate).sort()).toEqual(Object.keys(onLambda).sort());
    expect(onFargate).toEqual(onLambda);
    const names = Object.values(onFargate).map((alarm: any) => alarm.AlarmName).sort();
    expect(names).toEqual(['itc-nightly-executions-aborted', 'itc-nightly-executions-failed', 'itc-nightly-executions-throttled',
      'itc-nightly-executions-timed-out', 'itc-nightly-runs-skipped-by-lock', 'itc-nightly-view-stale-reporting."order"',
      'itc-nightly-view-stale-reporting.daily_totals', 'itc-nightly-views-stale']);
  });

  test('on Lambda the alarms watch the function\'s metrics; on Fargate those of the task definition family', () => {
    const family = fargate.orchestrator.refreshTaskDefinition!.family;
    expect(dimensionsOf(fargate.template, 'itc-nightly-views-stale')).toEqual({ service: RefreshMetric.SERVICE, TaskDefinitionFamily: 'itc-nightly-refresh' });
    expect(family).toBe('itc-nightly-refresh');
    expect(dimensionsOf(fargate.template, 'itc-nightly-view-stale-reporting.daily_totals'))
      .toEqual({ service: RefreshMetric.SERVICE, TaskDefinitionFamily: family, View: 'reporting.daily_totals' });
    expect(dimensionsOf(lambda.template, 'itc-nightly-views-stale'))
      .toEqual({ service: RefreshMetric.SERVICE, FunctionName: { Ref: lambda.template.getResourceId('AWS::Lambda::Function', { Properties: { FunctionName: 'itc-nightly-refresh' } }) } });
  });

  test('every metric method gives the same metric names on both computes', () => {
    const methods = (orchestrator: typeof lambda.orchestrator) => [
      orchestrator.metric('ViewsFailed'),
      orchestrator.metricRefreshRunsSkippedByLock(),
      orchestrator.metricViewsRefreshed(),
      orchestrator.metricRefreshRunsSucceeded(),
      orchestrator.metricViewRefreshed('reporting.daily_totals'),
    ].map((metric) => ({ namespace: metric.namespace, name: metric.metricName, statistic: metric.statistic, view: metric.dimensions?.View }));
    expect(methods(fargate.orchestrator)).toEqual(methods(lambda.orchestrator));
    expect(fargate.orchestrator.metricViewsRefreshed().dimensions)
      .toEqual({ service: RefreshMetric.SERVICE, TaskDefinitionFamily: 'itc-nightly-refresh' });
  });

  test('the task tells the engine its family, and one metric filter per run metric reads the engine\'s lines from the task\'s log group', () => {
    const [, taskDefinition] = Object.entries(fargate.template.findResources('AWS::ECS::TaskDefinition'))[0];
    const environment = taskDefinition.Properties.ContainerDefinitions[0].Environment;
    expect(environment).toContainEqual({ Name: RefreshEnv.TASK_FAMILY, Value: 'itc-nightly-refresh' });

    const logGroupId = fargate.template.getResourceId('AWS::Logs::LogGroup', { Properties: { LogGroupName: '/ecs/itc-nightly-refresh' } });
    const filters = Object.values(fargate.template.findResources('AWS::Logs::MetricFilter'));
    expect(filters).toHaveLength(RUN_METRICS.length);
    for (const { name, unit, perView } of RUN_METRICS) {
      fargate.template.hasResourceProperties('AWS::Logs::MetricFilter', {
        LogGroupName: { Ref: logGroupId },
        FilterPattern: `{ ($.service = "itc-orchestrator-refresh") && ($.TaskDefinitionFamily = "itc-nightly-refresh") && ($.${name} >= 0) }`,
        MetricTransformations: [{
          MetricNamespace: 'ItcOrchestrator',
          MetricName: name,
          MetricValue: `$.${name}`,
          Unit: unit,
          Dimensions: [
            { Key: 'service', Value: '$.service' },
            { Key: 'TaskDefinitionFamily', Value: '$.TaskDefinitionFamily' },
            ...(perView ? [{ Key: 'View', Value: '$.View' }] : []),
          ],
        }],
      });
    }
    // The function's metrics come from its Embedded Metric Format lines: no filter.
    lambda.template.resourceCountIs('AWS::Logs::MetricFilter', 0);
  });
});
