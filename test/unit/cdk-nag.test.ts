import { Aspects, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { minimalProps, newStack } from './orchestrator-fixture';
import { DatabaseAuthentication, ItcOrchestrator, ItcOrchestratorProps, OrchestratorDatabase, RefreshCompute } from '../../src';

/**
 * The AwsSolutions findings on a stack that holds only the construct (its VPC, secret and pipeline
 * are imported, so every finding is the construct's), as "path | rule[finding]".
 */
function findings(overrides: (stack: Stack) => Partial<ItcOrchestratorProps> = () => ({})): string[] {
  const stack = newStack();
  new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, overrides(stack)));
  Aspects.of(stack).add(new AwsSolutionsChecks());
  return annotationsOf(stack);
}

function annotationsOf(stack: Stack): string[] {
  const annotations = Annotations.fromStack(stack);
  const pattern = Match.stringLikeRegexp('^AwsSolutions-');
  return [...annotations.findError('*', pattern), ...annotations.findWarning('*', pattern)]
    .map((message) => `${message.id} | ${/^AwsSolutions-[A-Za-z0-9]+(\[[^\]]*\])?/.exec(String(message.entry.data))![0]}`)
    .sort();
}

// Each remaining finding has its reason in the README's "Security" section.
const DEFAULT_FINDINGS = [
  // Lambda's VPC network interface actions have no resource-level permissions.
  '/Stack/Orchestrator/RefreshFunctionRole/Resource | AwsSolutions-IAM5[Resource::*]',
  // CloudWatch Logs delivery for Step Functions has no resource-level permissions.
  '/Stack/Orchestrator/StateMachine/Role/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::*]',
  // Versions and aliases of exactly the invoked functions.
  '/Stack/Orchestrator/StateMachine/Role/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::<OrchestratorRefreshFunctionFA897599.Arn>:*]',
  '/Stack/Orchestrator/StateMachine/Role/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::arn:aws:lambda:eu-west-1:123456789012:function:demand:*]',
  // X-Ray tracing is opt-in.
  '/Stack/Orchestrator/StateMachine/Resource | AwsSolutions-SF2',
].sort();

test('AwsSolutions leaves exactly the justified findings at default props', () => {
  expect(findings()).toEqual(DEFAULT_FINDINGS);
});

test('enabling tracing clears the tracing finding; X-Ray writes have no resource-level permissions', () => {
  expect(findings(() => ({ tracingEnabled: true }))).toEqual([
    ...DEFAULT_FINDINGS.filter((finding) => !finding.includes('AwsSolutions-SF2')),
    '/Stack/Orchestrator/RefreshFunctionRole/DefaultPolicy/Resource | AwsSolutions-IAM5[Resource::*]',
  ].sort());
});

test('a schedule, an alarm topic and a name prefix add no findings', () => {
  expect(findings((stack) => ({
    schedule: { expression: scheduler.ScheduleExpression.rate(Duration.hours(1)) },
    alarmTopic: sns.Topic.fromTopicArn(stack, 'Alerts', 'arn:aws:sns:eu-west-1:123456789012:alerts'),
    resourcePrefix: 'sales-prod-orchestrator',
  }))).toEqual(DEFAULT_FINDINGS);
});

test('IAM database authentication and an opened network path add no findings', () => {
  const iamEndpoint = () => ({
    database: OrchestratorDatabase.fromEndpoint(
      { host: 'warehouse.internal', resourceId: 'db-ABCDEFGHIJKLMNOP' },
      { authentication: DatabaseAuthentication.fromIam('refresher') },
    ),
  });
  const iamProxy = (stack: Stack) => ({
    database: OrchestratorDatabase.fromProxy(
      rds.DatabaseProxy.fromDatabaseProxyAttributes(stack, 'Proxy', {
        dbProxyArn: 'arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-0123456789abcdef0',
        dbProxyName: 'warehouse',
        endpoint: 'warehouse.proxy-abc.eu-west-1.rds.amazonaws.com',
        securityGroups: [],
      }),
      { authentication: DatabaseAuthentication.fromIam('refresher') },
    ),
  });
  const openedEndpoint = (stack: Stack) => ({
    database: OrchestratorDatabase.fromEndpoint(
      { host: 'warehouse.internal', resourceId: 'db-ABCDEFGHIJKLMNOP', securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(stack, 'Db', 'sg-0123456789abcdef0')] },
      { authentication: DatabaseAuthentication.fromIam('refresher') },
    ),
  });
  expect(findings(iamEndpoint)).toEqual(DEFAULT_FINDINGS);
  expect(findings(iamProxy)).toEqual(DEFAULT_FINDINGS);
  expect(findings(openedEndpoint)).toEqual(DEFAULT_FINDINGS);
});

test('the refresh as a Fargate task leaves exactly the justified findings', () => {
  expect(findings(() => ({ refreshCompute: RefreshCompute.fargate() }))).toEqual([
    // The container's environment holds the refresh settings and the secret's ARN, not the credentials.
    '/Stack/Orchestrator/RefreshTaskDefinition/Resource | AwsSolutions-ECS2',
    // The findings of the state machine, without those of the function, which is not there.
    ...DEFAULT_FINDINGS.filter((finding) => finding.startsWith('/Stack/Orchestrator/StateMachine/') && !finding.includes('RefreshFunction')),
  ].sort());
});
