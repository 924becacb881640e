import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { RefreshMetric } from '../shared/contract';

/**
 * The metrics the handler publishes once per run (with the service and compute dimensions), and the one per
 * refreshed view (with the `View` dimension as well): those `ItcOrchestrator.metric()` offers on both computes, each
 * published on Fargate by a metric filter.
 */
export const RUN_METRICS: ReadonlyArray<{ readonly name: string; readonly unit: 'Count' | 'Milliseconds'; readonly perView?: boolean }> = [
  { name: RefreshMetric.VIEWS_REFRESHED, unit: 'Count' },
  { name: RefreshMetric.VIEWS_FAILED, unit: 'Count' },
  { name: RefreshMetric.VIEWS_SKIPPED, unit: 'Count' },
  { name: RefreshMetric.RUN_DURATION, unit: 'Milliseconds' },
  { name: RefreshMetric.RUN_SUCCEEDED, unit: 'Count' },
  { name: RefreshMetric.RUNS_SKIPPED_BY_LOCK, unit: 'Count' },
  { name: RefreshMetric.VIEW_REFRESHED, unit: 'Count', perView: true },
  { name: RefreshMetric.VIEWS_UNCHANGED, unit: 'Count' },
  { name: RefreshMetric.VIEW_UNCHANGED, unit: 'Count', perView: true },
];

/** The lineage metrics of a run, published on Fargate by a metric filter each when lineage is on. */
export const LINEAGE_METRICS: ReadonlyArray<{ readonly name: string; readonly unit: 'Count' }> = [
  { name: RefreshMetric.LINEAGE_EVENTS_SENT, unit: 'Count' },
  { name: RefreshMetric.LINEAGE_EVENTS_NOT_SENT, unit: 'Count' },
];

/** The dimensions of the refresh engine's metrics from the refresh task of this task definition family. */
export function taskMetricDimensions(family: string): Record<string, string> {
  return { [RefreshMetric.SERVICE_DIMENSION]: RefreshMetric.SERVICE, [RefreshMetric.TASK_FAMILY_DIMENSION]: family };
}

/**
 * The filter pattern that picks the engine's Embedded Metric Format lines carrying `metricName` from the task of
 * `family`: JSON log events with the service, the family and the metric's value at the top level.
 */
export function taskMetricFilterPattern(family: string, metricName: string): logs.IFilterPattern {
  return logs.FilterPattern.all(
    logs.FilterPattern.stringValue(`$.${RefreshMetric.SERVICE_DIMENSION}`, '=', RefreshMetric.SERVICE),
    logs.FilterPattern.stringValue(`$.${RefreshMetric.TASK_FAMILY_DIMENSION}`, '=', family),
    logs.FilterPattern.numberValue(`$.${metricName}`, '>=', 0),
  );
}

/**
 * CloudWatch extracts Embedded Metric Format lines from Lambda's log streams only; the awslogs driver of the
 * refresh task gives it the same lines as plain JSON events. One metric filter per metric of {@link RUN_METRICS}
 * publishes them as the function's EMF would, with the task family in place of the function's name; with `lineage`,
 * those of {@link LINEAGE_METRICS} too.
 */
export function createTaskMetricFilters(scope: Construct, logGroup: logs.ILogGroup, family: string, lineage = false): logs.MetricFilter[] {
  const dimensionFields = (perView: boolean) => Object.fromEntries(
    [RefreshMetric.SERVICE_DIMENSION, RefreshMetric.TASK_FAMILY_DIMENSION, ...(perView ? [RefreshMetric.VIEW_DIMENSION] : [])]
      .map((dimension) => [dimension, `$.${dimension}`]),
  );
  return [...RUN_METRICS, ...lineage ? LINEAGE_METRICS : []].map(({ name, unit, perView }: (typeof RUN_METRICS)[number]) => new logs.MetricFilter(scope, `${name}MetricFilter`, {
    logGroup,
    metricNamespace: RefreshMetric.NAMESPACE,
    metricName: name,
    metricValue: `$.${name}`,
    unit: unit === 'Milliseconds' ? cloudwatch.Unit.MILLISECONDS : cloudwatch.Unit.COUNT,
    filterPattern: taskMetricFilterPattern(family, name),
    dimensions: dimensionFields(perView ?? false),
  }));
}
