import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { CloudFormationTemplate, LOCAL_ACCOUNT, TemplateResolver } from '../../local/template';
import { DatabaseAuthentication, ItcOrchestrator, ItcOrchestratorProps, OrchestratorDatabase, Pipeline } from '../../src';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';
export const IMPORTED_PIPELINE_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:verify-plus`;

export interface OrchestratorFixture {
  readonly stack: Stack;
  readonly vpc: ec2.Vpc;
  readonly key: kms.Key;
  readonly secret: secretsmanager.Secret;
  readonly demand: lambda.Function;
  readonly orchestrator: ItcOrchestrator;
  readonly template: Template;
}

/**
 * A stack with a VPC, a KMS-encrypted secret, one pipeline function in the stack (Demand) and one
 * imported by ARN (VerifyPlus), and an orchestrator over them. `overrides` replaces any prop.
 */
export function orchestratorFixture(overrides: Partial<ItcOrchestratorProps> = {}): OrchestratorFixture {
  const app = new App();
  const stack = new Stack(app, 'Stack', { env: { account: ACCOUNT, region: REGION } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const key = new kms.Key(stack, 'SecretKey');
  const secret = new secretsmanager.Secret(stack, 'DatabaseSecret', { encryptionKey: key });
  const demand = new lambda.Function(stack, 'Demand', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({})'),
  });
  const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', {
    vpc,
    database: OrchestratorDatabase.fromEndpoint({ host: 'db.internal' }, { authentication: DatabaseAuthentication.fromSecret(secret) }),
    pipelines: [
      Pipeline.fromFunction('Demand', demand),
      Pipeline.fromFunctionArn('VerifyPlus', IMPORTED_PIPELINE_ARN),
    ],
    ...overrides,
  });
  return { stack, vpc, key, secret, demand, orchestrator, template: Template.fromStack(stack) };
}

let sharedFixture: OrchestratorFixture | undefined;

/**
 * The fixture at default props, synthesized once per test file (jest gives each file its own copy of this module),
 * for tests that only read it. A test that adds to the stack takes its own `orchestratorFixture()`.
 */
export function sharedOrchestratorFixture(): OrchestratorFixture {
  sharedFixture ??= orchestratorFixture();
  return sharedFixture;
}

/** The construct's props on a fresh stack with a VPC and a secret, for tests that expect synth to fail. */
export function minimalProps(stack: Stack, overrides: Partial<ItcOrchestratorProps> = {}): ItcOrchestratorProps {
  const vpc = ec2.Vpc.fromVpcAttributes(stack, `Vpc${stack.node.children.length}`, {
    vpcId: 'vpc-12345678',
    availabilityZones: ['eu-west-1a'],
    privateSubnetIds: ['subnet-12345678'],
  });
  const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, `Secret${stack.node.children.length}`,
    `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:database-AbCdEf`);
  return {
    vpc,
    database: OrchestratorDatabase.fromEndpoint({ host: 'db.internal' }, { authentication: DatabaseAuthentication.fromSecret(secret) }),
    pipelines: [Pipeline.fromFunctionArn('Demand', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:demand`)],
    ...overrides,
  };
}

/** A stack in a known environment. */
export function newStack(): Stack {
  return new Stack(new App(), 'Stack', { env: { account: ACCOUNT, region: REGION } });
}

/** Resolves the fixture's template as CloudFormation would deploy it into the fixture's account and region. */
export function templateResolver(template: Template): TemplateResolver {
  return new TemplateResolver(template.toJSON() as CloudFormationTemplate, 'Stack', { ...LOCAL_ACCOUNT, region: REGION, accountId: ACCOUNT });
}

/**
 * The state machine definition with its CloudFormation intrinsics resolved (function references become
 * the functions' ARNs), so states can be checked as plain JSON.
 */
export function stateMachineDefinition(template: Template): any {
  return templateResolver(template).stateMachine().definition;
}
