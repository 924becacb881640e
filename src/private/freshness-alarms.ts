import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { checkDuration, checkNameList } from './validation';
import type { FreshnessOptions } from '../orchestrator-props';
import { formatRelationName, InvalidNameError, parseRelationName, RelationName } from '../shared/names';

/** CloudWatch alarms evaluate at most 7 days of data, and at most 1 day with periods under an hour. */
const MAX_EVALUATION_RANGE = Duration.days(7);
const MAX_RANGE_OF_SHORT_PERIODS = Duration.days(1);

/**
 * The alarm's window for a maximum age: hourly periods when the age is whole hours, else minutes. The alarm
 * fires when every period of the window lacks a success, so it fires at most one period after `maxAge` ran out.
 */
export function freshnessWindow(maxAge: Duration): { period: Duration; evaluationPeriods: number } {
  const minutes = maxAge.toMinutes();
  return minutes % 60 === 0
    ? { period: Duration.hours(1), evaluationPeriods: minutes / 60 }
    : { period: Duration.minutes(1), evaluationPeriods: minutes };
}

/** Checks `freshness` against what CloudWatch alarms allow, and that each view is named as the report can name it. */
export function validateFreshness(freshness: FreshnessOptions): void {
  const maxAge = freshness.maxAge;
  checkDuration('freshness.maxAge', maxAge, {
    unit: 'minutes',
    min: Duration.minutes(1),
    max: MAX_EVALUATION_RANGE,
    reason: 'the shortest period of a CloudWatch alarm and the longest range it evaluates',
  });
  if (!maxAge.isUnresolved()) {
    const ms = maxAge.toMilliseconds({ integral: false });
    if (ms > MAX_RANGE_OF_SHORT_PERIODS.toMilliseconds() && !Number.isInteger(ms / 3_600_000)) {
      throw new Error(
        '`freshness.maxAge` over 1 day must be a whole number of hours: CloudWatch alarms with periods under an hour ' +
          `evaluate at most 1 day, got ${maxAge.toHumanString()} (${maxAge.toIsoString()})`,
      );
    }
  }
  checkNameList('freshness.views', freshness.views, 'each view gets an alarm of its own, created at synth');
  freshness.views?.forEach((view) => reportViewName(view, 'freshness.views'));
}

/**
 * A view name as the refresh report writes it (and the `View` dimension carries it): read as PostgreSQL reads a
 * regclass, then written as `format('%I.%I')` writes it, so plain parts fold to lower case and parts that need it,
 * SQL keywords among them, are quoted. The report always names the schema, so the name must too. A token is
 * returned as it is.
 */
export function reportViewName(input: string, prop: string): string {
  if (Token.isUnresolved(input)) {
    return input;
  }
  const refuse = (why: string) => new Error(
    `\`${prop}\` must name views schema-qualified, as the refresh report does, e.g. "reporting.daily_totals" or ` +
      `'"Sales Hub"."Daily Totals"', got ${JSON.stringify(input)}: ${why}`,
  );
  let parsed: RelationName;
  try {
    parsed = parseRelationName(input);
  } catch (error) {
    throw refuse(error instanceof InvalidNameError ? error.reason : (error as Error).message);
  }
  if (parsed.schema === undefined) {
    throw refuse('the schema is missing');
  }
  return formatRelationName(parsed.schema, parsed.name);
}

export interface FreshnessAlarmsOptions {
  readonly freshness: FreshnessOptions;
  /** Successful refresh runs (count). */
  readonly runsSucceeded: cloudwatch.Metric;
  /** Successful refreshes of one view (count). */
  readonly viewRefreshed: (view: string) => cloudwatch.Metric;
  /**
   * With change detection: runs that proved one view unchanged since its last refresh (count). Such a view holds
   * what a refresh would give it, so its alarm counts these with its refreshes.
   */
  readonly viewUnchanged?: (view: string) => cloudwatch.Metric;
  readonly resourcePrefix?: string;
  readonly alarmActions?: cloudwatch.IAlarmAction[];
}

/** The freshness alarms: on all views, and per listed view by its report name. */
export interface FreshnessAlarms {
  readonly viewsStale: cloudwatch.Alarm;
  readonly viewStale: Record<string, cloudwatch.Alarm>;
}

/**
 * The construct ID of a view's freshness alarm, from the view's report name, so that adding, removing or reordering
 * other views leaves its logical ID (and the alarm name it holds) where it is. `/` separates construct paths.
 */
export function viewFreshnessAlarmId(reportName: string): string {
  return `ViewFreshnessAlarm ${reportName.replace(/\//g, '%2F')}`;
}

/**
 * The freshness alarms: one on successful refresh runs, one per listed view on its successful refreshes. Missing
 * data is breaching, so a disabled schedule or executions that never get to the refresh raise them too.
 */
export function createFreshnessAlarms(scope: Construct, options: FreshnessAlarmsOptions): FreshnessAlarms {
  const { freshness, resourcePrefix } = options;
  const { period, evaluationPeriods } = freshnessWindow(freshness.maxAge);
  const maxAge = freshness.maxAge.toHumanString();

  const hourlySum = (metric: cloudwatch.Metric) => metric.with({ statistic: cloudwatch.Stats.SUM, period });
  const alarm = (id: string, nameSuffix: string, metric: cloudwatch.IMetric, description: string) => {
    const created = new cloudwatch.Alarm(scope, id, {
      alarmName: resourcePrefix ? `${resourcePrefix}-${nameSuffix}`.slice(0, 255) : undefined,
      alarmDescription: `${description} (ITC orchestrator ${scope.node.path})`,
      metric,
      threshold: 1,
      evaluationPeriods,
      datapointsToAlarm: evaluationPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    if (options.alarmActions?.length) {
      created.addAlarmAction(...options.alarmActions);
    }
    return created;
  };

  const viewsStale = alarm('FreshnessAlarm', 'views-stale', hourlySum(options.runsSucceeded),
    `No refresh run refreshed the materialized views successfully within ${maxAge}`);
  const viewStale: Record<string, cloudwatch.Alarm> = {};
  let tokenViews = 0;
  for (const input of freshness.views ?? []) {
    const view = reportViewName(input, 'freshness.views');
    if (viewStale[view]) {
      throw new Error(`\`freshness.views\` must not name ${view} twice, got ${JSON.stringify(freshness.views)}`);
    }
    // A token has no name at synth: numbered among the token views only, which keeps the named ones in place.
    const id = Token.isUnresolved(view) ? `ViewFreshnessAlarmToken${tokenViews++}` : viewFreshnessAlarmId(view);
    const unchanged = options.viewUnchanged;
    viewStale[view] = unchanged
      ? alarm(id, `view-stale-${view}`, new cloudwatch.MathExpression({
        expression: 'FILL(refreshed, 0) + FILL(unchanged, 0)',
        usingMetrics: { refreshed: hourlySum(options.viewRefreshed(view)), unchanged: hourlySum(unchanged(view)) },
        period,
        label: `${view} refreshed or proven unchanged`,
      }), `Materialized view ${view} was neither refreshed nor proven unchanged within ${maxAge}`)
      : alarm(id, `view-stale-${view}`, hourlySum(options.viewRefreshed(view)),
        `Materialized view ${view} was not refreshed within ${maxAge}`);
  }
  return { viewsStale, viewStale };
}
