/**
 * The local runner itself, on a small hand-built state machine: template resolution, the Lambda
 * and listExecutions emulation, and the execution environments of bundled functions.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { BundledFunction, FunctionConfiguration, InProcessFunction, LocalFunction, LocalHandler } from '../../../local/lambda';
import { LocalStepFunctions } from '../../../local/step-functions';
import { CloudFormationTemplate, LOCAL_ACCOUNT, TemplateResolver } from '../../../local/template';

interface HandBuilt {
  readonly resolver: TemplateResolver;
  readonly logicalIds: { echo: string; failing: string; stateMachine: string };
}

/** Parallel(echo, failing with a Catch) -> listExecutions, wired the way CDK synthesizes it. */
function handBuiltStack(): HandBuilt {
  // Synthesis needs an output directory; one of our own is removed right after, so no run leaves one behind.
  const outdir = mkdtempSync(join(tmpdir(), 'itc-runner-test-'));
  const stack = new Stack(new App({ outdir }), 'RunnerTest');
  const inline = lambda.Code.fromInline('exports.handler = async () => ({});');
  const echo = new lambda.Function(stack, 'Echo', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: inline });
  const failing = new lambda.Function(stack, 'Failing', { functionName: 'failing-fn', runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: inline });

  const invokeEcho = new tasks.LambdaInvoke(stack, 'Invoke echo', { lambdaFunction: echo });
  invokeEcho.addRetry({ errors: ['Lambda.TooManyRequestsException'], maxAttempts: 2 });
  const invokeFailing = new tasks.LambdaInvoke(stack, 'Invoke failing', { lambdaFunction: failing, retryOnServiceExceptions: false });
  invokeFailing.addCatch(new sfn.Pass(stack, 'Caught'), { errors: ['States.ALL'] });
  const list = new tasks.CallAwsService(stack, 'List executions', {
    service: 'sfn',
    action: 'listExecutions',
    parameters: { StateMachineArn: sfn.JsonPath.stringAt('$$.StateMachine.Id'), StatusFilter: 'RUNNING' },
    iamResources: ['*'],
    resultPath: '$.listed',
  });
  const parallel = new sfn.Parallel(stack, 'Both', { resultPath: '$.branches' }).branch(invokeEcho).branch(invokeFailing);
  const machine = new sfn.StateMachine(stack, 'Machine', { definitionBody: sfn.DefinitionBody.fromChainable(parallel.next(list)) });

  const id = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as lambda.CfnFunction);
  const template = Template.fromStack(stack).toJSON() as CloudFormationTemplate;
  rmSync(outdir, { recursive: true, force: true });
  return {
    resolver: new TemplateResolver(template, stack.stackName),
    logicalIds: { echo: id(echo), failing: id(failing), stateMachine: id(machine) },
  };
}

function runner(built: HandBuilt, handlers: { echo: LocalHandler; failing: LocalHandler }): LocalStepFunctions {
  const functions = new Map<string, LocalFunction>();
  for (const key of ['echo', 'failing'] as const) {
    const configuration = built.resolver.functionConfiguration(built.logicalIds[key]);
    functions.set(configuration.functionArn, new InProcessFunction(configuration, handlers[key]));
  }
  return new LocalStepFunctions({ stateMachine: built.resolver.stateMachine(built.logicalIds.stateMachine), functions, retryIntervalMs: 1 });
}

describe('TemplateResolver', () => {
  const built = handBuiltStack();

  test('resolves the definition into stable local ARNs, with no intrinsic left', () => {
    const machine = built.resolver.stateMachine();
    const text = JSON.stringify(machine.definition);
    expect(text).not.toMatch(/Fn::|"Ref"/);
    expect(machine.arn).toBe(`arn:aws:states:${LOCAL_ACCOUNT.region}:${LOCAL_ACCOUNT.accountId}:stateMachine:${built.logicalIds.stateMachine}`);
    const branch = (machine.definition.States as any).Both.Branches[1].States['Invoke failing'];
    expect(branch.Resource).toBe('arn:aws:states:::lambda:invoke');
    expect(branch.Parameters.FunctionName).toBe(`arn:aws:lambda:${LOCAL_ACCOUNT.region}:${LOCAL_ACCOUNT.accountId}:function:failing-fn`);
  });

  test("gives a function its template's environment, timeout and memory", () => {
    const configuration = built.resolver.functionConfiguration(built.logicalIds.echo);
    expect(configuration).toEqual({
      functionName: built.logicalIds.echo,
      functionArn: `arn:aws:lambda:us-east-1:123456789012:function:${built.logicalIds.echo}`,
      timeoutSeconds: 3,
      memorySize: 128,
      environment: {},
    });
  });

  test('names the place and the intrinsic it cannot resolve', () => {
    const resolver = new TemplateResolver({ Resources: { Queue: { Type: 'AWS::SQS::Queue' } } }, 'S');
    expect(() => resolver.resolve({ Env: { 'Fn::ImportValue': 'shared-vpc' } }, 'Fn.Props')).toThrow(
      'Fn.Props.Env.Fn::ImportValue: the local runner cannot resolve the intrinsic function Fn::ImportValue');
    expect(() => resolver.resolve({ 'Fn::GetAtt': ['Queue', 'QueueUrl'] }, 'X')).toThrow(/cannot resolve Fn::GetAtt Queue.QueueUrl \(AWS::SQS::Queue\)/);
    expect(() => resolver.resolve({ Ref: 'Missing' }, 'X')).toThrow(/Ref to Missing, which is neither a pseudo parameter nor a resource/);
    expect(resolver.resolve({ 'Fn::Sub': '${AWS::Region}/${Queue}/${Queue.Arn}' }, 'X')).toBe('us-east-1/Queue/arn:aws:sqs:us-east-1:123456789012:Queue');
  });
});

describe('LocalStepFunctions', () => {
  test('returns what the lambda:invoke integration returns, and lists running executions', async () => {
    const built = handBuiltStack();
    const local = runner(built, { echo: (event) => ({ echoed: event }), failing: () => ({}) });

    const execution = await local.run({ answer: 42 }, { name: 'run-1' });

    expect(execution.status).toBe('SUCCEEDED');
    const output = execution.output as any;
    const [echoResult] = output.branches;
    expect(echoResult).toMatchObject({ StatusCode: 200, ExecutedVersion: '$LATEST', Payload: { echoed: { answer: 42 } } });
    expect(echoResult.SdkResponseMetadata.RequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(output.listed.Executions).toEqual([
      expect.objectContaining({ ExecutionArn: execution.executionArn, Name: 'run-1', Status: 'RUNNING', StartDate: execution.startDate.toISOString() }),
    ]);
  });

  test('reports a function error the way Step Functions does: Error is its type, Cause its JSON', async () => {
    const built = handBuiltStack();
    class QuotaExceeded extends Error {
      override name = 'QuotaExceeded';
    }
    const local = runner(built, { echo: () => ({}), failing: () => { throw new QuotaExceeded('daily quota used up'); } });

    const execution = await local.run({});

    const caught = (execution.output as any).branches[1];
    expect(caught.Error).toBe('QuotaExceeded');
    expect(JSON.parse(caught.Cause)).toEqual({ errorType: 'QuotaExceeded', errorMessage: 'daily quota used up', trace: expect.arrayContaining([expect.stringContaining('QuotaExceeded: daily quota used up')]) });
    expect(execution.states.find((state) => state.name === 'Invoke failing')).toMatchObject({ outcome: 'caught' });
  });

  test('a throttled invocation is retried by the definition and never reaches the function', async () => {
    const built = handBuiltStack();
    let calls = 0;
    const local = runner(built, { echo: () => ++calls, failing: () => ({}) });
    local.injectFault(built.resolver.functionArn(built.logicalIds.echo), { error: 'Lambda.TooManyRequestsException', cause: 'Rate Exceeded.' });

    const execution = await local.run({});

    expect(execution.status).toBe('SUCCEEDED');
    expect(calls).toBe(1);
    expect(execution.states.find((state) => state.name === 'Invoke echo')).toMatchObject({ outcome: 'succeeded', attempts: 2 });
  });

  test('refuses a definition with a Task it does not emulate, naming the state and the resource', () => {
    const stateMachine = {
      logicalId: 'M',
      name: 'M',
      arn: 'arn:aws:states:us-east-1:123456789012:stateMachine:M',
      definition: { StartAt: 'Send', States: { Send: { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage', End: true } } },
    };
    expect(() => new LocalStepFunctions({ stateMachine, functions: new Map() })).toThrow(
      'Task state "Send" uses arn:aws:states:::sqs:sendMessage, which the local runner does not emulate');
  });

  test("ends as TIMED_OUT when the definition's TimeoutSeconds elapse", async () => {
    const arn = 'arn:aws:lambda:us-east-1:123456789012:function:slow';
    const slow = new InProcessFunction(
      { functionName: 'slow', functionArn: arn, timeoutSeconds: 5, memorySize: 128, environment: {} },
      () => new Promise((resolve) => setTimeout(resolve, 1500)),
    );
    const stateMachine = {
      logicalId: 'M',
      name: 'M',
      arn: 'arn:aws:states:us-east-1:123456789012:stateMachine:M',
      definition: {
        TimeoutSeconds: 1,
        StartAt: 'Slow',
        States: { Slow: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { 'FunctionName': arn, 'Payload.$': '$' }, End: true } },
      },
    };
    const execution = await new LocalStepFunctions({ stateMachine, functions: new Map([[arn, slow]]) }).run({});
    expect(execution).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
    expect(execution.stopDate!.getTime() - execution.startDate.getTime()).toBeLessThan(1400);
  });

  test('fails an invocation of an unknown function with Lambda.ResourceNotFoundException', async () => {
    const built = handBuiltStack();
    const stateMachine = built.resolver.stateMachine();
    const local = new LocalStepFunctions({ stateMachine, functions: new Map() });

    const execution = await local.run({});

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('Lambda.ResourceNotFoundException');
    expect(execution.cause).toContain(`Function not found: ${built.resolver.functionArn(built.logicalIds.echo)}`);
  });
});

describe('BundledFunction', () => {
  let dir: string;
  let entry: string;
  const opened: LocalFunction[] = [];
  const configuration = (timeoutSeconds: number): FunctionConfiguration => ({
    functionName: 'fixture',
    functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fixture',
    timeoutSeconds,
    memorySize: 256,
    environment: { FROM_TEMPLATE: 'yes' },
  });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'itc-bundle-'));
    entry = join(dir, 'index.js');
    // A stand-in bundle that reports what its execution environment looks like.
    writeFileSync(entry, `
      let invocations = 0;
      exports.handler = async (event, context) => {
        invocations += 1;
        if (event.fail) { const error = new Error('asked to fail'); error.name = 'AskedToFail'; throw error; }
        await new Promise((resolve) => setTimeout(resolve, event.sleepMs || 0));
        return {
          invocations,
          fromTemplate: process.env.FROM_TEMPLATE,
          fromParent: process.env.ITC_PARENT_ONLY ?? null,
          functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
          remainingMs: context.getRemainingTimeInMillis(),
        };
      };
    `);
    process.env.ITC_PARENT_ONLY = 'leaked';
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((fn) => fn.close()));
  });

  afterAll(() => {
    delete process.env.ITC_PARENT_ONLY;
    rmSync(dir, { recursive: true, force: true });
  });

  function open(timeoutSeconds = 5): BundledFunction {
    const fn = new BundledFunction(configuration(timeoutSeconds), { entry, region: 'us-east-1' });
    opened.push(fn);
    return fn;
  }

  test('sees exactly the environment of its template, and stays warm between invocations', async () => {
    const fn = open();
    const first = await fn.invoke({}, 'r1');
    const second = await fn.invoke({}, 'r2');
    expect(first).toEqual({ ok: true, result: expect.objectContaining({ invocations: 1, fromTemplate: 'yes', fromParent: null, functionName: 'fixture' }) });
    expect(second).toMatchObject({ ok: true, result: { invocations: 2 } });
    expect((first as any).result.remainingMs).toBeGreaterThan(4000);
    expect((first as any).result.remainingMs).toBeLessThanOrEqual(5000);
  });

  test('serves concurrent invocations from separate environments', async () => {
    const fn = open();
    const results = await Promise.all([fn.invoke({ sleepMs: 100 }, 'a'), fn.invoke({ sleepMs: 100 }, 'b')]);
    expect(results.map((outcome) => (outcome as any).result.invocations)).toEqual([1, 1]);
  });

  test("returns a thrown error as the function's error type and message", async () => {
    const outcome = await open().invoke({ fail: true }, 'r1');
    expect(outcome).toMatchObject({ ok: false, errorType: 'AskedToFail', errorMessage: 'asked to fail' });
  });

  test('ends an invocation at the timeout and discards its environment', async () => {
    const fn = open(1);
    const outcome = await fn.invoke({ sleepMs: 3000 }, 'slow');
    expect(outcome).toMatchObject({ ok: false, errorType: 'Sandbox.Timedout', errorMessage: 'RequestId: slow Error: Task timed out after 1.00 seconds' });
    // The next invocation is a cold start.
    expect(await fn.invoke({}, 'next')).toMatchObject({ ok: true, result: { invocations: 1 } });
  });
});
