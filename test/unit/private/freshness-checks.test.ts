/** Freshness alarms that could never clear: `maxAge` against the schedule, per-view alarms against the selection. */
import { CfnParameter, Duration, TimeZone } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { FreshnessOptions, ItcOrchestrator, RefreshOptions } from '../../../src';
import { longestScheduleGap } from '../../../src/private/freshness-checks';
import { minimalProps, newStack } from '../orchestrator-fixture';

function orchestrate(freshness: FreshnessOptions, expression?: scheduler.ScheduleExpression, refresh?: RefreshOptions) {
  return () => {
    const stack = newStack();
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { freshness, refresh, schedule: expression && { expression } }));
  };
}

describe('maxAge against the schedule', () => {
  test.each([
    ['rate(6 hours)', Duration.hours(6)],
    ['rate(1 day)', Duration.days(1)],
    ['rate(30 minutes)', Duration.minutes(30)],
    ['cron(0 6 * * ? *)', Duration.hours(24)],
    ['cron(30 5 ? * MON-FRI *)', Duration.hours(24)],
    ['cron(0 6,18 * * ? *)', Duration.hours(12)],
    ['cron(0 1,2,20 * * ? *)', Duration.hours(18)],
    ['cron(15 * * * ? *)', Duration.hours(1)],
    ['cron(0 */4 * * ? *)', Duration.hours(4)],
    ['cron(0 8-17 * * ? *)', Duration.hours(15)],
  ])('%s: the longest time between runs is at least %s', (expression, gap) => {
    expect(longestScheduleGap(expression)?.toMinutes()).toBe(gap.toMinutes());
  });

  test.each([['cron(*/15 * * * ? *)'], ['at(2030-01-01T00:00:00)'], ['cron(0 L * * ? *)']])('%s: not told', (expression) => {
    expect(longestScheduleGap(expression)).toBeUndefined();
  });

  test('a maxAge no longer than the time between runs fails, naming both props, the values and a maxAge that works', () => {
    expect(orchestrate({ maxAge: Duration.hours(2) }, scheduler.ScheduleExpression.cron({ minute: '0', hour: '6' }))).toThrow(
      /^`freshness.maxAge` \(2 hours\) must be longer than the time between two runs of `schedule.expression` "cron\(0 6 \* \* \? \*\)" \(1 day or more\): the alarm would fire between runs even when every run succeeds.*e.g. Duration.minutes\(1560\) \(1 day 2 hours\)/,
    );
    expect(orchestrate({ maxAge: Duration.hours(6) }, scheduler.ScheduleExpression.rate(Duration.hours(6)))).toThrow(
      /`freshness.maxAge` \(6 hours\) must be longer than the time between two runs of `schedule.expression` "rate\(6 hours\)" \(6 hours\)/,
    );
  });

  test('a maxAge longer than the time between runs, a schedule from a token or no schedule synthesizes', () => {
    const daily = scheduler.ScheduleExpression.cron({ minute: '30', hour: '5', timeZone: TimeZone.EUROPE_LONDON });
    expect(orchestrate({ maxAge: Duration.hours(26) }, daily)).not.toThrow();
    expect(orchestrate({ maxAge: Duration.hours(2) })).not.toThrow();
    const stack = newStack();
    const expression = scheduler.ScheduleExpression.expression(new CfnParameter(stack, 'Expression').valueAsString);
    expect(() => new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { freshness: { maxAge: Duration.hours(2) }, schedule: { expression } }))).not.toThrow();
  });
});

describe('per-view alarms against the selection', () => {
  test('a view outside the literal views and schemas fails, naming the view, the selection and the fix', () => {
    expect(orchestrate({ maxAge: Duration.hours(26), views: ['sales.daily_totals'] }, undefined, { schemas: ['reporting'] })).toThrow(
      /^`freshness.views` names "sales.daily_totals" \(sales.daily_totals\), which `refresh.schemas` \["reporting"\] never select, so its alarm could never clear: add the view \(or its schema\) to the selection/,
    );
    expect(orchestrate({ maxAge: Duration.hours(26), views: ['Reporting.Weekly'] }, undefined, { views: ['reporting.daily'], schemas: ['"Reporting"'] })).toThrow(
      /"Reporting.Weekly" \(reporting.weekly\), which `refresh.views` \["reporting.daily"\] and `refresh.schemas` \["\\"Reporting\\""\] never select/,
    );
  });

  test('views the selection holds, as SQL reads them, synthesize; so do unqualified selections and tokens, left to run time', () => {
    expect(orchestrate({ maxAge: Duration.hours(26), views: ['Reporting.Daily_Totals'] }, undefined, { schemas: ['reporting'] })).not.toThrow();
    expect(orchestrate({ maxAge: Duration.hours(26), views: ['sales.orders'] }, undefined, { views: ['SALES.Orders'] })).not.toThrow();
    expect(orchestrate({ maxAge: Duration.hours(26), views: ['sales.orders'] }, undefined, { views: ['orders'] })).not.toThrow();
    expect(orchestrate({ maxAge: Duration.hours(26), views: ['sales.orders'] })).not.toThrow();
    const stack = newStack();
    const schema = new CfnParameter(stack, 'Schema').valueAsString;
    expect(() => new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      freshness: { maxAge: Duration.hours(26), views: ['sales.orders'] }, refresh: { schemas: [schema] },
    }))).not.toThrow();
  });
});
