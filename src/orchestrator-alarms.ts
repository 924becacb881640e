import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/**
 * The alarms an {@link ItcOrchestrator} created, each under its own name. An alarm that was not asked for is
 * undefined; with `createAlarms: false` they all are.
 */
export interface OrchestratorAlarms {
  /**
   * Raised when an execution failed.
   *
   * @default - none
   */
  readonly executionsFailed?: cloudwatch.IAlarm;

  /**
   * Raised when an execution timed out (`executionTimeout`).
   *
   * @default - none
   */
  readonly executionsTimedOut?: cloudwatch.IAlarm;

  /**
   * Raised when an execution was aborted.
   *
   * @default - none
   */
  readonly executionsAborted?: cloudwatch.IAlarm;

  /**
   * Raised when Step Functions throttled an execution.
   *
   * @default - none
   */
  readonly executionsThrottled?: cloudwatch.IAlarm;

  /**
   * Raised when a refresh run was skipped because another one held the run lock (`alarmOnRefreshRunsSkippedByLock`).
   *
   * @default - none
   */
  readonly refreshRunsSkippedByLock?: cloudwatch.IAlarm;

  /**
   * Raised when no refresh run succeeded within `freshness.maxAge`.
   *
   * @default - none
   */
  readonly viewsStale?: cloudwatch.IAlarm;

  /**
   * The per-view freshness alarms (`freshness.views`), by the view's name as the refresh report writes it
   * (`reporting.daily_totals`, `reporting."order"`).
   */
  readonly viewStale: { [view: string]: cloudwatch.IAlarm };

  /** Every alarm above, in that order. */
  readonly all: cloudwatch.IAlarm[];
}
