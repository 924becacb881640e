import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { LineageTotals, RefreshEnv, RefreshMetric, RefreshReport, ReportLimits, ViewReport } from '../shared/contract';

export const SERVICE_NAME = RefreshMetric.SERVICE;
/** CloudWatch namespace of the metrics, unless POWERTOOLS_METRICS_NAMESPACE names another. */
export const DEFAULT_METRICS_NAMESPACE = RefreshMetric.NAMESPACE;

/** Structured JSON logs. Nothing logged carries a password: connection settings are never logged. */
export const logger = new Logger({ serviceName: SERVICE_NAME });

/** CloudWatch metrics in Embedded Metric Format, written to the log. */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE,
  serviceName: SERVICE_NAME,
});

export const MetricNames = {
  VIEW_DURATION: 'ViewRefreshDuration',
  REFRESHED: RefreshMetric.VIEWS_REFRESHED,
  RUN_SUCCEEDED: RefreshMetric.RUN_SUCCEEDED,
  VIEW_REFRESHED: RefreshMetric.VIEW_REFRESHED,
  FAILED: RefreshMetric.VIEWS_FAILED,
  SKIPPED: RefreshMetric.VIEWS_SKIPPED,
  RUN_SKIPPED: RefreshMetric.RUNS_SKIPPED_BY_LOCK,
  RUN_DURATION: RefreshMetric.RUN_DURATION,
  RUN_ERRORS: 'RunErrors',
  UNCHANGED: RefreshMetric.VIEWS_UNCHANGED,
  VIEW_UNCHANGED: RefreshMetric.VIEW_UNCHANGED,
} as const;

/**
 * The dimension that keeps each orchestrator's metrics apart: the refresh function's name on Lambda, the task
 * definition family on ECS Fargate; none when neither is known (e.g. a local run).
 */
function computeDimension(): Record<string, string> {
  const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME;
  if (functionName) return { [RefreshMetric.FUNCTION_DIMENSION]: functionName };
  const taskFamily = process.env[RefreshEnv.TASK_FAMILY];
  return taskFamily ? { [RefreshMetric.TASK_FAMILY_DIMENSION]: taskFamily } : {};
}

/** Adds the dimensions to the metrics' one dimension set (`addDimensions` would add a set of their own). */
function addEachDimension(target: Metrics, dimensions: Record<string, string>): void {
  for (const [name, value] of Object.entries(dimensions)) target.addDimension(name, value);
}

/**
 * Emits the duration of one view's refresh (all attempts), with the view as dimension, and for a refreshed
 * view a count of 1 per function (or task family), on which a freshness alarm per view rests.
 */
export function recordViewDuration(view: ViewReport): void {
  if (view.status === 'skipped') return;
  const single = metrics.singleMetric();
  single.addDimension(RefreshMetric.VIEW_DIMENSION, view.view);
  single.addDimension('Status', view.status);
  single.addMetric(MetricNames.VIEW_DURATION, MetricUnit.Milliseconds, view.durationMs);
  if (view.status === 'refreshed') {
    const refreshed = metrics.singleMetric();
    addEachDimension(refreshed, computeDimension());
    refreshed.addDimension(RefreshMetric.VIEW_DIMENSION, view.view);
    refreshed.addMetric(MetricNames.VIEW_REFRESHED, MetricUnit.Count, 1);
  }
}

/**
 * For a view change detection proved unchanged since its last successful refresh: a count of 1 per function (or
 * task family), which freshness alarms add to {@link MetricNames.VIEW_REFRESHED}.
 */
export function recordViewUnchanged(view: string): void {
  const unchanged = metrics.singleMetric();
  addEachDimension(unchanged, computeDimension());
  unchanged.addDimension(RefreshMetric.VIEW_DIMENSION, view);
  unchanged.addMetric(MetricNames.VIEW_UNCHANGED, MetricUnit.Count, 1);
}

/**
 * Adds the run's counts; they are published with {@link metrics}' stored metrics, per function (or task family)
 * when it is known.
 */
export function recordRun(report: RefreshReport): void {
  const compute = computeDimension();
  addEachDimension(metrics, compute);
  metrics.addMetric(MetricNames.REFRESHED, MetricUnit.Count, report.totals.refreshed);
  metrics.addMetric(MetricNames.FAILED, MetricUnit.Count, report.totals.failed);
  metrics.addMetric(MetricNames.SKIPPED, MetricUnit.Count, report.totals.skipped);
  if (report.selection.changes) metrics.addMetric(MetricNames.UNCHANGED, MetricUnit.Count, report.selection.changes.unchanged);
  // Per function, so that each orchestrator's skipped runs can raise its own alarm.
  const skipped = metrics.singleMetric();
  addEachDimension(skipped, compute);
  skipped.addMetric(MetricNames.RUN_SKIPPED, MetricUnit.Count, report.status === 'skipped' ? 1 : 0);
  metrics.addMetric(MetricNames.RUN_DURATION, MetricUnit.Milliseconds, report.durationMs);
  // Only a run that did all its work counts: a freshness alarm treats the absence of this metric as stale.
  if (report.status === 'succeeded' && report.totals.failed === 0 && report.totals.skipped === 0) {
    metrics.addMetric(MetricNames.RUN_SUCCEEDED, MetricUnit.Count, 1);
  }
}

/** Adds the run's lineage events: those sent, and those refused, failed or dropped. */
export function recordLineage(totals: LineageTotals): void {
  metrics.addMetric(RefreshMetric.LINEAGE_EVENTS_SENT, MetricUnit.Count, totals.sent);
  metrics.addMetric(RefreshMetric.LINEAGE_EVENTS_NOT_SENT, MetricUnit.Count, totals.failed + totals.dropped);
}

/** Counts a run that ended with an error (invalid request, connection failure, views not refreshed). */
export function recordRunError(): void {
  metrics.addMetric(MetricNames.RUN_ERRORS, MetricUnit.Count, 1);
}

/**
 * Logs a list in as many events as it takes to keep each under {@link ReportLimits.LOG_EVENT_BYTES} of JSON,
 * each with `part` and `parts`, so no event nears CloudWatch Logs' 256 KB limit.
 */
export function logInParts(message: string, items: readonly object[], attributes: Record<string, unknown>): void {
  const parts: object[][] = [[]];
  let size = 0;
  for (const item of items) {
    const itemSize = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (size + itemSize > ReportLimits.LOG_EVENT_BYTES && parts[parts.length - 1].length > 0) {
      parts.push([]);
      size = 0;
    }
    parts[parts.length - 1].push(item);
    size += itemSize;
  }
  parts.forEach((part, index) => logger.info(message, { ...attributes, views: part, part: index + 1, parts: parts.length }));
}
