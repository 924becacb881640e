import { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { ACCOUNT, REGION, minimalProps, newStack, templateResolver } from './orchestrator-fixture';
import { allStateNames } from '../../local/asl';
import { ChangedTables, ItcOrchestrator, ItcOrchestratorProps, Pipeline } from '../../src';

const NESTED_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:load`;
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:demand`;

type Stack = ReturnType<typeof newStack>;
type PipelineMaker = (stack: Stack, name: string, changedTables?: ChangedTables) => Pipeline;

/** One maker per kind of pipeline, each making its pipeline in the given stack. */
const KINDS: Record<string, PipelineMaker> = {
  'function': (_, name, changedTables) => Pipeline.fromFunctionArn(name, FUNCTION_ARN, { changedTables }),
  'Glue job': (_, name, changedTables) => Pipeline.fromGlueJob(name, 'load-orders', { changedTables, arguments: { '--mode': 'full' } }),
  'nested workflow': (stack, name, changedTables) =>
    Pipeline.fromStateMachine(name, sfn.StateMachine.fromStateMachineArn(stack, `Nested${stack.node.children.length}`, NESTED_ARN), { changedTables }),
  'ECS task': (stack, name, changedTables) => Pipeline.fromTask(name, ecsTask(stack, `Run ${name}`.slice(0, 80)), { changedTables }),
  'Batch job': (stack, name, changedTables) => Pipeline.fromTask(name, new tasks.BatchSubmitJob(stack, `Submit ${name}`.slice(0, 80), {
    jobDefinitionArn: `arn:aws:batch:${REGION}:${ACCOUNT}:job-definition/dbt:1`,
    jobQueueArn: `arn:aws:batch:${REGION}:${ACCOUNT}:job-queue/loads`,
    jobName: 'dbt',
  }), { changedTables }),
  'SDK call (EMR Serverless)': (stack, name, changedTables) => Pipeline.fromTask(name, new tasks.CallAwsService(stack, `Start ${name}`.slice(0, 80), {
    service: 'emrserverless',
    action: 'startJobRun',
    parameters: { ApplicationId: 'app-1', ExecutionRoleArn: `arn:aws:iam::${ACCOUNT}:role/emr`, ClientToken: 'token' },
    iamResources: [`arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/app-1`],
  }), { changedTables }),
};

function ecsTask(stack: Stack, id: string): tasks.EcsRunTask {
  const vpc = ec2.Vpc.fromVpcAttributes(stack, `TaskVpc${stack.node.children.length}`, {
    vpcId: 'vpc-87654321', availabilityZones: [`${REGION}a`], privateSubnetIds: ['subnet-87654321'],
  });
  const cluster = new ecs.Cluster(stack, `Cluster${stack.node.children.length}`, { vpc });
  const taskDefinition = new ecs.FargateTaskDefinition(stack, `Dbt${stack.node.children.length}`);
  taskDefinition.addContainer('dbt', { image: ecs.ContainerImage.fromRegistry('ghcr.io/dbt-labs/dbt-postgres') });
  return new tasks.EcsRunTask(stack, id, {
    cluster,
    taskDefinition,
    launchTarget: new tasks.EcsFargateLaunchTarget(),
    integrationPattern: sfn.IntegrationPattern.RUN_JOB,
  });
}

/** Synthesizes an orchestrator with the given pipelines; the resolver checks the definition against the ASL validator. */
function synth(makePipelines: (stack: Stack) => Pipeline[], overrides: Partial<ItcOrchestratorProps> = {}) {
  const stack = newStack();
  const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { pipelines: makePipelines(stack), ...overrides }));
  const template = Template.fromStack(stack);
  const logicalId = stack.getLogicalId(orchestrator.stateMachine.node.defaultChild as CfnElement);
  // Definitions are JSON: the tests read their states by name.
  const definition: any = templateResolver(template).stateMachine(logicalId).definition;
  return { stack, orchestrator, template, definition };
}

/** The branch states of the Parallel, all branches together. */
function branchStates(definition: any): Record<string, any> {
  return Object.assign({}, ...definition.States['Run pipelines'].Branches.map((branch: any) => branch.States));
}

/** The state machine role's statements. */
function stateMachineStatements(template: Template): any[] {
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('StateMachineRoleDefaultPolicy') } });
  return Object.values(policies).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement);
}

describe('apps of each kind synthesize, pass the ASL validator and run each pipeline to completion', () => {
  test('only Glue jobs: startJobRun.sync with the job name and arguments', () => {
    const { definition } = synth((stack) => [KINDS['Glue job'](stack, 'Orders'), Pipeline.fromGlueJob('Customers', 'load-customers')]);
    expect(branchStates(definition)['Run pipeline Orders']).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::glue:startJobRun.sync',
      Parameters: { JobName: 'load-orders', Arguments: { '--mode': 'full' } },
    });
    expect(branchStates(definition)['Run pipeline Customers'].Parameters).toEqual({ JobName: 'load-customers' });
  });

  test('only nested workflows: startExecution.sync:2 with the execution input', () => {
    const { definition } = synth((stack) => [KINDS['nested workflow'](stack, 'Load')]);
    expect(branchStates(definition)['Run pipeline Load']).toMatchObject({
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: { 'Input.$': '$', 'StateMachineArn': NESTED_ARN },
    });
  });

  test('a mix of every kind', () => {
    const { definition } = synth((stack) => Object.entries(KINDS).map(([kind, make], index) => make(stack, `P${index} ${kind.replace(/[()]/g, '')}`)));
    expect(definition.States['Run pipelines'].Branches).toHaveLength(Object.keys(KINDS).length);
  });

  test('no pipeline at all: the overlap guard, then the refresh', () => {
    const { definition } = synth(() => []);
    expect(definition.States['Run pipelines']).toBeUndefined();
    expect(definition.States['Restore the execution input'].Next).toBe('Refresh materialized views');
    const { definition: unguarded } = synth(() => [], { skipOverlappingExecutions: false });
    expect(unguarded.StartAt).toBe('Refresh materialized views');
  });

  test('no pipeline at all with change selection: every view is refreshed, and the reason says why', () => {
    const { definition } = synth(() => [], { refresh: { onlyChangedTables: true } });
    expect(definition.States['Restore the execution input'].Next).toBe('No pipelines: refresh every view');
    expect(definition.States['No pipelines: refresh every view']).toMatchObject({
      Parameters: { fullRefreshReason: 'the orchestrator has no pipelines' },
      Next: 'Refresh materialized views',
    });
  });
});

describe('addPipeline', () => {
  test('a pipeline added after construction is in the definition, after those given in the props', () => {
    const stack = newStack();
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack));
    for (const name of ['Orders', 'Customers']) {
      orchestrator.addPipeline(Pipeline.fromGlueJob(name, `load-${name.toLowerCase()}`));
    }
    const definition: any = templateResolver(Template.fromStack(stack)).stateMachine().definition;
    expect(definition.States['Run pipelines'].Branches.map((branch: any) => branch.StartAt))
      .toEqual(['Run pipeline Demand', 'Run pipeline Orders', 'Run pipeline Customers']);
    expect(definition.States['Did every pipeline succeed?'].Choices[0].Or).toHaveLength(3);
  });

  test('a name already taken is rejected, ignoring case', () => {
    const stack = newStack();
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack));
    expect(() => orchestrator.addPipeline(Pipeline.fromGlueJob('demand', 'load'))).toThrow(/`pipelines` must have unique names \(ignoring case\), got "demand" twice/);
  });

  test('after synth, adding a pipeline is an error rather than a pipeline that silently never runs', () => {
    const stack = newStack();
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack));
    Template.fromStack(stack);
    expect(() => orchestrator.addPipeline(Pipeline.fromGlueJob('Late', 'load'))).toThrow(/Pipeline "Late" cannot be added: the state machine's definition was already synthesized/);
  });
});

describe('retries: each integration retries its own transient errors with the backoff of the Lambda branches', () => {
  const expected: Record<string, string[]> = {
    'function': ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.ClientExecutionTimeoutException', 'Lambda.TooManyRequestsException'],
    'Glue job': ['Glue.ConcurrentRunsExceededException', 'Glue.ThrottlingException', 'Glue.InternalServiceException', 'Glue.OperationTimeoutException'],
    'nested workflow': ['StepFunctions.ExecutionLimitExceededException', 'StepFunctions.ThrottlingException', 'StepFunctions.SdkClientException'],
    'ECS task': ['ECS.AmazonECSException', 'ECS.ServerException', 'ECS.ThrottlingException'],
    'Batch job': ['Batch.ServerException', 'Batch.TooManyRequestsException'],
    'SDK call (EMR Serverless)': ['Emrserverless.ThrottlingException', 'Emrserverless.TooManyRequestsException',
      'Emrserverless.ServiceUnavailableException', 'Emrserverless.InternalServerException', 'Emrserverless.SdkClientException'],
  };
  test.each(Object.keys(KINDS))('%s', (kind) => {
    const { definition } = synth((stack) => [KINDS[kind](stack, 'Load')]);
    const [branch] = definition.States['Run pipelines'].Branches;
    const task = branch.States[branch.StartAt];
    expect(task.Retry).toEqual([{
      ErrorEquals: expected[kind], IntervalSeconds: 2, BackoffRate: 2, MaxAttempts: 6, MaxDelaySeconds: 60, JitterStrategy: 'FULL',
    }]);
    // The pipeline's own failure is not retried: it is caught, and named in the execution's cause.
    expect(task.Retry[0].ErrorEquals).not.toContain('States.TaskFailed');
    expect(task.Retry[0].ErrorEquals).not.toContain('States.ALL');
    expect(task.Catch).toEqual([{ ErrorEquals: ['States.ALL'], Next: 'Pipeline Load failed' }]);
    expect(branch.States['Pipeline Load failed'].Parameters['summary.$']).toBe("States.Format('[Load failed with {}: {}]', $.Error, $.Cause)");
  });
});

describe('least privilege: the state machine role gets what each kind needs and no more', () => {
  const partitionArn = (rest: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, rest]] });

  test('Glue job: start, read, stop runs of that job only', () => {
    const { template } = synth((stack) => [KINDS['Glue job'](stack, 'Orders')]);
    const glue = stateMachineStatements(template).filter((statement) => JSON.stringify(statement.Action).includes('glue:'));
    expect(glue).toEqual([{
      Effect: 'Allow',
      Action: ['glue:StartJobRun', 'glue:GetJobRun', 'glue:GetJobRuns', 'glue:BatchStopJobRun'],
      Resource: partitionArn(`:glue:${REGION}:${ACCOUNT}:job/load-orders`),
    }]);
  });

  test('nested workflow: start that state machine, read and stop its own executions only', () => {
    const { template } = synth((stack) => [KINDS['nested workflow'](stack, 'Load')]);
    const statements = stateMachineStatements(template);
    expect(statements).toContainEqual({ Effect: 'Allow', Action: 'states:StartExecution', Resource: NESTED_ARN });
    // aws-cdk-lib grants `execution:load*`, which also matches a state machine named `loader`.
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: ['states:DescribeExecution', 'states:StopExecution'],
      Resource: partitionArn(`:states:${REGION}:${ACCOUNT}:execution:load:*`),
    });
    expect(JSON.stringify(statements)).not.toContain('execution:load*');
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      Resource: partitionArn(`:events:${REGION}:${ACCOUNT}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`),
    });
  });

  test('ECS task: run that task definition and pass its roles only; stop and describe tasks as aws-cdk-lib grants them', () => {
    const { template } = synth((stack) => [KINDS['ECS task'](stack, 'Dbt')]);
    const statements = stateMachineStatements(template);
    const runTask = statements.find((statement) => statement.Action === 'ecs:RunTask');
    expect(JSON.stringify(runTask.Resource)).toMatch(/Dbt\d+[0-9A-F]{8}/);
    expect(statements.filter((statement) => statement.Action === 'iam:PassRole')).toEqual([
      { Effect: 'Allow', Action: 'iam:PassRole', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Dbt\d+TaskRole/), 'Arn'] } },
    ]);
    // aws-cdk-lib's EcsRunTask grants these on every task; documented, as the task is the app's own.
    expect(statements).toContainEqual({ Effect: 'Allow', Action: ['ecs:StopTask', 'ecs:DescribeTasks'], Resource: '*' });
  });

  test('SDK call: only the action and resources the task names', () => {
    const { template } = synth((stack) => [KINDS['SDK call (EMR Serverless)'](stack, 'Emr')]);
    expect(stateMachineStatements(template)).toContainEqual({
      Effect: 'Allow', Action: 'emrserverless:startJobRun', Resource: `arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/app-1`,
    });
  });

  test('no pipeline: no statement for any pipeline service', () => {
    const { template } = synth(() => []);
    const actions = JSON.stringify(stateMachineStatements(template).map((statement) => statement.Action));
    expect(actions).not.toMatch(/glue:|ecs:|batch:|states:StartExecution|events:/);
  });
});

describe('changed tables, per pipeline', () => {
  const selection = { refresh: { onlyChangedTables: true } };

  test('a fixed list is the branch result itself: no state reads a result', () => {
    const { definition } = synth((stack) => [KINDS['Glue job'](stack, 'Orders', ChangedTables.of(['sales.orders']))], selection);
    const states = branchStates(definition);
    expect(states['Run pipeline Orders'].ResultSelector).toEqual({
      pipeline: 'Orders', failed: false, summary: '', reported: true, changed: true, note: '', changedTables: ['sales.orders'],
    });
    expect(Object.keys(states)).toEqual(['Run pipeline Orders', 'Pipeline Orders failed']);
  });

  test('an empty fixed list says the pipeline changes nothing', () => {
    const { definition } = synth((stack) => [KINDS['Glue job'](stack, 'Audit', ChangedTables.of([]))], selection);
    expect(branchStates(definition)['Run pipeline Audit'].ResultSelector).toMatchObject({ reported: true, changed: false, changedTables: [] });
  });

  test('unknown (the default of a Glue job or a task) refreshes every view, the reason naming the pipeline', () => {
    const { definition } = synth((stack) => [KINDS['Glue job'](stack, 'Orders'), KINDS['ECS task'](stack, 'Dbt')], selection);
    const states = branchStates(definition);
    expect(states['Run pipeline Orders'].ResultSelector).toMatchObject({ reported: false, note: 'Orders does not report its changed tables; ' });
    // A ready-made task keeps its own result; a state of the branch shapes it.
    expect(states['Dbt: result'].Parameters).toMatchObject({ reported: false, note: 'Dbt does not report its changed tables; ' });
  });

  test('a path in the result: a function\'s payload, a nested workflow\'s output, a task\'s output', () => {
    const { definition } = synth((stack) => [
      KINDS.function(stack, 'Demand'),
      KINDS['nested workflow'](stack, 'Load', ChangedTables.fromResult('$.report.tables')),
      KINDS['ECS task'](stack, 'Dbt', ChangedTables.fromResult('$.Tags')),
    ], selection);
    const states = branchStates(definition);
    expect(states['Run pipeline Demand'].ResultSelector['payload.$']).toBe('$.Payload');
    expect(states['Demand: tables?'].Choices[0].Variable).toBe('$.payload.changedTables');
    expect(states['Run pipeline Load'].ResultSelector['payload.$']).toBe('$.Output');
    expect(states['Load: tables?'].Choices[0].Variable).toBe('$.payload.report.tables');
    expect(states['Load: no tables'].Parameters.note).toBe('Load returned no report.tables; ');
    expect(states['Dbt: result'].Parameters['payload.$']).toBe('$');
    expect(states['Dbt: tables?'].Choices[0].Variable).toBe('$.payload.Tags');
  });

  test('without change selection, no branch reads or reports tables', () => {
    const { definition } = synth((stack) => [KINDS['nested workflow'](stack, 'Load'), KINDS['Glue job'](stack, 'Orders', ChangedTables.of(['sales.orders']))]);
    expect(Object.keys(branchStates(definition)).sort()).toEqual(['Pipeline Load failed', 'Pipeline Orders failed', 'Run pipeline Load', 'Run pipeline Orders']);
    expect(branchStates(definition)['Run pipeline Orders'].ResultSelector).toEqual({ pipeline: 'Orders', failed: false, summary: '' });
  });

  test.each([
    [() => ChangedTables.fromResult('changedTables'), /`ChangedTables.fromResult` takes a JSONPath of plain field names such as "\$.changedTables", got "changedTables"/],
    [() => ChangedTables.fromResult('$.tables[0]'), /got "\$.tables\[0\]"/],
    [() => ChangedTables.of(["sales.o'rders"]), /`ChangedTables.of` takes literal table names without quotes, braces or backslashes, got "sales.o'rders"/],
    [() => ChangedTables.of(['']), /got ""/],
  ])('bad input is rejected: %#', (make, message) => {
    expect(make).toThrow(message);
  });
});

describe('state names: within 80 characters and unique, for 64-character pipeline names', () => {
  const longName = (index: number) => `${index}`.padEnd(64, 'x');
  const modes: Record<string, ChangedTables | undefined> = {
    'the default': undefined,
    'a fixed list': ChangedTables.of(['sales.orders']),
    'a path in the result': ChangedTables.fromResult('$.changedTables'),
    'unknown': ChangedTables.unknown(),
  };
  for (const changeSelection of [false, true]) {
    test.each(Object.keys(modes))(`change selection ${changeSelection ? 'on' : 'off'}, changed tables: %s`, (mode) => {
      const { definition } = synth(
        (stack) => Object.values(KINDS).map((make, index) => make(stack, longName(index), modes[mode])),
        { refresh: { onlyChangedTables: changeSelection } },
      );
      const names = allStateNames(definition);
      expect(Math.max(...names.map((name) => name.length))).toBeLessThanOrEqual(80);
      expect(new Set(names).size).toBe(names.length);
      // The longest every pipeline gets: `Pipeline <64 characters> failed`.
      expect(names).toContain(`Pipeline ${longName(0)} failed`);
    });
  }

  test('a task whose id is longer than a state name may be is rejected', () => {
    const stack = newStack();
    const task = new tasks.CallAwsService(stack, 'x'.repeat(81), { service: 's3', action: 'listBuckets', iamResources: ['*'] });
    expect(() => Pipeline.fromTask('Long', task)).toThrow(/Pipeline "Long": the task's id names its state, which Step Functions limits to 80 characters, got "x{81}" \(81 characters\)/);
  });
});

