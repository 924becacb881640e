import { Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { NIST80053R5Checks } from 'cdk-nag';
import { ItcOrchestrator, ItcOrchestratorProps } from '../../../src';
import { minimalProps, newStack } from '../orchestrator-fixture';

/** The NIST 800-53 rev 5 rules the construct's resources break, each with how many resources break it. */
function nistFindings(overrides: (stack: Stack) => Partial<ItcOrchestratorProps> = () => ({})): Record<string, number> {
  const stack = newStack();
  new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, overrides(stack)));
  Aspects.of(stack).add(new NIST80053R5Checks());
  const annotations = Annotations.fromStack(stack);
  const pattern = Match.stringLikeRegexp('^NIST');
  const counts: Record<string, number> = {};
  for (const message of [...annotations.findError('*', pattern), ...annotations.findWarning('*', pattern)]) {
    const rule = String(message.entry.data).split(':')[0];
    counts[rule] = (counts[rule] ?? 0) + 1;
  }
  return counts;
}

describe('NIST 800-53 rev 5 findings', () => {
  test('encryptionKey clears the unencrypted log group findings', () => {
    expect(nistFindings()['NIST.800.53.R5-CloudWatchLogGroupEncrypted']).toBe(2);
    expect(nistFindings((stack) => ({ encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }) }))['NIST.800.53.R5-CloudWatchLogGroupEncrypted'])
      .toBeUndefined();
  });

  test('alarmActions clears the alarms-without-action findings', () => {
    expect(nistFindings()['NIST.800.53.R5-CloudWatchAlarmAction']).toBe(4);
    expect(nistFindings((stack) => ({ alarmActions: [new cloudwatchActions.SnsAction(new sns.Topic(stack, 'Alerts'))] }))['NIST.800.53.R5-CloudWatchAlarmAction'])
      .toBeUndefined();
  });
});
