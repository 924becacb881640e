import { Template, Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ItcOrchestrator, RefreshCompute } from '../../../src';
import { minimalProps, newStack } from '../orchestrator-fixture';

function keyedStack(overrides: (stack: ReturnType<typeof newStack>) => object = () => ({})) {
  const stack = newStack();
  const key = new kms.Key(stack, 'PlatformKey');
  const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { encryptionKey: key, ...overrides(stack) }));
  return { stack, key, orchestrator, template: Template.fromStack(stack), keyArn: stack.resolve(key.keyArn) };
}

/** A value with its `Fn::Join` of the partition resolved, as deployed in the fixture's partition. */
function flat(value: any): any {
  if (Array.isArray(value)) {
    return value.map(flat);
  }
  if (value && value['Fn::Join']) {
    const [separator, parts] = value['Fn::Join'];
    return parts.map((part: any) => (part?.Ref === 'AWS::Partition' ? 'aws' : typeof part === 'string' ? part : JSON.stringify(part))).join(separator);
  }
  return value;
}

function logsStatement(template: Template): any {
  const [keyResource] = Object.values(template.findResources('AWS::KMS::Key'));
  return keyResource.Properties.KeyPolicy.Statement.find((statement: any) => statement.Sid?.startsWith('LogsEncrypt'));
}

describe('encryptionKey', () => {
  test('encrypts the execution history of the state machine, which gets a name its key grant can name', () => {
    const { template, keyArn } = keyedStack();
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: Match.stringLikeRegexp('^Stack-StackOrchestrator'),
      EncryptionConfiguration: { Type: 'CUSTOMER_MANAGED_KMS_KEY', KmsKeyId: keyArn },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: keyArn,
        })]),
      },
    });
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const contexts = policies.flatMap((policy) => policy.Properties.PolicyDocument.Statement)
      .map((statement: any) => statement.Condition?.StringEquals?.['kms:EncryptionContext:aws:states:stateMachineArn'])
      .filter((context: any) => context !== undefined).map(flat);
    expect(contexts).toEqual([expect.stringMatching(/^arn:aws:states:eu-west-1:123456789012:stateMachine:Stack-StackOrchestrator[A-Za-z0-9]+$/)]);
  });

  test('encrypts every log group the orchestrator creates and the refresh function\'s environment', () => {
    const { template, keyArn } = keyedStack();
    const logGroups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(logGroups).toHaveLength(2);
    expect(logGroups.map((logGroup) => logGroup.Properties.KmsKeyId)).toEqual([keyArn, keyArn]);
    template.hasResourceProperties('AWS::Lambda::Function', { KmsKeyArn: keyArn });
  });

  test('the key policy lets CloudWatch Logs use the key for exactly those log groups', () => {
    const { template } = keyedStack();
    const names = Object.values(template.findResources('AWS::Logs::LogGroup')).map((logGroup) => logGroup.Properties.LogGroupName).sort();
    expect(names).toEqual([
      expect.stringMatching(/^\/aws\/lambda\/Stack-StackOrchestrator[A-Za-z0-9]+-refresh$/),
      expect.stringMatching(/^\/aws\/vendedlogs\/states\/Stack-StackOrchestrator[A-Za-z0-9]+$/),
    ]);
    const statement = logsStatement(template);
    expect(statement).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'logs.eu-west-1.amazonaws.com' },
      Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      Resource: '*',
    });
    const arns = flat(statement.Condition.ArnEquals['kms:EncryptionContext:aws:logs:arn']);
    expect(arns.map((arn: string) => arn.replace(/^arn:aws:logs:eu-west-1:123456789012:log-group:/, '')).sort()).toEqual(names);
  });

  test('with a resource prefix, the names come from it', () => {
    const { template } = keyedStack(() => ({ resourcePrefix: 'sales' }));
    const arns = flat(logsStatement(template).Condition.ArnEquals['kms:EncryptionContext:aws:logs:arn']);
    expect(arns.sort()).toEqual([
      'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/sales-refresh',
      'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/sales',
    ]);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'sales' });
  });

  test('encrypts the refresh task\'s log group with RefreshCompute.fargate()', () => {
    const { template, keyArn } = keyedStack(() => ({ resourcePrefix: 'sales', refreshCompute: RefreshCompute.fargate() }));
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/ecs/sales-refresh', KmsKeyId: keyArn });
    expect(flat(logsStatement(template).Condition.ArnEquals['kms:EncryptionContext:aws:logs:arn']))
      .toContain('arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/sales-refresh');
  });

  test('without a key nothing is encrypted with a customer key and names stay generated', () => {
    const stack = newStack();
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { EncryptionConfiguration: Match.absent(), StateMachineName: Match.absent() });
    template.hasResourceProperties('AWS::Lambda::Function', { KmsKeyArn: Match.absent() });
    template.allResourcesProperties('AWS::Logs::LogGroup', { KmsKeyId: Match.absent() });
    template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { LogGroupName: Match.absent() }, 1);
  });

  test('an imported key is refused with what its key policy needs, for log groups the orchestrator would create', () => {
    const stack = newStack();
    const key = kms.Key.fromKeyArn(stack, 'Imported', 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555');
    expect(() => new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { encryptionKey: key, resourcePrefix: 'sales' })))
      .toThrow(/`encryptionKey` was imported .*log group \/aws\/lambda\/sales-refresh .*logs\.<region>\.amazonaws\.com.*kms:EncryptionContext:aws:logs:arn.*Pass `refreshLogGroup`/);
  });

  test('an imported key works with log groups passed in: the state machine and the function use it', () => {
    const stack = newStack();
    const key = kms.Key.fromKeyArn(stack, 'Imported', 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555');
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      encryptionKey: key,
      stateMachineLogGroup: logs.LogGroup.fromLogGroupName(stack, 'MachineLogs', '/aws/vendedlogs/states/central'),
      refreshLogGroup: logs.LogGroup.fromLogGroupName(stack, 'RefreshLogs', '/central/refresh'),
    }));
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Logs::LogGroup', 0);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { EncryptionConfiguration: { KmsKeyId: key.keyArn } });
    template.hasResourceProperties('AWS::Lambda::Function', { KmsKeyArn: key.keyArn });
  });

  test('a role passed in gets the key grant of the state machine', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'PlatformKey');
    const role = new iam.Role(stack, 'MachineRole', { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { encryptionKey: key, stateMachineRole: role }));
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [stack.resolve(role.roleName)],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'] })]) },
    });
  });
});
