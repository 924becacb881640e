import { Match } from 'aws-cdk-lib/assertions';
import { orchestratorFixture } from '../orchestrator-fixture';

describe('alarm on refresh runs skipped for the run lock', () => {
  const skippedAlarm = { MetricName: 'RunsSkippedByLock' };

  test('is off by default', () => {
    const { template } = orchestratorFixture();
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', skippedAlarm, 0);
  });

  test('alarmOnRefreshRunsSkippedByLock raises it on the first skipped run of this orchestrator\'s refresh function', () => {
    const { template, orchestrator, stack } = orchestratorFixture({ alarmOnRefreshRunsSkippedByLock: true });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'ItcOrchestrator',
      MetricName: 'RunsSkippedByLock',
      Dimensions: Match.arrayWith([
        { Name: 'FunctionName', Value: stack.resolve(orchestrator.refreshFunction!.functionName) },
        { Name: 'service', Value: 'itc-orchestrator-refresh' },
      ]),
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(orchestrator.alarms).toHaveLength(5);
  });

  test('is named after the resource prefix like the other alarms', () => {
    const { template } = orchestratorFixture({ alarmOnRefreshRunsSkippedByLock: true, resourcePrefix: 'sales' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { ...skippedAlarm, AlarmName: 'sales-runs-skipped-by-lock' });
  });
});
