import { App, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { DatabaseAuthentication, ItcOrchestrator, OrchestratorDatabase, Pipeline, RefreshCompute } from '../../../src';

/** What a platform team passes in, so a test can find each in the template. */
export interface PlatformApp {
  readonly stack: Stack;
  readonly orchestrator: ItcOrchestrator;
  readonly key: kms.Key;
  readonly stateMachineRole: iam.Role;
  readonly refreshRole: iam.Role;
  readonly stateMachineLogGroup: logs.LogGroup;
  readonly refreshLogGroup: logs.LogGroup;
  readonly databaseGroup: ec2.ISecurityGroup;
  readonly alerts: sns.Topic;
  /** The alarm action besides the topic: an incident opened with the platform's response plan. */
  readonly incidentAction: cloudwatchActions.SsmIncidentAction;
}

/** The views a platform team alarms on one by one. */
export const PLATFORM_FRESHNESS_VIEWS = ['reporting.daily_totals', 'reporting.regional_totals'];

/**
 * The orchestrator as a platform team deploys it: the refresh as a Fargate task, a customer-managed key, its own
 * roles and log groups (encrypted with the key), alarm actions of two kinds, a database security group the
 * orchestrator leaves alone, per-view freshness alarms and the dashboard. `cdk synth` of `npx ts-node test/unit/platform/platform-app.ts` writes it for cfn-lint.
 */
export function platformApp(app = new App()): PlatformApp {
  const stack = new Stack(app, 'Platform', { env: { account: '123456789012', region: 'eu-west-1' } });
  // The platform's network, owned by another stack.
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0',
    availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
    privateSubnetRouteTableIds: ['rtb-0123456789abcdef0', 'rtb-0123456789abcdef1'],
  });
  const key = new kms.Key(stack, 'PlatformKey', { enableKeyRotation: true, description: 'ITC orchestrator' });
  const stateMachineRole = new iam.Role(stack, 'StateMachineRole', { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });
  // The refresh task's task role.
  const refreshRole = new iam.Role(stack, 'RefreshRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  // The platform's log groups, with the key and the key policy statement CloudWatch Logs needs.
  const stateMachineLogGroup = new logs.LogGroup(stack, 'StateMachineLogs', {
    logGroupName: '/aws/vendedlogs/states/platform-orchestrator', encryptionKey: key, retention: logs.RetentionDays.ONE_YEAR,
  });
  const refreshLogGroup = new logs.LogGroup(stack, 'RefreshLogs', {
    logGroupName: '/ecs/platform-orchestrator-refresh', encryptionKey: key, retention: logs.RetentionDays.ONE_YEAR,
  });
  key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal('logs.eu-west-1.amazonaws.com')],
    actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    resources: ['*'],
    conditions: {
      ArnEquals: {
        'kms:EncryptionContext:aws:logs:arn': ['/aws/vendedlogs/states/platform-orchestrator', '/ecs/platform-orchestrator-refresh']
          .map((name) => `arn:aws:logs:eu-west-1:123456789012:log-group:${name}`),
      },
    },
  }));
  const databaseGroup = ec2.SecurityGroup.fromSecurityGroupId(stack, 'DatabaseGroup', 'sg-0123456789abcdef0');
  const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warehouse-AbCdEf');
  const alerts = new sns.Topic(stack, 'Alerts', { masterKey: key });
  // An action of another kind than SNS: an incident in Systems Manager Incident Manager.
  const incidentAction = new cloudwatchActions.SsmIncidentAction('platform-orchestrator');
  const pipeline = Pipeline.fromFunctionArn('Demand', 'arn:aws:lambda:eu-west-1:123456789012:function:demand');

  const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', {
    vpc,
    pipelines: [pipeline],
    database: OrchestratorDatabase.fromEndpoint(
      { host: 'warehouse.internal', securityGroups: [databaseGroup] },
      { authentication: DatabaseAuthentication.fromSecret(secret), addIngressRule: false },
    ),
    refreshCompute: RefreshCompute.fargate(),
    encryptionKey: key,
    stateMachineRole,
    refreshRole,
    stateMachineLogGroup,
    refreshLogGroup,
    alarmActions: [new cloudwatchActions.SnsAction(alerts), incidentAction],
    freshness: { maxAge: Duration.hours(26), views: PLATFORM_FRESHNESS_VIEWS },
    alarmOnRefreshRunsSkippedByLock: true,
    dashboard: true,
    tracingEnabled: true,
    resourcePrefix: 'platform-orchestrator',
    schedule: {
      expression: scheduler.ScheduleExpression.rate(Duration.hours(1)),
      input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime }),
    },
  });
  return { stack, orchestrator, key, stateMachineRole, refreshRole, stateMachineLogGroup, refreshLogGroup, databaseGroup, alerts, incidentAction };
}

if (require.main === module) {
  const app = new App();
  platformApp(app);
  app.synth();
}
