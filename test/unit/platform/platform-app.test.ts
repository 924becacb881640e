import { Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { platformApp } from './platform-app';

const platform = platformApp();
const { stack } = platform;
Aspects.of(stack).add(new AwsSolutionsChecks());
const template = Template.fromStack(stack);
const ref = (value: unknown) => stack.resolve(value);

describe('the platform team\'s app', () => {
  test('the key encrypts the execution history, the log groups, the function\'s environment and the alarm topic', () => {
    const keyArn = ref(platform.key.keyArn);
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { EncryptionConfiguration: { KmsKeyId: keyArn, Type: 'CUSTOMER_MANAGED_KMS_KEY' } });
    template.allResourcesProperties('AWS::Logs::LogGroup', { KmsKeyId: keyArn });
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'platform-orchestrator-refresh', KmsKeyArn: keyArn });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn });
  });

  test('the state machine and the refresh function run with the given roles, and the construct creates only the schedule\'s', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { RoleArn: ref(platform.stateMachineRole.roleArn) });
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'platform-orchestrator-refresh', Role: ref(platform.refreshRole.roleArn) });
    const roles = Object.entries(template.findResources('AWS::IAM::Role'))
      .map(([logicalId, role]) => `${logicalId} ${role.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service}`).sort();
    expect(roles).toEqual([
      expect.stringMatching(/^OrchestratorScheduleRole[0-9A-F]+ scheduler.amazonaws.com$/),
      expect.stringMatching(/^RefreshRole[0-9A-F]+ lambda.amazonaws.com$/),
      expect.stringMatching(/^StateMachineRole[0-9A-F]+ states.amazonaws.com$/),
    ]);
  });

  test('the given log groups are where the state machine and the function write', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: ref(platform.stateMachineLogGroup.logGroupArn) } }],
      }),
    });
    template.hasResourceProperties('AWS::Lambda::Function', { LoggingConfig: Match.objectLike({ LogGroup: ref(platform.refreshLogGroup.logGroupName) }) });
  });

  test('every alarm notifies the topic, and no rule is added to the database\'s security group', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(7);
    expect(alarms.every((alarm) => JSON.stringify(alarm.Properties.AlarmActions) === JSON.stringify([ref(platform.alerts.topicArn)]))).toBe(true);
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  test('AwsSolutions leaves only the findings without resource-level permissions', () => {
    const pattern = Match.stringLikeRegexp('^AwsSolutions-');
    const annotations = Annotations.fromStack(stack);
    const findings = [...annotations.findError('*', pattern), ...annotations.findWarning('*', pattern)]
      .map((message) => `${message.id} | ${/^AwsSolutions-[A-Za-z0-9]+(\[[^\]]*\])?/.exec(String(message.entry.data))![0]}`)
      .filter((finding) => !finding.startsWith('/Platform/Vpc/'))
      .sort();
    expect(findings).toEqual([
      // Lambda's VPC network interface actions and X-Ray writes have no resource-level permissions.
      '/Platform/RefreshRole/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::*]',
      // CloudWatch Logs delivery for Step Functions and X-Ray writes have no resource-level permissions.
      '/Platform/StateMachineRole/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::*]',
      // Versions and aliases of exactly the invoked functions.
      '/Platform/StateMachineRole/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::<OrchestratorRefreshFunctionFA897599.Arn>:*]',
      '/Platform/StateMachineRole/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::arn:aws:lambda:eu-west-1:123456789012:function:demand:*]',
    ].sort());
  });
});
