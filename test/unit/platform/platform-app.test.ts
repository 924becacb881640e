import { Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PLATFORM_FRESHNESS_VIEWS, platformApp } from './platform-app';

const platform = platformApp();
const { stack } = platform;
Aspects.of(stack).add(new AwsSolutionsChecks());
const template = Template.fromStack(stack);
const ref = (value: unknown) => stack.resolve(value);

describe('the platform team\'s app', () => {
  test('the refresh runs as a Fargate task: no refresh function', () => {
    template.resourceCountIs('AWS::Lambda::Function', 0);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Family: 'platform-orchestrator-refresh', RequiresCompatibilities: ['FARGATE'] });
  });

  test('the key encrypts the execution history, the log groups and the alarm topic; the task\'s environment holds no credentials', () => {
    const keyArn = ref(platform.key.keyArn);
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { EncryptionConfiguration: Match.objectLike({ KmsKeyId: keyArn, Type: 'CUSTOMER_MANAGED_KMS_KEY' }) });
    template.allResourcesProperties('AWS::Logs::LogGroup', { KmsKeyId: keyArn });
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn });
    // The state machine's role may use the key only for this state machine's data.
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(platform.stateMachineRole.roleName)],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: keyArn })]) },
    });
    // Unlike a function's, a task's environment has no encryption of its own: it names the secret, never its value.
    const [taskDefinition] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    const environment = Object.fromEntries(taskDefinition.Properties.ContainerDefinitions[0].Environment
      .map((entry: any) => [entry.Name, entry.Value]));
    expect(environment.ITC_DB_SECRET_ARN).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:warehouse-AbCdEf');
    expect(Object.keys(environment).filter((name) => /PASSWORD|USER/.test(name))).toEqual([]);
  });

  test('the state machine and the refresh task run with the given roles; the construct creates only the schedule\'s and the task\'s execution role', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { RoleArn: ref(platform.stateMachineRole.roleArn) });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { TaskRoleArn: ref(platform.refreshRole.roleArn) });
    // The task role reads the secret and answers the task token.
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(platform.refreshRole.roleName)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] }),
          Match.objectLike({ Action: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'] }),
          // Step Functions encrypts the answer with the caller's permissions on the key, for this state machine only.
          Match.objectLike({
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Resource: ref(platform.key.keyArn),
            Condition: { StringEquals: { 'kms:EncryptionContext:aws:states:stateMachineArn': ref(platform.orchestrator.stateMachine.stateMachineArn) } },
          }),
        ]),
      },
    });
    const roles = Object.entries(template.findResources('AWS::IAM::Role'))
      .map(([logicalId, role]) => `${logicalId} ${role.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service}`).sort();
    expect(roles).toEqual([
      expect.stringMatching(/^OrchestratorRefreshTaskExecutionRole[0-9A-F]+ ecs-tasks.amazonaws.com$/),
      expect.stringMatching(/^OrchestratorScheduleRole[0-9A-F]+ scheduler.amazonaws.com$/),
      expect.stringMatching(/^RefreshRole[0-9A-F]+ ecs-tasks.amazonaws.com$/),
      expect.stringMatching(/^StateMachineRole[0-9A-F]+ states.amazonaws.com$/),
    ]);
  });

  test('the given log groups are where the state machine and the task write, and the metric filters read', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: ref(platform.stateMachineLogGroup.logGroupArn) } }],
      }),
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({
        LogConfiguration: { LogDriver: 'awslogs', Options: Match.objectLike({ 'awslogs-group': ref(platform.refreshLogGroup.logGroupName) }) },
      })],
    });
    // On Fargate the engine's metrics come from its log, through metric filters on the given log group.
    const filters = Object.values(template.findResources('AWS::Logs::MetricFilter'));
    expect(filters.length).toBeGreaterThan(0);
    const refreshLogGroupName = JSON.stringify(ref(platform.refreshLogGroup.logGroupName));
    expect(filters.filter((filter) => JSON.stringify(filter.Properties.LogGroupName) !== refreshLogGroupName)).toEqual([]);
  });

  test('every alarm, per-view freshness included, takes both actions: the topic and the incident', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(6 + PLATFORM_FRESHNESS_VIEWS.length);
    const incidentArn = ref(platform.incidentAction.bind(stack, platform.orchestrator.alarms.all[0]).alarmActionArn);
    const actions = JSON.stringify([ref(platform.alerts.topicArn), incidentArn]);
    expect(alarms.filter((alarm) => JSON.stringify(alarm.Properties.AlarmActions) !== actions)).toEqual([]);
    expect(actions).toContain(':ssm-incidents::123456789012:response-plan/platform-orchestrator');
    expect(Object.keys(platform.orchestrator.alarms.viewStale)).toEqual(PLATFORM_FRESHNESS_VIEWS);
    const perView = alarms.filter((alarm) => alarm.Properties.MetricName === 'ViewRefreshed');
    expect(perView.map((alarm) => alarm.Properties.Dimensions.find((dimension: any) => dimension.Name === 'View').Value).sort()).toEqual(PLATFORM_FRESHNESS_VIEWS);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  test('no rule is added to the database\'s security group', () => {
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    const groups = Object.values(template.findResources('AWS::EC2::SecurityGroup'));
    expect(groups).toHaveLength(1);
    expect(JSON.stringify(groups[0])).not.toContain('sg-0123456789abcdef0');
  });

  test('AwsSolutions leaves only the justified findings: the task\'s environment, and actions without resource-level permissions', () => {
    const pattern = Match.stringLikeRegexp('^AwsSolutions-');
    const annotations = Annotations.fromStack(stack);
    const findings = [...annotations.findError('*', pattern), ...annotations.findWarning('*', pattern)]
      .map((message) => `${message.id} | ${/^AwsSolutions-[A-Za-z0-9]+(\[[^\]]*\])?/.exec(String(message.entry.data))![0]}`)
      .sort();
    expect(findings).toEqual([
      // The container's environment holds the refresh settings and the secret's ARN, not the credentials.
      '/Platform/Orchestrator/RefreshTaskDefinition/Resource | AwsSolutions-ECS2',
      // CloudWatch Logs delivery for Step Functions and X-Ray writes have no resource-level permissions.
      '/Platform/StateMachineRole/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::*]',
      // Versions and aliases of exactly the invoked function.
      '/Platform/StateMachineRole/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::arn:aws:lambda:eu-west-1:123456789012:function:demand:*]',
    ].sort());
  });
});
