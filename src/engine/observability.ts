import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { RefreshMetric, RefreshReport, ReportLimits, ViewReport } from '../shared/contract';

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
  FAILED: 'ViewsFailed',
  SKIPPED: 'ViewsSkipped',
  RUN_SKIPPED: RefreshMetric.RUNS_SKIPPED_BY_LOCK,
  RUN_DURATION: 'RunDuration',
  RUN_ERRORS: 'RunErrors',
} as const;

/** The refresh function's name, when running as one: the dimension that keeps each orchestrator's metrics apart. */
function refreshFunctionName(): string | undefined {
  return process.env.AWS_LAMBDA_FUNCTION_NAME || undefined;
}

/**
 * Emits the duration of one view's refresh (all attempts), with the view as dimension, and for a refreshed
 * view a count of 1 per function, on which a freshness alarm per view rests.
 */
export function recordViewDuration(view: ViewReport): void {
  if (view.status === 'skipped') return;
  const single = metrics.singleMetric();
  single.addDimension(RefreshMetric.VIEW_DIMENSION, view.view);
  single.addDimension('Status', view.status);
  single.addMetric(MetricNames.VIEW_DURATION, MetricUnit.Milliseconds, view.durationMs);
  if (view.status === 'refreshed') {
    const refreshed = metrics.singleMetric();
    const fn = refreshFunctionName();
    if (fn) refreshed.addDimension(RefreshMetric.FUNCTION_DIMENSION, fn);
    refreshed.addDimension(RefreshMetric.VIEW_DIMENSION, view.view);
    refreshed.addMetric(MetricNames.VIEW_REFRESHED, MetricUnit.Count, 1);
  }
}

/**
 * Adds the run's counts; they are published with {@link metrics}' stored metrics, per function when the
 * function's name is known.
 */
export function recordRun(report: RefreshReport): void {
  const fn = refreshFunctionName();
  if (fn) metrics.addDimensions({ [RefreshMetric.FUNCTION_DIMENSION]: fn });
  metrics.addMetric(MetricNames.REFRESHED, MetricUnit.Count, report.totals.refreshed);
  metrics.addMetric(MetricNames.FAILED, MetricUnit.Count, report.totals.failed);
  metrics.addMetric(MetricNames.SKIPPED, MetricUnit.Count, report.totals.skipped);
  // Per function, so that each orchestrator's skipped runs can raise its own alarm.
  const skipped = metrics.singleMetric();
  if (fn) skipped.addDimension(RefreshMetric.FUNCTION_DIMENSION, fn);
  skipped.addMetric(MetricNames.RUN_SKIPPED, MetricUnit.Count, report.status === 'skipped' ? 1 : 0);
  metrics.addMetric(MetricNames.RUN_DURATION, MetricUnit.Milliseconds, report.durationMs);
  // Only a run that did all its work counts: a freshness alarm treats the absence of this metric as stale.
  if (report.status === 'succeeded' && report.totals.failed === 0 && report.totals.skipped === 0) {
    metrics.addMetric(MetricNames.RUN_SUCCEEDED, MetricUnit.Count, 1);
  }
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
