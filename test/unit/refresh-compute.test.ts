import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack, Token } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { ACCOUNT, REGION, minimalProps, newStack, orchestratorFixture, stateMachineDefinition, templateResolver, sharedOrchestratorFixture } from './orchestrator-fixture';
import { DatabaseAuthentication, OrchestratorDatabase, RefreshCompute } from '../../src';
import { ItcOrchestrator } from '../../src/orchestrator';
import { RDS_SIGNER_PATH, REFRESH_BOOTSTRAP_PATH, REFRESH_BUNDLE_PATH } from '../../src/private/refresh-task';
import { RefreshEnv, RefreshErrors, RefreshTaskEnv } from '../../src/shared/contract';

const REFRESH_STATE = 'Refresh materialized views';

function fargateFixture(props: Parameters<typeof RefreshCompute.fargate>[0] = {}) {
  return orchestratorFixture({ refreshCompute: RefreshCompute.fargate(props) });
}

let sharedFargate: ReturnType<typeof fargateFixture> | undefined;

/** The Fargate fixture at default props, synthesized once for the tests that only read it. */
function sharedFargateFixture() {
  sharedFargate ??= fargateFixture();
  return sharedFargate;
}

function onlyResource(template: Template, type: string): [string, any] {
  const resources = Object.entries(template.findResources(type));
  expect(resources).toHaveLength(1);
  return resources[0];
}

function containerEnvironment(template: Template): Record<string, unknown> {
  const [, taskDefinition] = onlyResource(template, 'AWS::ECS::TaskDefinition');
  const [container] = taskDefinition.Properties.ContainerDefinitions;
  return Object.fromEntries(container.Environment.map((entry: { Name: string; Value: unknown }) => [entry.Name, entry.Value]));
}

describe('RefreshCompute.lambda()', () => {
  test('is the default and today\'s function, sized by its options', () => {
    const { template } = orchestratorFixture({ refreshCompute: RefreshCompute.lambda({ memorySize: 512, timeout: Duration.minutes(10) }) });
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 512, Timeout: 600, Handler: 'index.handler' });
    template.resourceCountIs('AWS::ECS::TaskDefinition', 0);
    expect(sharedOrchestratorFixture().orchestrator.refreshTaskDefinition).toBeUndefined();
    // The Demand pipeline's function and the refresh function.
    sharedOrchestratorFixture().template.resourceCountIs('AWS::Lambda::Function', 2);
  });
});

describe('RefreshCompute.fargate()', () => {
  test('replaces the function by a Fargate task definition on a pinned public image, with the bootstrap inline', () => {
    const { template, orchestrator } = sharedFargateFixture();
    expect(orchestrator.refreshFunction).toBeUndefined();
    expect(orchestrator.refreshTaskDefinition).toBeDefined();
    // Only the Demand pipeline's function is left.
    template.resourceCountIs('AWS::Lambda::Function', 1);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Cpu: '256',
      Memory: '512',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [Match.objectLike({
        Name: 'refresh',
        Essential: true,
        Image: Match.stringLikeRegexp('^public\\.ecr\\.aws/lambda/nodejs:22\\.\\d{4}\\.\\d{2}\\.\\d{2}\\.\\d{2}$'),
        EntryPoint: ['node', '-e', readFileSync(REFRESH_BOOTSTRAP_PATH, 'utf8').trim()],
        LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
      })],
    });
  });

  test('gives the task the function\'s environment, plus the compute, the refresh run timeout and the heartbeat interval', () => {
    const { template } = fargateFixture({ runTimeout: Duration.hours(2), heartbeatTimeout: Duration.minutes(10) });
    const environment = containerEnvironment(template);
    expect(environment).toMatchObject({
      [RefreshEnv.SECRET_ARN]: { Ref: expect.stringMatching(/^DatabaseSecret/) },
      [RefreshEnv.COMPUTE]: 'fargate',
      [RefreshTaskEnv.RUN_TIMEOUT_MS]: String(2 * 3600 * 1000),
      [RefreshTaskEnv.HEARTBEAT_INTERVAL_MS]: String(2 * 60 * 1000),
      [RefreshTaskEnv.EVENT]: '{}',
      NODE_PATH: '/var/runtime/node_modules',
    });
    expect(environment).not.toHaveProperty(RefreshTaskEnv.TASK_TOKEN);
  });

  test('the bootstrap reads the asset the template names: the refresh bundle itself', () => {
    const outdir = join(__dirname, '..', '..', 'cdk.out', `refresh-compute-${process.pid}`);
    const app = new App({ outdir });
    const stack = new Stack(app, 'Stack', { env: { account: ACCOUNT, region: REGION } });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { refreshCompute: RefreshCompute.fargate() }));
    const assembly = app.synth();
    try {
      const environment = containerEnvironment(Template.fromJSON(assembly.getStackByName('Stack').template));
      const manifest = JSON.parse(readFileSync(join(outdir, 'Stack.assets.json'), 'utf8'));
      const named = Object.values<any>(manifest.files).filter((asset) =>
        Object.values<any>(asset.destinations).some((destination) => destination.objectKey === environment[RefreshTaskEnv.BUNDLE_KEY]));
      expect(named).toHaveLength(1);
      expect(named[0].source.packaging ?? 'file').toBe('file');
      expect(readFileSync(join(outdir, named[0].source.path), 'utf8')).toBe(readFileSync(REFRESH_BUNDLE_PATH, 'utf8'));
      expect(environment[RefreshTaskEnv.BUNDLE_BUCKET]).toBe(Object.values<any>(named[0].destinations)[0].bucketName);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('with IAM authentication the task also gets the RDS signer\'s asset, beside the bundle\'s, and reads exactly those two objects', () => {
    const outdir = join(__dirname, '..', '..', 'cdk.out', `refresh-compute-signer-${process.pid}`);
    const app = new App({ outdir });
    const stack = new Stack(app, 'Stack', { env: { account: ACCOUNT, region: REGION } });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      database: OrchestratorDatabase.fromEndpoint({ host: 'db.example.com', resourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXYZ' }, { authentication: DatabaseAuthentication.fromIam('refresher') }),
      refreshCompute: RefreshCompute.fargate(),
    }));
    const assembly = app.synth();
    try {
      const template = Template.fromJSON(assembly.getStackByName('Stack').template);
      const environment = containerEnvironment(template);
      const manifest = JSON.parse(readFileSync(join(outdir, 'Stack.assets.json'), 'utf8'));
      const fileNamed = (key: unknown) => {
        const named = Object.values<any>(manifest.files).filter((asset) =>
          Object.values<any>(asset.destinations).some((destination) => destination.objectKey === key));
        expect(named).toHaveLength(1);
        expect(named[0].source.packaging ?? 'file').toBe('file');
        return { content: readFileSync(join(outdir, named[0].source.path), 'utf8'), bucketName: Object.values<any>(named[0].destinations)[0].bucketName };
      };
      const signer = fileNamed(environment[RefreshTaskEnv.SIGNER_KEY]);
      expect(signer.content).toBe(readFileSync(RDS_SIGNER_PATH, 'utf8'));
      expect(environment[RefreshTaskEnv.SIGNER_BUCKET]).toBe(signer.bucketName);
      expect(fileNamed(environment[RefreshTaskEnv.BUNDLE_KEY]).content).toBe(readFileSync(REFRESH_BUNDLE_PATH, 'utf8'));
      // The digests known at synth, of the very files uploaded: the task runs nothing else.
      const sha256 = (content: string) => createHash('sha256').update(content).digest('hex');
      expect(environment[RefreshTaskEnv.BUNDLE_SHA256]).toBe(sha256(fileNamed(environment[RefreshTaskEnv.BUNDLE_KEY]).content));
      expect(environment[RefreshTaskEnv.SIGNER_SHA256]).toBe(sha256(signer.content));

      const [, policy] = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('OrchestratorRefreshTaskRoleDefaultPolicy'))!;
      const reads = policy.Properties.PolicyDocument.Statement.filter((statement: any) => [statement.Action].flat().includes('s3:GetObject'));
      expect(reads).toHaveLength(1);
      const objects = [reads[0].Resource].flat().map((resource: unknown) => JSON.stringify(resource));
      expect(objects).toHaveLength(2);
      for (const key of [environment[RefreshTaskEnv.BUNDLE_KEY], environment[RefreshTaskEnv.SIGNER_KEY]]) {
        expect(objects.filter((object: string) => object.includes(`/${key}"`))).toHaveLength(1);
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('without IAM authentication the task gets no RDS signer', () => {
    const environment = containerEnvironment(sharedFargateFixture().template);
    expect(environment).toHaveProperty(RefreshTaskEnv.BUNDLE_KEY);
    expect(environment[RefreshTaskEnv.BUNDLE_SHA256]).toMatch(/^[0-9a-f]{64}$/);
    expect(environment).not.toHaveProperty(RefreshTaskEnv.SIGNER_SHA256);
    expect(environment).not.toHaveProperty(RefreshTaskEnv.SIGNER_BUCKET);
    expect(environment).not.toHaveProperty(RefreshTaskEnv.SIGNER_KEY);
  });

  test('the refresh state starts this task definition revision and waits for the task token, with heartbeat and timeout', () => {
    const { template } = fargateFixture({ runTimeout: Duration.hours(2), heartbeatTimeout: Duration.minutes(3) });
    const [taskDefinitionId] = onlyResource(template, 'AWS::ECS::TaskDefinition');
    const [clusterId] = onlyResource(template, 'AWS::ECS::Cluster');
    const state = stateMachineDefinition(template).States[REFRESH_STATE];
    expect(state).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::ecs:runTask.waitForTaskToken',
      HeartbeatSeconds: 180,
      // The run timeout plus 15 minutes to start the task.
      TimeoutSeconds: 2 * 3600 + 15 * 60,
      Parameters: {
        Cluster: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${clusterId}`,
        TaskDefinition: templateResolver(template).taskDefinitionArn(taskDefinitionId),
        LaunchType: 'FARGATE',
        NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED', Subnets: expect.any(Array), SecurityGroups: [expect.any(String)] } },
        Overrides: { ContainerOverrides: [{ Name: 'refresh', Environment: [{ 'Name': RefreshTaskEnv.TASK_TOKEN, 'Value.$': '$$.Task.Token' }] }] },
      },
    });
    // The same retries of transient database errors as the function; ECS capacity errors are retried too.
    expect(state.Retry.map((retry: { ErrorEquals: string[] }) => retry.ErrorEquals)).toEqual([
      ['ECS.AmazonECSException', 'ECS.ServerException', 'ECS.ThrottlingException'],
      [RefreshErrors.TRANSIENT],
      [RefreshErrors.RUN_LOCK_LOST],
    ]);
    expect(state.Catch).toBeUndefined();
    expect(state.ResultPath).toBeUndefined();
  });

  test('with onlyChangedTables the task gets the refresh event as JSON in its environment: the state\'s input, which the function gets as its payload', () => {
    const { template } = orchestratorFixture({ refreshCompute: RefreshCompute.fargate(), refresh: { onlyChangedTables: true } });
    const state = stateMachineDefinition(template).States[REFRESH_STATE];
    expect(state.Parameters.Overrides).toEqual({
      ContainerOverrides: [{
        Name: 'refresh',
        Environment: [
          { 'Name': RefreshTaskEnv.TASK_TOKEN, 'Value.$': '$$.Task.Token' },
          { 'Name': RefreshTaskEnv.EVENT, 'Value.$': 'States.JsonToString($)' },
        ],
      }],
    });
    const functionState = stateMachineDefinition(orchestratorFixture({ refresh: { onlyChangedTables: true } }).template).States[REFRESH_STATE];
    expect(functionState.Parameters).toMatchObject({ 'Payload.$': '$' });
    // Without an override the task keeps the empty event of its definition, as the function gets `{}`.
    expect(containerEnvironment(template)[RefreshTaskEnv.EVENT]).toBe('{}');
  });

  test('the state machine may run only this task definition in its cluster and pass only the two task roles', () => {
    const { template } = sharedFargateFixture();
    const [taskDefinitionId] = onlyResource(template, 'AWS::ECS::TaskDefinition');
    const [clusterId] = onlyResource(template, 'AWS::ECS::Cluster');
    const taskRole = Object.keys(template.findResources('AWS::IAM::Role')).find((id) => id.startsWith('OrchestratorRefreshTaskRole'))!;
    const executionRole = Object.keys(template.findResources('AWS::IAM::Role')).find((id) => id.startsWith('OrchestratorRefreshTaskExecutionRole'))!;
    const statements = Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('OrchestratorStateMachineRole'))
      .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement);
    const ecsStatements = statements.filter((statement: any) => [statement.Action].flat().some((action: string) => /^(ecs|iam|events):/.test(action)));
    expect(ecsStatements).toEqual([
      {
        Action: 'ecs:RunTask',
        Effect: 'Allow',
        Resource: { Ref: taskDefinitionId },
        Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [clusterId, 'Arn'] } } },
      },
      {
        Action: 'iam:PassRole',
        Effect: 'Allow',
        Resource: [{ 'Fn::GetAtt': [taskRole, 'Arn'] }, { 'Fn::GetAtt': [executionRole, 'Arn'] }],
        Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      },
    ]);
  });

  test('the task role reads the bundle object and the secret, and answers only this state machine', () => {
    const { template } = sharedFargateFixture();
    const [stateMachineId] = onlyResource(template, 'AWS::StepFunctions::StateMachine');
    const [, policy] = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('OrchestratorRefreshTaskRoleDefaultPolicy'))!;
    const statements = policy.Properties.PolicyDocument.Statement;
    expect(statements).toEqual(expect.arrayContaining([
      { Action: 's3:GetObject', Effect: 'Allow', Resource: expect.objectContaining({ 'Fn::Join': expect.any(Array) }) },
      { Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Effect: 'Allow', Resource: { Ref: expect.stringMatching(/^DatabaseSecret/) } },
      { Action: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'], Effect: 'Allow', Resource: { Ref: stateMachineId } },
    ]));
    // The one bundle object, not the whole asset bucket.
    const s3 = statements.find((statement: any) => statement.Action === 's3:GetObject');
    expect(JSON.stringify(s3.Resource)).toMatch(/\/[0-9a-f]{64}\.js"/);
    expect(statements.map((statement: any) => statement.Action).flat().filter((action: string) => !/^(s3:GetObject|secretsmanager:|kms:Decrypt|states:SendTask)/.test(action))).toEqual([]);
  });

  test('the execution role writes only the task\'s log group, which keeps logRetention', () => {
    const { template } = orchestratorFixture({ refreshCompute: RefreshCompute.fargate(), logRetention: 14, resourcePrefix: 'sales' });
    const [logGroupId] = Object.entries(template.findResources('AWS::Logs::LogGroup')).find(([, group]) => group.Properties.LogGroupName === '/ecs/sales-refresh')!;
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/ecs/sales-refresh', RetentionInDays: 14 });
    const [, policy] = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('OrchestratorRefreshTaskExecutionRoleDefaultPolicy'))!;
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
    ]);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Family: 'sales-refresh' });
  });

  test('its connections are the task\'s security groups, so the database can allow it in', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'OwnVpc', { maxAzs: 2 });
    const group = new ec2.SecurityGroup(stack, 'RefreshGroup', { vpc });
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      vpc, securityGroups: [group], refreshCompute: RefreshCompute.fargate(),
    }));
    const database = new ec2.Connections({ securityGroups: [new ec2.SecurityGroup(stack, 'Database', { vpc })], defaultPort: ec2.Port.tcp(5432) });
    database.allowDefaultPortFrom(orchestrator);
    expect(orchestrator.connections.securityGroups).toEqual([group]);
    const definition = stateMachineDefinition(Template.fromStack(stack));
    expect(definition.States[REFRESH_STATE].Parameters.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups)
      .toEqual([`sg-${stack.getLogicalId(group.node.defaultChild as any).toLowerCase()}`]);
    Template.fromStack(stack).hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 5432, SourceSecurityGroupId: { 'Fn::GetAtt': [stack.getLogicalId(group.node.defaultChild as any), 'GroupId'] },
    });
  });

  test('the database opens its port to the task and, with IAM authentication, the task role connects as that user', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'OwnVpc', { maxAzs: 2 });
    const instance = new rds.DatabaseInstance(stack, 'Instance', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
      vpc,
    });
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      vpc,
      database: OrchestratorDatabase.fromInstance(instance, { databaseName: 'warehouse', authentication: DatabaseAuthentication.fromIam('refresher') }),
      refreshCompute: RefreshCompute.fargate(),
    }));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: stack.resolve(instance.connections.securityGroups[0].securityGroupId),
      SourceSecurityGroupId: stack.resolve(orchestrator.connections.securityGroups[0].securityGroupId),
    });
    expect(containerEnvironment(template)).toMatchObject({ [RefreshEnv.IAM_USER]: 'refresher', [RefreshEnv.DB_NAME]: 'warehouse' });
    const [, policy] = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('OrchestratorRefreshTaskRoleDefaultPolicy'))!;
    const actions = policy.Properties.PolicyDocument.Statement.flatMap((statement: any) => [statement.Action].flat());
    expect(actions).toContain('rds-db:connect');
    expect(actions.filter((action: string) => action.startsWith('secretsmanager:'))).toEqual([]);
  });

  test('a given cluster, image and public IP are used as given', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'OwnVpc', { maxAzs: 2 });
    const cluster = new ecs.Cluster(stack, 'Shared', { vpc });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      refreshCompute: RefreshCompute.fargate({ cluster, assignPublicIp: true, image: ecs.ContainerImage.fromRegistry('example.com/node-with-sdk:1'), cpuArchitecture: ecs.CpuArchitecture.X86_64 }),
    }));
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::ECS::Cluster', 1);
    const state = stateMachineDefinition(template).States[REFRESH_STATE];
    expect(state.Parameters.Cluster).toBe(`arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${stack.getLogicalId(cluster.node.defaultChild as any)}`);
    expect(state.Parameters.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp).toBe('ENABLED');
    const environment = containerEnvironment(template);
    // Only the default image keeps its SDK in /var/runtime/node_modules.
    expect(environment).not.toHaveProperty('NODE_PATH');
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RuntimePlatform: { CpuArchitecture: 'X86_64' },
      ContainerDefinitions: [Match.objectLike({ Image: 'example.com/node-with-sdk:1' })],
    });
  });
});

describe('validation', () => {
  const synth = (props: Parameters<typeof minimalProps>[1]) => () => {
    const stack = newStack();
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, props));
  };

  test.each([
    [{ refreshCompute: RefreshCompute.fargate({ cpu: 300 }) }, /`refreshCompute.cpu` must be one of 256, 512, 1024, 2048, 4096, 8192, 16384 CPU units, got 300/],
    [{ refreshCompute: RefreshCompute.fargate({ memoryLimitMiB: 100 }) }, /`refreshCompute.memoryLimitMiB` must be a whole number of MiB from 512 to 122880, got 100/],
    [{ refreshCompute: RefreshCompute.fargate({ runTimeout: Duration.millis(1500) }) }, /`refreshCompute.runTimeout` must be a whole number of seconds/],
    [{ refreshCompute: RefreshCompute.fargate({ runTimeout: Duration.days(400) }) }, /`refreshCompute.runTimeout` must be a whole number of seconds from 1 second to 365 days, got 400 days/],
    [{ refreshCompute: RefreshCompute.fargate({ heartbeatTimeout: Duration.millis(10) }) }, /`refreshCompute.heartbeatTimeout` must be a whole number of seconds/],
    [{ refreshCompute: RefreshCompute.lambda({ timeout: Duration.minutes(20) }) }, /`refreshCompute.timeout` must be a whole number of seconds from 1 second to 15 minutes, got 20 minutes/],
    [{ refreshCompute: RefreshCompute.lambda({ memorySize: 64 }) }, /`refreshCompute.memorySize` must be a whole number of MiB from 128 to 10240, got 64/],
    [{ refreshCompute: RefreshCompute.fargate({ runTimeout: Duration.minutes(10) }), refresh: { statementTimeout: Duration.minutes(10) } },
      /`refresh.statementTimeout` must be shorter than `refreshCompute.runTimeout` \(10 minutes\), or the refresh run times out first, got 10 minutes/],
    [{ refreshCompute: RefreshCompute.lambda({ timeout: Duration.minutes(2) }), refresh: { runLockWaitTimeout: Duration.minutes(3) } },
      /`refresh.runLockWaitTimeout` must be shorter than `refreshCompute.timeout` \(2 minutes\), or the function times out first, got 3 minutes/],
  ])('%#: rejects bad refresh compute settings at synth', (props, message) => {
    expect(synth(props)).toThrow(message);
  });

  test('a CPU that is not a number is refused too', () => {
    expect(synth({ refreshCompute: RefreshCompute.fargate({ cpu: Number.NaN }) })).toThrow(/`refreshCompute.cpu` must be one of 256, .* CPU units, got NaN/);
  });

  test('Fargate sizes from tokens are left to deploy time; timeouts from tokens are refused, naming the prop', () => {
    const fromToken = (name: string) => Token.asNumber({ Ref: name });
    expect(synth({ refreshCompute: RefreshCompute.fargate({ cpu: fromToken('Cpu'), memoryLimitMiB: fromToken('Memory') }) })).not.toThrow();
    expect(synth({ refreshCompute: RefreshCompute.fargate({ runTimeout: Duration.seconds(fromToken('RunTimeout')) }) }))
      .toThrow(/`refreshCompute.runTimeout` cannot come from a token: the task's deadline/);
    expect(synth({ refreshCompute: RefreshCompute.fargate({ heartbeatTimeout: Duration.seconds(fromToken('Heartbeat')) }) }))
      .toThrow(/`refreshCompute.heartbeatTimeout` cannot come from a token/);
  });

  test('onlyChangedTables works with Fargate too', () => {
    expect(synth({ refreshCompute: RefreshCompute.fargate(), refresh: { onlyChangedTables: true } })).not.toThrow();
  });

  test('public subnets are refused unless the Fargate task gets a public IP address there', () => {
    const inPublicSubnets = (refreshCompute?: RefreshCompute) => () => {
      const stack = newStack();
      const vpc = new ec2.Vpc(stack, 'OwnVpc', { maxAzs: 2 });
      new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { vpc, vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC }, refreshCompute }));
    };
    expect(inPublicSubnets()).toThrow(/`vpcSubnets` selects public subnets: a Lambda function there gets no public IP address/);
    expect(inPublicSubnets(RefreshCompute.fargate())).toThrow(/`vpcSubnets` selects public subnets/);
    expect(inPublicSubnets(RefreshCompute.fargate({ assignPublicIp: true }))).not.toThrow();
  });

  test('Fargate refresh runs may hold refreshes longer than Lambda allows', () => {
    expect(synth({ refreshCompute: RefreshCompute.fargate(), refresh: { statementTimeout: Duration.hours(1) } })).not.toThrow();
    expect(synth({ refresh: { statementTimeout: Duration.hours(1) } })).toThrow(/`refresh.statementTimeout` must be shorter than `refreshCompute.timeout`/);
  });
});
