/**
 * What synthesis catches before anything deploys: malformed view and schema names (by the handler's own
 * parser), two orchestrators that would create resources with the same names, pipeline functions in another
 * partition, region or account, and timeouts from tokens in a unit the function cannot read.
 */
import { App, CfnParameter, Duration, Stack, Token } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ACCOUNT, minimalProps, newStack, REGION } from './orchestrator-fixture';
import { ItcOrchestrator, ItcOrchestratorProps, Pipeline, RefreshCompute } from '../../src';

function orchestrate(stack: Stack, overrides: Partial<ItcOrchestratorProps> = {}, id = 'Orchestrator'): ItcOrchestrator {
  return new ItcOrchestrator(stack, id, minimalProps(stack, overrides));
}

describe('view and schema names', () => {
  test.each([
    [{ views: ['public.x; DROP TABLE t'] }, /`refresh.views` has an invalid name: Invalid view name "public.x; DROP TABLE t": unexpected ";" at position 9/],
    [{ views: ['a.b.c.d'] }, /`refresh.views` has an invalid name: Invalid view name "a.b.c.d": use schema.view; a database prefix is not allowed/],
    [{ views: ['"unterminated'] }, /`refresh.views` has an invalid name: Invalid view name "\\"unterminated": unterminated double quote at position 1/],
    [{ schemas: ['analytics.daily'] }, /`refresh.schemas` has an invalid name: Invalid schema name "analytics.daily": a schema name has no dots outside double quotes/],
    [{ schemas: ['"x'] }, /`refresh.schemas` has an invalid name: Invalid schema name "\\"x": unterminated double quote/],
  ])('%j fails synth with the parser\'s reason', (refresh, message) => {
    expect(() => orchestrate(newStack(), { refresh })).toThrow(message);
  });

  test('names PostgreSQL accepts synthesize, tokens are left to run time', () => {
    const stack = newStack();
    const view = new CfnParameter(stack, 'View').valueAsString;
    expect(() => orchestrate(stack, {
      refresh: { views: ['daily_totals', 'analytics.daily', '"Sales Hub"."Daily ""Top"" Totals"', 'Äpfel.sorten', view], schemas: ['"Sales.Hub"'] },
    })).not.toThrow();
  });
});

describe('resource names', () => {
  test('two orchestrators with one resourcePrefix in one stack fail synth naming both', () => {
    const stack = newStack();
    orchestrate(stack, { resourcePrefix: 'sales' }, 'First');
    expect(() => orchestrate(stack, { resourcePrefix: 'sales' }, 'Second')).toThrow(
      /`resourcePrefix` "sales" of Stack\/Second is already the prefix of Stack\/First in the same account and region/,
    );
  });

  test('two stacks of one app in the same account and region cannot share a resourcePrefix', () => {
    const app = new App();
    const env = { account: ACCOUNT, region: REGION };
    orchestrate(new Stack(app, 'Blue', { env }), { resourcePrefix: 'sales' });
    expect(() => orchestrate(new Stack(app, 'Green', { env }), { resourcePrefix: 'sales' })).toThrow(
      /`resourcePrefix` "sales" of Green\/Orchestrator is already the prefix of Blue\/Orchestrator/,
    );
  });

  test('two environment-agnostic stacks cannot share a resourcePrefix: they may deploy side by side', () => {
    const app = new App();
    orchestrate(new Stack(app, 'Blue'), { resourcePrefix: 'sales' });
    expect(() => orchestrate(new Stack(app, 'Green'), { resourcePrefix: 'sales' })).toThrow(/Blue\/Orchestrator/);
  });

  test('an environment-agnostic stack and a pinned one sharing a resourcePrefix synthesize with a warning naming both', () => {
    const app = new App();
    orchestrate(new Stack(app, 'Anywhere'), { resourcePrefix: 'sales' });
    const pinned = new Stack(app, 'Pinned', { env: { account: ACCOUNT, region: REGION } });
    expect(() => orchestrate(pinned, { resourcePrefix: 'sales' })).not.toThrow();
    Annotations.fromStack(pinned).hasWarning('/Pinned/Orchestrator', Match.stringLikeRegexp(
      '`resourcePrefix` "sales" of Pinned/Orchestrator is also the prefix of Anywhere/Orchestrator, and one of their stacks may deploy to any account and region',
    ));
    const elsewhere = new Stack(app, 'Elsewhere', { env: { account: ACCOUNT, region: 'eu-west-2' } });
    orchestrate(elsewhere, { resourcePrefix: 'supply' });
    Annotations.fromStack(elsewhere).hasNoWarning('*', Match.stringLikeRegexp('resourcePrefix'));
  });

  test('one prefix in two regions, or two prefixes in one stack, synthesize', () => {
    const app = new App();
    orchestrate(new Stack(app, 'Ireland', { env: { account: ACCOUNT, region: 'eu-west-1' } }), { resourcePrefix: 'sales' });
    const london = new Stack(app, 'London', { env: { account: ACCOUNT, region: 'eu-west-2' } });
    expect(() => orchestrate(london, { resourcePrefix: 'sales' }, 'First')).not.toThrow();
    expect(() => orchestrate(london, { resourcePrefix: 'supply' }, 'Second')).not.toThrow();
  });

  test('without a prefix, the state machine log group is named after the stack, so two deployments of one app do not collide', () => {
    const names = ['warehouse-blue', 'warehouse-green'].map((stackName) => {
      const stack = new Stack(new App(), 'Warehouse', { stackName, env: { account: ACCOUNT, region: REGION } });
      orchestrate(stack);
      const groups = Template.fromStack(stack).findResources('AWS::Logs::LogGroup', {
        Properties: { LogGroupName: Match.stringLikeRegexp('^/aws/vendedlogs/states/') },
      });
      return Object.values(groups).map((group) => group.Properties.LogGroupName as string);
    });
    expect(names[0]).toHaveLength(1);
    expect(names[0][0]).toContain('warehouse-blue');
    expect(names[1][0]).toContain('warehouse-green');
  });
});

describe('pipeline functions', () => {
  const arnIn = (partition: string, region: string, account: string) => `arn:${partition}:lambda:${region}:${account}:function:loader`;

  test('a function in another partition fails synth', () => {
    expect(() => orchestrate(newStack(), { pipelines: [Pipeline.fromFunctionArn('Loader', arnIn('aws-cn', 'cn-north-1', ACCOUNT))] })).toThrow(
      /Pipeline "Loader": `functionArn` is in the partition aws-cn, but the stack deploys to aws \(eu-west-1\); Step Functions cannot invoke a function in another partition, got "arn:aws-cn:lambda:cn-north-1:123456789012:function:loader"/,
    );
  });

  test('a function in another account gets a warning that says it needs a resource policy', () => {
    const stack = newStack();
    orchestrate(stack, { pipelines: [Pipeline.fromFunctionArn('Loader', arnIn('aws', REGION, '210987654321'))] });
    Annotations.fromStack(stack).hasWarning('/Stack/Orchestrator', Match.stringLikeRegexp(
      'Pipeline "Loader" runs a function in the account 210987654321, not this stack\'s account 123456789012: .*resource-based policy .*lambda:InvokeFunction',
    ));
  });

  test('a function in another region gets a warning', () => {
    const stack = newStack();
    orchestrate(stack, { pipelines: [Pipeline.fromFunctionArn('Loader', arnIn('aws', 'us-east-1', ACCOUNT))] });
    Annotations.fromStack(stack).hasWarning('/Stack/Orchestrator', Match.stringLikeRegexp(
      'Pipeline "Loader" runs a function in the region us-east-1, not this stack\'s region eu-west-1',
    ));
  });

  test('functions of the stack, or of its account and region, and environment-agnostic stacks get no warning', () => {
    const stack = newStack();
    const local = new lambda.Function(stack, 'Local', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
    orchestrate(stack, { pipelines: [Pipeline.fromFunction('Local', local), Pipeline.fromFunctionArn('Loader', arnIn('aws', REGION, ACCOUNT))] });
    const agnostic = new Stack(new App(), 'Agnostic');
    orchestrate(agnostic, { pipelines: [Pipeline.fromFunctionArn('Loader', arnIn('aws', 'us-east-1', '210987654321'))] });
    for (const s of [stack, agnostic]) {
      Annotations.fromStack(s).hasNoWarning('*', Match.stringLikeRegexp('Pipeline'));
    }
  });
});

describe('timeouts from tokens', () => {
  test.each(['runLockWaitTimeout', 'viewLockTimeout', 'statementTimeout'] as const)('refresh.%s from a token in seconds fails naming the prop', (prop) => {
    const stack = newStack();
    const seconds = new CfnParameter(stack, 'Seconds', { type: 'Number' }).valueAsNumber;
    expect(() => orchestrate(stack, { refresh: { [prop]: Duration.seconds(seconds) } })).toThrow(
      new RegExp(`\`refresh.${prop}\` from a token must be given in milliseconds, as Duration.millis\\(\\.\\.\\.\\): .*got Duration.seconds`),
    );
  });

  test('refresh timeouts from tokens in milliseconds reach the function', () => {
    const stack = newStack();
    const millis = new CfnParameter(stack, 'Millis', { type: 'Number' }).valueAsNumber;
    orchestrate(stack, { refresh: { runLockWaitTimeout: Duration.millis(millis) } });
    const env = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables;
    expect(Object.values(env).some((value) => JSON.stringify(value).includes('"Ref":"Millis"'))).toBe(true);
    expect(Token.isUnresolved(millis)).toBe(true);
  });

  test('the function timeout from a token in minutes fails naming the prop', () => {
    const stack = newStack();
    const minutes = new CfnParameter(stack, 'Minutes', { type: 'Number' }).valueAsNumber;
    expect(() => orchestrate(stack, { refreshCompute: RefreshCompute.lambda({ timeout: Duration.minutes(minutes) }) })).toThrow(
      /`refreshCompute.timeout` from a token must be given in seconds, as Duration.seconds\(\.\.\.\): .*got Duration.minutes/,
    );
  });
});

test('public subnets fail synth with the reason: aws-lambda\'s own check for the function, the construct\'s for the task, with what to choose instead', () => {
  const stack = newStack();
  const vpc = new ec2.Vpc(stack, 'PublicVpc', { maxAzs: 2 });
  expect(() => orchestrate(stack, { vpc, vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC } })).toThrow(
    /Lambda Functions in a public subnet can NOT access the internet/,
  );
  expect(() => orchestrate(stack, { vpc, vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC }, refreshCompute: RefreshCompute.fargate() }, 'Task')).toThrow(
    /`vpcSubnets` selects public subnets: the refresh task would get no public IP address there.*Select private subnets/,
  );
  expect(() => orchestrate(stack, { vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } }, 'Private')).not.toThrow();
});

test('refreshFunction is the concrete function, to add layers or environment variables to', () => {
  const stack = newStack();
  const orchestrator = orchestrate(stack);
  orchestrator.refreshFunction!.addEnvironment('EXTRA', 'yes');
  Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ EXTRA: 'yes' }) },
  });
});
