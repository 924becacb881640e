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

/** The stack's zones, so that synth needs no AWS account. */
const AVAILABILITY_ZONES = { 'availability-zones:account=123456789012:region=eu-west-1': ['eu-west-1a', 'eu-west-1b'] };

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
}

/**
 * The orchestrator as a platform team deploys it: a customer-managed key, its own roles and log groups (encrypted
 * with the key), alarm actions, a database security group the orchestrator leaves alone, freshness alarms and the
 * dashboard. `cdk synth` of `npx ts-node test/unit/platform/platform-app.ts` writes it for cfn-lint.
 */
export function platformApp(app = new App({ context: AVAILABILITY_ZONES })): PlatformApp {
  const stack = new Stack(app, 'Platform', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const key = new kms.Key(stack, 'PlatformKey', { enableKeyRotation: true, description: 'ITC orchestrator' });
  const stateMachineRole = new iam.Role(stack, 'StateMachineRole', { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });
  const refreshRole = new iam.Role(stack, 'RefreshRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  // The platform's log groups, with the key and the key policy statement CloudWatch Logs needs.
  const stateMachineLogGroup = new logs.LogGroup(stack, 'StateMachineLogs', {
    logGroupName: '/aws/vendedlogs/states/platform-orchestrator', encryptionKey: key, retention: logs.RetentionDays.ONE_YEAR,
  });
  const refreshLogGroup = new logs.LogGroup(stack, 'RefreshLogs', {
    logGroupName: '/aws/lambda/platform-orchestrator-refresh', encryptionKey: key, retention: logs.RetentionDays.ONE_YEAR,
  });
  key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal('logs.eu-west-1.amazonaws.com')],
    actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    resources: ['*'],
    conditions: {
      ArnEquals: {
        'kms:EncryptionContext:aws:logs:arn': ['/aws/vendedlogs/states/platform-orchestrator', '/aws/lambda/platform-orchestrator-refresh']
          .map((name) => `arn:aws:logs:eu-west-1:123456789012:log-group:${name}`),
      },
    },
  }));
  const databaseGroup = ec2.SecurityGroup.fromSecurityGroupId(stack, 'DatabaseGroup', 'sg-0123456789abcdef0');
  const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warehouse-AbCdEf');
  const alerts = new sns.Topic(stack, 'Alerts', { masterKey: key });
  const pipeline = Pipeline.fromFunctionArn('Demand', 'arn:aws:lambda:eu-west-1:123456789012:function:demand');

  const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', {
    vpc,
    pipelines: [pipeline],
    database: OrchestratorDatabase.fromEndpoint(
      { host: 'warehouse.internal', securityGroups: [databaseGroup] },
      { authentication: DatabaseAuthentication.fromSecret(secret), addIngressRule: false },
    ),
    refreshCompute: RefreshCompute.lambda(),
    encryptionKey: key,
    stateMachineRole,
    refreshRole,
    stateMachineLogGroup,
    refreshLogGroup,
    alarmActions: [new cloudwatchActions.SnsAction(alerts)],
    freshness: { maxAge: Duration.hours(26), views: ['reporting.daily_totals'] },
    alarmOnRefreshRunsSkippedByLock: true,
    dashboard: true,
    tracingEnabled: true,
    resourcePrefix: 'platform-orchestrator',
    schedule: {
      expression: scheduler.ScheduleExpression.rate(Duration.hours(1)),
      input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime }),
    },
  });
  return { stack, orchestrator, key, stateMachineRole, refreshRole, stateMachineLogGroup, refreshLogGroup, databaseGroup, alerts };
}

if (require.main === module) {
  const app = new App({ context: AVAILABILITY_ZONES });
  platformApp(app);
  app.synth();
}
