import '../../local/promise-polyfill';
import { createRequire } from 'node:module';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as Interpreter from 'aws-local-stepfunctions' with { 'resolution-mode': 'import' };
import { ACCOUNT, minimalProps, newStack, REGION, stateMachineDefinition } from './orchestrator-fixture';
import { allStateNames } from '../../local/asl';
import { ItcOrchestrator, LineageOptions, LineageTransport, RefreshCompute } from '../../src';
import { RefreshEnv } from '../../src/shared/contract';

const { StateMachine } = createRequire(__filename)('aws-local-stepfunctions') as typeof Interpreter;

const KEY_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:openlineage-key-AbCdEf`;
const NAME_EXECUTION = 'Name the execution for lineage';

/** The environment variables of every function and task definition of a template, each with where it is. */
function environmentVariables(template: Template): Array<{ name: string; value: unknown }> {
  const variables: Array<{ name: string; value: unknown }> = [];
  for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
    for (const [name, value] of Object.entries(fn.Properties.Environment?.Variables ?? {})) variables.push({ name, value });
  }
  for (const task of Object.values(template.findResources('AWS::ECS::TaskDefinition'))) {
    for (const container of task.Properties.ContainerDefinitions) {
      for (const { Name: name, Value: value } of container.Environment ?? []) variables.push({ name, value });
    }
  }
  return variables;
}

function policyActions(template: Template): string[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement)
    .flatMap((statement: { Action: string | string[] }) => [statement.Action].flat());
}

const transportOf = (template: Template) => {
  const variable = environmentVariables(template).find(({ name }) => name === RefreshEnv.LINEAGE_TRANSPORT);
  return variable && JSON.parse(variable.value as string);
};

type TaskHandlers = Record<string, (input: any) => Promise<unknown>>;

/** Runs the definition as execution `run-1` of state machine `warehouse`, no execution running before it. */
async function runInExecution(definition: any, handlers: TaskHandlers): Promise<void> {
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: false } });
  await machine.run({}, {
    context: {
      StateMachine: { Id: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:warehouse`, Name: 'warehouse' },
      Execution: { Id: `arn:aws:states:${REGION}:${ACCOUNT}:execution:warehouse:run-1` },
      Task: { Token: 'token' },
    } as any,
    overrides: { taskResourceLocalHandlers: { 'List running executions': async () => ({ Executions: [] }), ...handlers } },
  }).result;
}

describe('lineage', () => {
  let off: Template;
  let http: Template;
  let dataZone: Template;
  let log: Template;
  let fargate: Template;

  function withLineage(lineage: (stack: Stack) => LineageOptions | undefined, compute?: RefreshCompute): Template {
    const app = new App();
    const stack = new Stack(app, 'Stack', { env: { account: ACCOUNT, region: REGION } });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { lineage: lineage(stack), refreshCompute: compute }));
    return Template.fromStack(stack);
  }

  beforeAll(() => {
    off = withLineage(() => undefined);
    const apiKey = (stack: Stack) => secretsmanager.Secret.fromSecretCompleteArn(stack, 'ApiKey', KEY_ARN);
    http = withLineage((stack) => ({
      transport: LineageTransport.http({ url: 'https://marquez.example.internal', apiKey: apiKey(stack), requestTimeout: Duration.millis(1500) }),
      namespace: 'warehouse',
      datasetNamespace: 'postgres://warehouse.example.internal:5432',
      timeBudget: Duration.seconds(3),
    }));
    dataZone = withLineage(() => ({ transport: LineageTransport.dataZone({ domainId: 'dzd_a1b2c3d4e5f6g7' }) }));
    log = withLineage(() => ({ transport: LineageTransport.log() }));
    fargate = withLineage((stack) => ({ transport: LineageTransport.http({ url: 'https://marquez.example.internal', apiKey: apiKey(stack) }) }),
      RefreshCompute.fargate());
  });

  test('the refresh gets its settings, the secret named by ARN only', () => {
    const variables = Object.fromEntries(environmentVariables(http).map(({ name, value }) => [name, value]));
    expect(transportOf(http)).toEqual({
      type: 'http', url: 'https://marquez.example.internal', endpoint: 'api/v1/lineage', apiKeySecretArn: KEY_ARN, requestTimeoutMs: 1500,
    });
    expect(variables).toMatchObject({
      [RefreshEnv.LINEAGE_NAMESPACE]: 'warehouse',
      [RefreshEnv.LINEAGE_DATASET_NAMESPACE]: 'postgres://warehouse.example.internal:5432',
      [RefreshEnv.LINEAGE_TIME_BUDGET_MS]: '3000',
    });
  });

  test('no environment variable holds secret material', () => {
    for (const template of [http, fargate, dataZone]) {
      for (const { name, value } of environmentVariables(template)) {
        expect({ name, value: JSON.stringify(value) }).not.toEqual({ name, value: expect.stringMatching(/resolve:secretsmanager|SecretString|SecretValue/) });
      }
    }
  });

  test('the API key\'s secret is readable by the refresh, on both computes, and only when configured', () => {
    for (const template of [http, fargate]) {
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: KEY_ARN })]) },
      });
    }
    for (const template of [dataZone, log]) expect(JSON.stringify(template.toJSON())).not.toContain('openlineage-key');
  });

  test('DataZone\'s PostLineageEvent is granted on the domain, and only with the DataZone transport', () => {
    dataZone.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Action: 'datazone:PostLineageEvent',
          Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:datazone:${REGION}:${ACCOUNT}:domain/dzd_a1b2c3d4e5f6g7`]] },
        })]),
      },
    });
    expect(transportOf(dataZone)).toEqual({ type: 'dataZone', domainId: 'dzd_a1b2c3d4e5f6g7', requestTimeoutMs: 2000 });
    for (const template of [off, http, log, fargate]) expect(policyActions(template)).not.toContain('datazone:PostLineageEvent');
  });

  test('on Fargate, metric filters publish the lineage metrics of the task\'s log, only with lineage on', () => {
    const filtered = (template: Template) => Object.values(template.findResources('AWS::Logs::MetricFilter'))
      .flatMap((filter) => filter.Properties.MetricTransformations.map((metric: { MetricName: string }) => metric.MetricName));
    expect(filtered(fargate)).toEqual(expect.arrayContaining(['LineageEventsSent', 'LineageEventsNotSent']));
    const fargateOff = withLineage(() => undefined, RefreshCompute.fargate());
    expect(filtered(fargateOff).length).toBeGreaterThan(0);
    expect(filtered(fargateOff).filter((name) => name.startsWith('Lineage'))).toEqual([]);
  });

  test('the log transport adds its setting and no permission', () => {
    expect(transportOf(log)).toEqual({ type: 'log' });
    expect(policyActions(log).sort()).toEqual(policyActions(off).sort());
  });

  test('with lineage off, there is no lineage setting and no lineage state', () => {
    expect(environmentVariables(off).filter(({ name }) => name.startsWith('ITC_LINEAGE_'))).toEqual([]);
    expect(allStateNames(stateMachineDefinition(off))).not.toContain(NAME_EXECUTION);
  });

  test.each([
    ['the Lambda function', () => http, (input: any) => input.Payload],
    ['the Fargate task', () => fargate, (input: any) => JSON.parse(input.Overrides.ContainerOverrides[0].Environment
      .find((variable: { Name: string }) => variable.Name === 'ITC_REFRESH_EVENT').Value)],
  ])('the state machine tells %s which execution it runs in', async (_compute, template, eventOf) => {
    const definition = stateMachineDefinition(template());
    const refreshes: unknown[] = [];
    await runInExecution(definition, {
      'Run pipeline Demand': async () => ({ Payload: {} }),
      'Refresh materialized views': async (input: unknown) => {
        refreshes.push(input);
        return { Payload: { status: 'succeeded' } };
      },
    });
    expect(refreshes.map(eventOf)).toEqual([{
      lineage: {
        executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:warehouse:run-1`,
        // The interpreter sets the start time itself, as Step Functions does.
        executionStartTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
        stateMachineName: 'warehouse',
      },
    }]);
  });

  test('on Fargate, a refresh that ECS refused the changed tables to still names the execution', async () => {
    const app = new App();
    const stack = new Stack(app, 'Stack', { env: { account: ACCOUNT, region: REGION } });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      lineage: { transport: LineageTransport.log() },
      refreshCompute: RefreshCompute.fargate(),
      refresh: { onlyChangedTables: true },
    }));
    const definition = stateMachineDefinition(Template.fromStack(stack));
    const events: Array<Record<string, unknown>> = [];
    const eventOf = (input: any) => JSON.parse(input.Overrides.ContainerOverrides[0].Environment
      .find((variable: { Name: string }) => variable.Name === 'ITC_REFRESH_EVENT').Value);
    await runInExecution(definition, {
      'Run pipeline Demand': async () => ({ Payload: { changedTables: ['sales.orders'] } }),
      'Refresh materialized views': async (input: unknown) => {
        events.push(eventOf(input));
        throw Object.assign(new Error('Container Overrides length must be at most 8192'), { name: 'ECS.InvalidParameterException' });
      },
      'Refresh every materialized view': async (input: unknown) => {
        events.push(eventOf(input));
        return { status: 'succeeded' };
      },
    });
    const execution = { executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:warehouse:run-1`, stateMachineName: 'warehouse' };
    expect(events).toEqual([
      expect.objectContaining({ tables: ['sales.orders'], lineage: expect.objectContaining(execution) }),
      { fullRefreshReason: expect.stringContaining('ECS refused its container override'), lineage: expect.objectContaining(execution) },
    ]);
  });

  describe('bad options fail at synth, naming the option', () => {
    test.each([
      ['a URL that is not http(s)', () => LineageTransport.http({ url: 'ftp://marquez' }), /`url` must be an http:\/\/ or https:\/\/ URL, got 'ftp:\/\/marquez'/],
      ['an endpoint that is a URL', () => LineageTransport.http({ url: 'https://m', endpoint: 'https://m/api' }), /`endpoint` must be a path under `url`/],
      ['a request timeout over 30 s', () => LineageTransport.http({ url: 'https://m', requestTimeout: Duration.minutes(1) }), /`requestTimeout`/],
      ['a DataZone domain that is not one', () => LineageTransport.dataZone({ domainId: 'marketing' }), /`domainId` must be a DataZone domain identifier.*got 'marketing'/],
      ['a DataZone region that is not one', () => LineageTransport.dataZone({ domainId: 'dzd_abc', region: 'Ireland' }), /`region` must be an AWS region.*got 'Ireland'/],
    ])('%s', (_case, make, error) => {
      expect(make).toThrow(error);
    });

    test.each([
      ['an empty namespace', { namespace: ' ' }, /`lineage.namespace` must be a non-empty name/],
      ['a dataset namespace without port', { datasetNamespace: 'postgres://db.internal' }, /`lineage.datasetNamespace` must be postgres:\/\/\{host\}:\{port\}.*got 'postgres:\/\/db.internal'/],
      ['a dataset namespace with an upper-case host', { datasetNamespace: 'postgres://DB.internal:5432' }, /host in lower case/],
      ['a time budget over 60 s', { timeBudget: Duration.minutes(2) }, /`lineage.timeBudget`/],
    ])('%s', (_case, options, error) => {
      const stack = newStack();
      expect(() => new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { lineage: { transport: LineageTransport.log(), ...options } }))).toThrow(error);
    });
  });
});
