import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

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
  readonly alarmTopic?: sns.ITopic;
}

/** Creates the alarms, each notifying the topic when one is given. */
export function createExecutionAlarms(scope: Construct, options: ExecutionAlarmsOptions): cloudwatch.IAlarm[] {
  const alarmAction = options.alarmTopic ? new cloudwatchActions.SnsAction(options.alarmTopic) : undefined;
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
    if (alarmAction) {
      alarm.addAlarmAction(alarmAction);
    }
    return alarm;
  });
}
