import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { createFreshnessAlarms } from './freshness-alarms';
import type { OrchestratorAlarms } from '../orchestrator-alarms';
import type { FreshnessOptions } from '../orchestrator-props';

/** One alarm: raised when its metric counts at least one event in five minutes. */
export interface ExecutionAlarm {
  /** Construct id. */
  readonly id: string;
  /** Appended to the resource prefix to name the alarm. */
  readonly nameSuffix: string;
  readonly metric: cloudwatch.Metric;
  readonly description: string;
}

export interface ExecutionAlarmsOptions {
  readonly alarms: ExecutionAlarm[];
  readonly resourcePrefix?: string;
  readonly alarmActions?: cloudwatch.IAlarmAction[];
}

/** Creates the alarms, each with the alarm actions. */
export function createExecutionAlarms(scope: Construct, options: ExecutionAlarmsOptions): cloudwatch.Alarm[] {
  return options.alarms.map(({ id, nameSuffix, metric, description }) => {
    const alarm = new cloudwatch.Alarm(scope, id, {
      alarmName: options.resourcePrefix ? `${options.resourcePrefix}-${nameSuffix}` : undefined,
      alarmDescription: `${description} (ITC orchestrator ${scope.node.path})`,
      metric: metric.with({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (options.alarmActions?.length) {
      alarm.addAlarmAction(...options.alarmActions);
    }
    return alarm;
  });
}

/** The metrics the orchestrator's alarms watch; the refresh engine's only when an alarm on them was asked for. */
export interface OrchestratorAlarmMetrics {
  readonly failed: cloudwatch.Metric;
  readonly timedOut: cloudwatch.Metric;
  readonly aborted: cloudwatch.Metric;
  readonly throttled: cloudwatch.Metric;
  readonly refreshRunsSkippedByLock: () => cloudwatch.Metric;
  readonly refreshRunsSucceeded: () => cloudwatch.Metric;
  readonly viewRefreshed: (view: string) => cloudwatch.Metric;
  /** With change detection: the view proven unchanged, which freshness counts with a refresh. */
  readonly viewUnchanged?: (view: string) => cloudwatch.Metric;
}

export interface OrchestratorAlarmsOptions {
  readonly metrics: OrchestratorAlarmMetrics;
  readonly alarmOnRefreshRunsSkippedByLock: boolean;
  readonly freshness?: FreshnessOptions;
  readonly resourcePrefix?: string;
  readonly alarmActions?: cloudwatch.IAlarmAction[];
}

/** Every alarm of the orchestrator, each under its name. */
export function createOrchestratorAlarms(scope: Construct, options: OrchestratorAlarmsOptions): OrchestratorAlarms {
  const { metrics, resourcePrefix, alarmActions } = options;
  const execution = (id: string, nameSuffix: string, metric: cloudwatch.Metric, description: string) =>
    createExecutionAlarms(scope, { resourcePrefix, alarmActions, alarms: [{ id, nameSuffix, metric, description }] })[0];
  const executionsFailed = execution('ExecutionsFailedAlarm', 'executions-failed', metrics.failed, 'An execution failed');
  const executionsTimedOut = execution('ExecutionsTimedOutAlarm', 'executions-timed-out', metrics.timedOut, 'An execution timed out');
  const executionsAborted = execution('ExecutionsAbortedAlarm', 'executions-aborted', metrics.aborted, 'An execution was aborted');
  const executionsThrottled = execution('ExecutionsThrottledAlarm', 'executions-throttled', metrics.throttled, 'Step Functions throttled an execution');
  const refreshRunsSkippedByLock = options.alarmOnRefreshRunsSkippedByLock
    ? execution('RunsSkippedByLockAlarm', 'runs-skipped-by-lock', metrics.refreshRunsSkippedByLock(),
      'A refresh run was skipped because another refresh run of the same views held their run lock; its views were not refreshed')
    : undefined;
  const freshness = options.freshness ? createFreshnessAlarms(scope, {
    freshness: options.freshness,
    runsSucceeded: metrics.refreshRunsSucceeded(),
    viewRefreshed: metrics.viewRefreshed,
    viewUnchanged: metrics.viewUnchanged,
    resourcePrefix,
    alarmActions,
  }) : undefined;
  const viewStale = freshness?.viewStale ?? {};
  const all = [executionsFailed, executionsTimedOut, executionsAborted, executionsThrottled, refreshRunsSkippedByLock,
    freshness?.viewsStale, ...Object.values(viewStale)].filter((alarm): alarm is cloudwatch.Alarm => alarm !== undefined);
  return {
    executionsFailed,
    executionsTimedOut,
    executionsAborted,
    executionsThrottled,
    refreshRunsSkippedByLock,
    viewsStale: freshness?.viewsStale,
    viewStale,
    all,
  };
}

/** No alarms, for `createAlarms: false`. */
export function noAlarms(): OrchestratorAlarms {
  return { viewStale: {}, all: [] };
}
