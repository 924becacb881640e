import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

/** The refresh engine's metrics, through the orchestrator's `metric*()` methods. */
export interface DashboardEngineMetrics {
  metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  viewsRefreshed(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  refreshRunsSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  refreshRunsSkippedByLock(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}

export interface DashboardOptions {
  readonly dashboardName?: string;
  readonly stateMachine: sfn.StateMachine;
  /** Undefined when CloudWatch receives no engine metrics from the refresh compute: their widgets are left out. */
  readonly engineMetrics?: DashboardEngineMetrics;
  /** Where the engine logs each view it refreshed, with its `durationMs`. */
  readonly refreshLogGroup: logs.ILogGroup;
  readonly freshnessMaxAge?: Duration;
  readonly alarms: cloudwatch.IAlarm[];
}

const PERIOD = Duration.minutes(5);
const FULL = 24;

/** The engine logs one event per refreshed view; the query ranks views by their longest refresh. */
export const SLOWEST_VIEWS_QUERY = [
  'fields view, durationMs',
  "filter message = 'View refreshed'",
  'stats max(durationMs) as longestMs, avg(durationMs) as averageMs, count(*) as refreshes by view',
  'sort longestMs desc',
  'limit 10',
];

/**
 * A dashboard of one orchestrator: executions, refresh runs, run duration, views per run, hours since the last
 * successful refresh run against `freshness.maxAge`, the slowest views and the alarms' states.
 */
export function createDashboard(scope: Construct, options: DashboardOptions): cloudwatch.Dashboard {
  const machine = options.stateMachine;
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
    dashboardName: options.dashboardName,
    defaultInterval: Duration.days(7),
  });
  const engine = options.engineMetrics;
  const sum = { statistic: cloudwatch.Stats.SUM, period: PERIOD };

  dashboard.addWidgets(new cloudwatch.GraphWidget({
    title: 'Executions',
    width: engine ? FULL / 2 : FULL,
    left: [
      machine.metricSucceeded({ ...sum, label: 'Succeeded' }),
      machine.metricFailed({ ...sum, label: 'Failed' }),
      machine.metricTimedOut({ ...sum, label: 'Timed out' }),
      machine.metricAborted({ ...sum, label: 'Aborted' }),
    ],
  }), ...engine ? [new cloudwatch.GraphWidget({
    title: 'Refresh runs',
    width: FULL / 2,
    left: [
      engine.refreshRunsSucceeded({ ...sum, label: 'Succeeded' }),
      engine.refreshRunsSkippedByLock({ ...sum, label: 'Skipped by the run lock' }),
    ],
  })] : []);

  if (engine) {
    const refreshRunsSucceeded = engine.refreshRunsSucceeded({ ...sum });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Refresh run duration',
        width: FULL / 3,
        left: [
          engine.metric('RunDuration', { statistic: cloudwatch.Stats.AVERAGE, period: PERIOD, label: 'Average (ms)' }),
          engine.metric('RunDuration', { statistic: cloudwatch.Stats.MAXIMUM, period: PERIOD, label: 'Longest (ms)' }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Views per refresh run',
        width: FULL / 3,
        left: [
          engine.viewsRefreshed({ statistic: cloudwatch.Stats.AVERAGE, period: PERIOD, label: 'Refreshed' }),
          engine.metric('ViewsFailed', { statistic: cloudwatch.Stats.AVERAGE, period: PERIOD, label: 'Failed' }),
          engine.metric('ViewsSkipped', { statistic: cloudwatch.Stats.AVERAGE, period: PERIOD, label: 'Skipped' }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Hours since a refresh run succeeded',
        width: FULL / 3,
        left: [new cloudwatch.MathExpression({
          // Every period gets a point (FILL 0); the last success's time is carried forward (FILL REPEAT).
          expression: '(EPOCH(FILL(runs, 0)) - FILL(IF(FILL(runs, 0) > 0, EPOCH(FILL(runs, 0))), REPEAT)) / 3600',
          usingMetrics: { runs: refreshRunsSucceeded },
          label: 'Hours since success',
          period: PERIOD,
        })],
        leftAnnotations: options.freshnessMaxAge ? [{
          value: options.freshnessMaxAge.toHours({ integral: false }),
          label: `freshness.maxAge (${options.freshnessMaxAge.toHumanString()})`,
          color: cloudwatch.Color.RED,
        }] : undefined,
        leftYAxis: { min: 0, label: 'hours', showUnits: false },
      }),
    );
  }

  dashboard.addWidgets(
    new cloudwatch.LogQueryWidget({
      title: 'Slowest views',
      width: options.alarms.length > 0 ? FULL / 2 : FULL,
      logGroupNames: [options.refreshLogGroup.logGroupName],
      view: cloudwatch.LogQueryVisualizationType.TABLE,
      queryLines: SLOWEST_VIEWS_QUERY,
    }),
    ...options.alarms.length > 0 ? [new cloudwatch.AlarmStatusWidget({
      title: 'Alarms',
      width: FULL / 2,
      height: 6,
      alarms: options.alarms,
    })] : [],
  );
  return dashboard;
}
