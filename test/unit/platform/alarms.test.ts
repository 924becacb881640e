import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ItcOrchestrator, ItcOrchestratorProps } from '../../../src';
import { minimalProps, newStack } from '../orchestrator-fixture';

function synth(props: (stack: Stack) => Partial<ItcOrchestratorProps>) {
  const stack = newStack();
  const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, props(stack)));
  return { stack, orchestrator, template: Template.fromStack(stack) };
}

describe('alarm actions', () => {
  test('every alarm takes every action, of any kind', () => {
    let topicArn: unknown;
    const { template, stack } = synth((scope) => {
      const topic = new sns.Topic(scope, 'Alerts');
      topicArn = topic.topicArn;
      return {
        alarmActions: [
          new cloudwatchActions.SnsAction(topic),
          { bind: () => ({ alarmActionArn: 'arn:aws:incident-tool:eu-west-1:123456789012:escalate' }) },
        ],
        alarmOnRefreshRunsSkippedByLock: true,
        freshness: { maxAge: Duration.hours(26), views: ['reporting.daily_totals'] },
      };
    });
    const actions = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties.AlarmActions);
    expect(actions).toHaveLength(7);
    expect(new Set(actions.map((list) => JSON.stringify(list))))
      .toEqual(new Set([JSON.stringify([stack.resolve(topicArn), 'arn:aws:incident-tool:eu-west-1:123456789012:escalate'])]));
  });
});

describe('createAlarms: false', () => {
  test('creates no alarm', () => {
    const { template, orchestrator } = synth(() => ({ createAlarms: false }));
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    expect(orchestrator.alarms).toEqual({ viewStale: {}, all: [] });
  });

  test.each([
    ['freshness', { freshness: { maxAge: Duration.hours(26) } }],
    ['alarmOnRefreshRunsSkippedByLock', { alarmOnRefreshRunsSkippedByLock: true }],
  ])('is refused with %s, which asks for alarms', (prop, props) => {
    const stack = newStack();
    expect(() => new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { createAlarms: false, ...props })))
      .toThrow(new RegExp(`\`${prop}\` asks for alarms, which \`createAlarms: false\` turns off`));
  });
});

describe('each alarm under its own name', () => {
  test('the execution, skipped-run and freshness alarms', () => {
    const { orchestrator, stack } = synth(() => ({
      alarmOnRefreshRunsSkippedByLock: true,
      freshness: { maxAge: Duration.hours(26), views: ['reporting.daily_totals', 'Reporting.Order'] },
    }));
    const alarms = orchestrator.alarms;
    const metricOf = (alarm: cloudwatch.IAlarm | undefined) => stack.resolve((alarm as cloudwatch.Alarm).metric).metricName;
    expect(metricOf(alarms.executionsFailed)).toBe('ExecutionsFailed');
    expect(metricOf(alarms.executionsTimedOut)).toBe('ExecutionsTimedOut');
    expect(metricOf(alarms.executionsAborted)).toBe('ExecutionsAborted');
    expect(metricOf(alarms.executionsThrottled)).toBe('ExecutionThrottled');
    expect(metricOf(alarms.refreshRunsSkippedByLock)).toBe('RunsSkippedByLock');
    expect(metricOf(alarms.viewsStale)).toBe('RunsSucceeded');
    expect(Object.keys(alarms.viewStale)).toEqual(['reporting.daily_totals', 'reporting."order"']);
    expect(metricOf(alarms.viewStale['reporting."order"'])).toBe('ViewRefreshed');
    expect(alarms.all).toHaveLength(8);
  });

  test('alarms not asked for are undefined', () => {
    const { orchestrator } = synth(() => ({}));
    expect(orchestrator.alarms.refreshRunsSkippedByLock).toBeUndefined();
    expect(orchestrator.alarms.viewsStale).toBeUndefined();
    expect(orchestrator.alarms.all).toHaveLength(4);
  });

  test('two spellings of one view are refused', () => {
    const stack = newStack();
    expect(() => new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      freshness: { maxAge: Duration.hours(26), views: ['reporting.daily_totals', 'Reporting.Daily_Totals'] },
    }))).toThrow(/`freshness.views` must not name reporting.daily_totals twice/);
  });
});

describe('per-view freshness alarms', () => {
  /** Logical ID of each per-view alarm, by the alarm name it holds. */
  function viewAlarmIds(views: string[]): Record<string, string> {
    const { template } = synth(() => ({ resourcePrefix: 'sales', freshness: { maxAge: Duration.hours(26), views } }));
    return Object.fromEntries(Object.entries(template.findResources('AWS::CloudWatch::Alarm'))
      .filter(([, alarm]) => alarm.Properties.MetricName === 'ViewRefreshed')
      .map(([logicalId, alarm]) => [alarm.Properties.AlarmName, logicalId]));
  }

  test('keep their logical IDs when a view is removed from the middle of the list or the list is reordered', () => {
    const before = viewAlarmIds(['reporting.a', 'reporting.b', 'reporting.c', '"Sales Hub"."Daily / Totals"']);
    expect(Object.keys(before)).toHaveLength(4);
    expect(new Set(Object.values(before)).size).toBe(4);

    const removed = viewAlarmIds(['reporting.a', 'reporting.c', '"Sales Hub"."Daily / Totals"']);
    const { ['sales-view-stale-reporting.b']: _gone, ...kept } = before;
    expect(removed).toEqual(kept);

    const reordered = viewAlarmIds(['"Sales Hub"."Daily / Totals"', 'reporting.c', 'reporting.b', 'reporting.a']);
    expect(reordered).toEqual(before);
  });
});
