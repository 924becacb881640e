import { App, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ItcOrchestrator, ItcOrchestratorProps } from '../../../src';
import { minimalProps, orchestratorFixture, sharedOrchestratorFixture } from '../orchestrator-fixture';

/** The refresh function's metric dimensions, as the handler emits them (the template lists them by name). */
function refreshDimensions(refreshFunctionLogicalId: string, extra: Array<{ Name: string; Value: string }> = []) {
  const dimensions: Array<{ Name: string; Value: unknown }> = [
    { Name: 'service', Value: 'itc-orchestrator-refresh' },
    { Name: 'FunctionName', Value: { Ref: refreshFunctionLogicalId } },
    ...extra,
  ];
  return Match.arrayEquals(dimensions.sort((a, b) => (a.Name < b.Name ? -1 : 1)));
}

describe('freshness alarms', () => {
  function build(freshness: ItcOrchestratorProps['freshness']) {
    const fixture = orchestratorFixture({ freshness });
    const refreshId = fixture.stack.getLogicalId(fixture.orchestrator.refreshFunction!.node.defaultChild as never);
    return { ...fixture, refreshId };
  }

  test('a refresh run alarm on RunsSucceeded: hourly sums, every one of maxAge hours below 1, missing data breaching', () => {
    const { template, refreshId } = build({ maxAge: Duration.hours(26) });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'ItcOrchestrator',
      MetricName: 'RunsSucceeded',
      Dimensions: refreshDimensions(refreshId),
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
  });

  test('one alarm per listed view on its ViewRefreshed metric, the view named as the report writes it', () => {
    const { template, refreshId } = build({
      maxAge: Duration.minutes(90),
      views: ['reporting.daily_totals', '"Sales Hub"."Daily Totals"', 'Reporting.Mixed', ' "reporting" . "quoted_plain" ', 'a."say ""hi"""'],
    });

    for (const view of ['reporting.daily_totals', '"Sales Hub"."Daily Totals"', 'reporting.mixed', 'reporting.quoted_plain', 'a."say ""hi"""']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'ItcOrchestrator',
        MetricName: 'ViewRefreshed',
        Dimensions: refreshDimensions(refreshId, [{ Name: 'View', Value: view }]),
        Statistic: 'Sum',
        Period: 60,
        EvaluationPeriods: 90,
        DatapointsToAlarm: 90,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
        AlarmDescription: Match.stringLikeRegexp(`^Materialized view ${view.replace(/"/g, '\\"')} was not refreshed within 1 hour 30 minutes`),
      });
    }
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4 + 1 + 5);
  });

  test('with change detection, a view\'s alarm counts the runs that proved it unchanged with its refreshes', () => {
    const fixture = orchestratorFixture({
      freshness: { maxAge: Duration.hours(26), views: ['reporting.daily_totals'] },
      refresh: { detectChangesInDatabase: true },
    });
    const refreshId = fixture.stack.getLogicalId(fixture.orchestrator.refreshFunction!.node.defaultChild as never);
    const hourly = (metricName: string) => ({
      MetricStat: {
        Metric: { Namespace: 'ItcOrchestrator', MetricName: metricName, Dimensions: refreshDimensions(refreshId, [{ Name: 'View', Value: 'reporting.daily_totals' }]) },
        Period: 3600,
        Stat: 'Sum',
      },
      ReturnData: false,
    });
    fixture.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'FILL(refreshed, 0) + FILL(unchanged, 0)' }),
        Match.objectLike({ Id: 'refreshed', ...hourly('ViewRefreshed') }),
        Match.objectLike({ Id: 'unchanged', ...hourly('ViewUnchanged') }),
      ]),
      EvaluationPeriods: 26,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmDescription: Match.stringLikeRegexp('^Materialized view reporting.daily_totals was neither refreshed nor proven unchanged within 1 day 2 hours'),
    });
  });

  test.each([
    // `%I` quotes SQL keywords that are not unreserved, whether the name was written quoted or not.
    ['reporting."order"', 'reporting."order"'],
    ['reporting.order', 'reporting."order"'],
    ['User.Select', '"user"."select"'],
    ['reporting.between', 'reporting."between"'],
    ['reporting."left"', 'reporting."left"'],
    // Unreserved keywords stay plain.
    ['reporting.abort', 'reporting.abort'],
    ['"Sales Hub"."Daily Totals"', '"Sales Hub"."Daily Totals"'],
    ['Reporting.Daily', 'reporting.daily'],
    ['reporting."2024_totals"', 'reporting."2024_totals"'],
    ['reporting.mv$1', 'reporting."mv$1"'],
    ['Äpfel.daily', '"Äpfel".daily'],
  ])('the alarm for %s watches View %s, the name the refresh report gives it', (input, view) => {
    const { template, refreshId } = build({ maxAge: Duration.hours(26), views: [input] });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ViewRefreshed',
      Dimensions: refreshDimensions(refreshId, [{ Name: 'View', Value: view }]),
    });
  });

  test('a view named by a token is left to CloudFormation', () => {
    const stack = new Stack(new App(), 'Stack');
    const view = new CfnParameter(stack, 'View');
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { freshness: { maxAge: Duration.hours(26), views: [view.valueAsString] } }));

    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ViewRefreshed',
      Dimensions: Match.arrayWith([{ Name: 'View', Value: { Ref: 'View' } }]),
    });
  });

  test('the freshness alarms notify the alarm topic, and take their names from the resource prefix', () => {
    const stack = new Stack(new App(), 'Stack');
    const topic = new sns.Topic(stack, 'AlarmTopic');
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      alarmActions: [new cloudwatchActions.SnsAction(topic)],
      resourcePrefix: 'itc-prod',
      freshness: { maxAge: Duration.hours(26), views: ['reporting.daily_totals'] },
    }));
    const template = Template.fromStack(stack);
    const topicId = stack.getLogicalId(topic.node.defaultChild as never);

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'itc-prod-views-stale',
      MetricName: 'RunsSucceeded',
      AlarmActions: [{ Ref: topicId }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'itc-prod-view-stale-reporting.daily_totals',
      MetricName: 'ViewRefreshed',
      AlarmActions: [{ Ref: topicId }],
    });
  });

  test('without freshness there are only the execution alarms', () => {
    const { template } = sharedOrchestratorFixture();
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
  });

  test.each([
    [Duration.seconds(90), /`freshness.maxAge` must be a whole number of minutes from 1 minute to 7 days \(the shortest period of a CloudWatch alarm.*got 1 minute 30 seconds/],
    [Duration.seconds(30), /`freshness.maxAge` must be a whole number of minutes from 1 minute to 7 days \(the shortest period of a CloudWatch alarm.*got 30 seconds/],
    [Duration.days(8), /`freshness.maxAge` must be a whole number of minutes from 1 minute to 7 days \(.*the longest range it evaluates\), got 8 days/],
    [Duration.hours(new CfnParameter(new Stack(), 'Hours', { type: 'Number' }).valueAsNumber), /`freshness.maxAge` from a token must be given in minutes, as Duration.minutes\(...\).*got Duration.hours\(<token>\)/],
    [Duration.minutes(25 * 60 + 30), /`freshness.maxAge` over 1 day must be a whole number of hours.*got 1 day 1 hour \(P1DT1H30M\)/],
  ])('maxAge %s is refused at synth, naming the prop', (maxAge, message) => {
    const stack = new Stack(new App(), 'Stack');
    expect(() => new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { freshness: { maxAge } }))).toThrow(message);
  });

  test.each([
    [Duration.days(7), 168, 3600],
    [Duration.minutes(24 * 60 - 1), 24 * 60 - 1, 60],
    [Duration.minutes(1), 1, 60],
  ])('maxAge %s is accepted: %i periods of %i s', (maxAge, periods, period) => {
    const { template } = orchestratorFixture({ freshness: { maxAge } });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'RunsSucceeded', EvaluationPeriods: periods, Period: period });
  });

  test.each([
    [['daily_totals'], /`freshness.views` must name views schema-qualified, as the refresh report does, e\.g\. "reporting\.daily_totals".*got "daily_totals"/],
    [['reporting.daily; drop'], /`freshness.views` must name views schema-qualified.*got "reporting.daily; drop"/],
    [['db.reporting.daily'], /`freshness.views` must name views schema-qualified.*got "db.reporting.daily"/],
    [['a.b.c'], /`freshness.views` must name views schema-qualified.*got "a\.b\.c".*a database prefix is not allowed/],
    [['reporting."daily'], /`freshness.views` must name views schema-qualified.*got "reporting\.\\"daily".*unterminated double quote/],
    [[`reporting.${'x'.repeat(64)}`], /`freshness.views` must name views schema-qualified.*got "reporting\.x{64}".*longer than 63 bytes/],
    // 32 two-byte letters: 32 characters, 64 bytes.
    [[`reporting."${'ä'.repeat(32)}"`], /`freshness.views` must name views schema-qualified.*longer than 63 bytes/],
    [['reporting."a\u0000b"'], /`freshness.views` must name views schema-qualified.*NUL character/],
    [['a.b', 'a.b'], /`freshness.views` must not name "a.b" twice/],
    [[], /`freshness.views` must name at least one entry/],
  ])('freshness.views %j is refused at synth', (views, message) => {
    const stack = new Stack(new App(), 'Stack');
    expect(() => new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { freshness: { maxAge: Duration.hours(26), views } }))).toThrow(message);
  });
});

describe('refresh metrics', () => {
  test('metricViewsRefreshed and metricViewRefreshed read the refresh function\'s own metrics', () => {
    const { orchestrator, stack } = sharedOrchestratorFixture();
    const functionName = stack.resolve(orchestrator.refreshFunction!.functionName);

    const views = orchestrator.metricViewsRefreshed();
    expect(views).toMatchObject({ namespace: 'ItcOrchestrator', metricName: 'ViewsRefreshed', statistic: 'Sum' });
    expect(stack.resolve(views.dimensions)).toEqual({ service: 'itc-orchestrator-refresh', FunctionName: functionName });

    const view = orchestrator.metricViewRefreshed('"Sales Hub"."Daily Totals"', { period: Duration.hours(1) });
    expect(view).toMatchObject({ metricName: 'ViewRefreshed', statistic: 'Sum', period: Duration.hours(1) });
    expect(stack.resolve(view.dimensions)).toEqual({ service: 'itc-orchestrator-refresh', FunctionName: functionName, View: '"Sales Hub"."Daily Totals"' });

    expect(orchestrator.metricRefreshRunsSucceeded().metricName).toBe('RunsSucceeded');
    expect(() => orchestrator.metricViewRefreshed('daily_totals')).toThrow(/`view` must name views schema-qualified/);
    expect(() => orchestrator.metricViewRefreshed('a.b.c')).toThrow(/`view` must name views schema-qualified.*got "a\.b\.c"/);
    expect(() => orchestrator.metricViewRefreshed(`reporting.${'x'.repeat(64)}`)).toThrow(/`view` must name views schema-qualified.*longer than 63 bytes/);
  });

  test('metricViewRefreshed names the view as the refresh report does, keywords quoted', () => {
    const { orchestrator, stack } = sharedOrchestratorFixture();
    const view = (name: string) => stack.resolve(orchestrator.metricViewRefreshed(name).dimensions).View;

    expect(view('reporting."order"')).toBe('reporting."order"');
    expect(view('Reporting.User')).toBe('reporting."user"');
    expect(view('Reporting.Daily')).toBe('reporting.daily');
    expect(view('"Sales Hub"."Daily Totals"')).toBe('"Sales Hub"."Daily Totals"');
  });
});
