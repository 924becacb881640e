import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { DatabaseAuthentication, ItcOrchestrator, OrchestratorDatabase, Pipeline } from '../../src';
import { RefreshEnv } from '../../src/shared/contract';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const PIPELINE_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:demand';

interface Setup {
  readonly app: App;
  readonly stack: Stack;
  readonly vpc: ec2.Vpc;
  readonly instance: rds.DatabaseInstance;
  readonly cluster: rds.DatabaseCluster;
  readonly proxy: rds.DatabaseProxy;
}

function setup(): Setup {
  const app = new App();
  const stack = new Stack(app, 'Stack', { env: ENV });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 });
  const instance = new rds.DatabaseInstance(stack, 'Instance', { engine, vpc, iamAuthentication: true, port: 6543 });
  const cluster = new rds.DatabaseCluster(stack, 'Cluster', {
    engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
    vpc,
    writer: rds.ClusterInstance.serverlessV2('Writer'),
    iamAuthentication: true,
  });
  const proxy = instance.addProxy('Proxy', { vpc, secrets: [instance.secret!], iamAuth: true });
  return { app, stack, vpc, instance, cluster, proxy };
}

function orchestrate(stack: Stack, vpc: ec2.IVpc, database: OrchestratorDatabase, id = 'Orchestrator'): ItcOrchestrator {
  return new ItcOrchestrator(stack, id, { vpc, database, pipelines: [Pipeline.fromFunctionArn('Demand', PIPELINE_ARN)] });
}

/** The refresh function's environment, its role's policy statements and its security group, resolved. */
function refreshSide(stack: Stack, orchestrator: ItcOrchestrator) {
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources;
  const functionId = stack.getLogicalId(orchestrator.refreshFunction!.node.defaultChild as never);
  const fn = resources[functionId];
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  const statements = Object.values<any>(resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy' && resource.Properties.Roles.some((role: any) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
  const actions = statements.flatMap((statement) => [statement.Action].flat() as string[]);
  return {
    template,
    environment: fn.Properties.Environment.Variables as Record<string, unknown>,
    statements,
    actions,
    securityGroup: stack.resolve(orchestrator.connections.securityGroups[0].securityGroupId),
  };
}

const dbuserArn = (resourceId: unknown, user: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':rds-db:eu-west-1:123456789012:dbuser:', resourceId, `/${user}`]],
});

describe('OrchestratorDatabase.fromInstance', () => {
  test('with the instance\'s secret: reads exactly that secret, connects to the instance endpoint and opens its port', () => {
    const { stack, vpc, instance } = setup();
    const orchestrator = orchestrate(stack, vpc, OrchestratorDatabase.fromInstance(instance, { databaseName: 'warehouse' }));
    const { template, environment, statements, actions, securityGroup } = refreshSide(stack, orchestrator);

    expect(environment).toMatchObject({
      [RefreshEnv.SECRET_ARN]: stack.resolve(instance.secret!.secretArn),
      [RefreshEnv.DB_HOST]: stack.resolve(instance.dbInstanceEndpointAddress),
      [RefreshEnv.DB_PORT]: stack.resolve(instance.dbInstanceEndpointPort),
      [RefreshEnv.DB_NAME]: 'warehouse',
      [RefreshEnv.TLS_MODE]: 'verify-full',
    });
    expect(environment[RefreshEnv.IAM_USER]).toBeUndefined();
    expect(statements).toContainEqual(expect.objectContaining({
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: stack.resolve(instance.secret!.secretArn),
    }));
    expect(actions.filter((action) => action.startsWith('rds-db:'))).toEqual([]);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      GroupId: stack.resolve(instance.connections.securityGroups[0].securityGroupId),
      SourceSecurityGroupId: securityGroup,
      FromPort: stack.resolve(instance.connections.defaultPort!.toRuleJson().fromPort),
      ToPort: stack.resolve(instance.connections.defaultPort!.toRuleJson().toPort),
    });
  });

  test('with IAM authentication: rds-db:connect as exactly that user on the instance, and no Secrets Manager permission', () => {
    const { stack, vpc, instance } = setup();
    const orchestrator = orchestrate(stack, vpc, OrchestratorDatabase.fromInstance(instance, {
      databaseName: 'warehouse', authentication: DatabaseAuthentication.fromIam('refresher'),
    }));
    const { environment, statements, actions } = refreshSide(stack, orchestrator);

    expect(environment).toMatchObject({
      [RefreshEnv.IAM_USER]: 'refresher',
      [RefreshEnv.DB_HOST]: stack.resolve(instance.dbInstanceEndpointAddress),
      [RefreshEnv.DB_PORT]: stack.resolve(instance.dbInstanceEndpointPort),
      [RefreshEnv.DB_NAME]: 'warehouse',
      [RefreshEnv.TLS_MODE]: 'verify-full',
    });
    expect(environment[RefreshEnv.SECRET_ARN]).toBeUndefined();
    expect(statements.filter((statement) => [statement.Action].flat().includes('rds-db:connect'))).toEqual([
      { Effect: 'Allow', Action: 'rds-db:connect', Resource: dbuserArn({ 'Fn::GetAtt': [stack.getLogicalId(instance.node.defaultChild as never), 'DbiResourceId'] }, 'refresher') },
    ]);
    expect(actions.filter((action) => action.startsWith('secretsmanager:') || action.startsWith('kms:'))).toEqual([]);
  });
});

describe('OrchestratorDatabase.fromCluster', () => {
  test('with the cluster\'s secret: connects to the writer endpoint and opens the cluster\'s port', () => {
    const { stack, vpc, cluster } = setup();
    const orchestrator = orchestrate(stack, vpc, OrchestratorDatabase.fromCluster(cluster));
    const { template, environment, securityGroup } = refreshSide(stack, orchestrator);

    expect(environment).toMatchObject({
      [RefreshEnv.SECRET_ARN]: stack.resolve(cluster.secret!.secretArn),
      [RefreshEnv.DB_HOST]: stack.resolve(cluster.clusterEndpoint.hostname),
      [RefreshEnv.DB_PORT]: stack.resolve(cluster.clusterEndpoint.socketAddress.split(':')[1] ?? cluster.clusterEndpoint.port),
    });
    expect(environment[RefreshEnv.DB_NAME]).toBeUndefined();
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: stack.resolve(cluster.connections.securityGroups[0].securityGroupId),
      SourceSecurityGroupId: securityGroup,
    });
  });

  test('with IAM authentication: rds-db:connect as the user on the cluster\'s resource ID', () => {
    const { stack, vpc, cluster } = setup();
    const orchestrator = orchestrate(stack, vpc, OrchestratorDatabase.fromCluster(cluster, { authentication: DatabaseAuthentication.fromIam('refresher') }));
    const { statements, actions, environment } = refreshSide(stack, orchestrator);

    expect(environment[RefreshEnv.IAM_USER]).toBe('refresher');
    expect(statements.filter((statement) => [statement.Action].flat().includes('rds-db:connect'))).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'rds-db:connect',
        Resource: dbuserArn({ 'Fn::GetAtt': [stack.getLogicalId(cluster.node.defaultChild as never), 'DBClusterResourceId'] }, 'refresher'),
      }),
    ]);
    expect(actions.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
  });
});

describe('OrchestratorDatabase.fromProxy', () => {
  test('with IAM authentication: connects to the proxy endpoint on 5432, may connect through the proxy as the user, and opens the proxy\'s port', () => {
    const { stack, vpc, proxy } = setup();
    const orchestrator = orchestrate(stack, vpc, OrchestratorDatabase.fromProxy(proxy, { authentication: DatabaseAuthentication.fromIam('refresher') }));
    const { template, environment, statements, actions, securityGroup } = refreshSide(stack, orchestrator);

    expect(environment).toMatchObject({
      [RefreshEnv.IAM_USER]: 'refresher',
      [RefreshEnv.DB_HOST]: stack.resolve(proxy.endpoint),
      [RefreshEnv.DB_PORT]: '5432',
      [RefreshEnv.TLS_MODE]: 'verify-full',
    });
    const connect = statements.filter((statement) => [statement.Action].flat().includes('rds-db:connect'));
    expect(connect).toHaveLength(1);
    expect(JSON.stringify(connect[0].Resource)).toMatch(/:dbuser:.*\/refresher"/);
    expect(JSON.stringify(connect[0].Resource)).toContain(stack.getLogicalId(proxy.node.defaultChild as never));
    expect(actions.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      GroupId: stack.resolve(proxy.connections.securityGroups[0].securityGroupId),
      SourceSecurityGroupId: securityGroup,
    });
  });

  test('with the instance\'s secret: the proxy endpoint goes to the handler, where it wins over the secret\'s host', () => {
    const { stack, vpc, instance, proxy } = setup();
    const authentication = DatabaseAuthentication.fromSecret(instance.secret!);
    const orchestrator = orchestrate(stack, vpc, OrchestratorDatabase.fromProxy(proxy, { authentication }));
    const { environment, actions } = refreshSide(stack, orchestrator);

    expect(environment).toMatchObject({
      [RefreshEnv.SECRET_ARN]: stack.resolve(instance.secret!.secretArn),
      [RefreshEnv.DB_HOST]: stack.resolve(proxy.endpoint),
      [RefreshEnv.DB_PORT]: '5432',
    });
    expect(actions).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue']));
    expect(actions.filter((action) => action.startsWith('rds-db:'))).toEqual([]);
  });
});

describe('OrchestratorDatabase.fromEndpoint', () => {
  test('with a secret and the database\'s security groups: the host and port go to the handler, the port is opened', () => {
    const { stack, vpc } = setup();
    const group = ec2.SecurityGroup.fromSecurityGroupId(stack, 'DatabaseGroup', 'sg-0123456789abcdef0');
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'Secret', 'warehouse/refresher');
    const orchestrator = orchestrate(stack, vpc, OrchestratorDatabase.fromEndpoint(
      { host: 'warehouse.example.internal', port: 6432, securityGroups: [group] },
      { databaseName: 'warehouse', authentication: DatabaseAuthentication.fromSecret(secret) },
    ));
    const { template, environment, securityGroup } = refreshSide(stack, orchestrator);

    expect(environment).toMatchObject({
      [RefreshEnv.DB_HOST]: 'warehouse.example.internal',
      [RefreshEnv.DB_PORT]: '6432',
      [RefreshEnv.DB_NAME]: 'warehouse',
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp', FromPort: 6432, ToPort: 6432, GroupId: 'sg-0123456789abcdef0', SourceSecurityGroupId: securityGroup,
    });
  });

  test('without security groups, no rule is added', () => {
    const { stack, vpc } = setup();
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'Secret', 'warehouse/refresher');
    orchestrate(stack, vpc, OrchestratorDatabase.fromEndpoint({ host: 'warehouse.example.internal' }, { authentication: DatabaseAuthentication.fromSecret(secret) }));
    const ingress = Template.fromStack(stack).findResources('AWS::EC2::SecurityGroupIngress');
    // Only the RDS objects' own rules (the proxy's to the instance): none from the refresh function.
    expect(Object.values(ingress).map((rule: any) => rule.Properties.Description)).not.toContainEqual(expect.stringMatching(/Refresh compute/));
  });

  test('with IAM authentication: rds-db:connect as the user on the given resource ID, in the stack\'s account and region', () => {
    const { stack, vpc } = setup();
    const orchestrator = orchestrate(stack, vpc, OrchestratorDatabase.fromEndpoint(
      { host: 'warehouse.example.internal', resourceId: 'db-ABCDEFGHIJKLMNOP' },
      { authentication: DatabaseAuthentication.fromIam('refresher') },
    ));
    const { statements, actions, environment } = refreshSide(stack, orchestrator);

    expect(environment).toMatchObject({ [RefreshEnv.IAM_USER]: 'refresher', [RefreshEnv.DB_HOST]: 'warehouse.example.internal', [RefreshEnv.DB_PORT]: '5432' });
    expect(statements.filter((statement) => [statement.Action].flat().includes('rds-db:connect'))).toEqual([{
      Effect: 'Allow',
      Action: 'rds-db:connect',
      Resource: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':rds-db:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':dbuser:db-ABCDEFGHIJKLMNOP/refresher']],
      },
    }]);
    expect(actions.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
  });
});

describe('a database in another stack of the app', () => {
  test.each([
    ['its secret', (instance: rds.DatabaseInstance) => OrchestratorDatabase.fromInstance(instance)],
    ['IAM authentication', (instance: rds.DatabaseInstance) => OrchestratorDatabase.fromInstance(instance, { authentication: DatabaseAuthentication.fromIam('refresher') })],
  ])('with %s synthesizes without a dependency cycle; the ingress rule lives in the orchestrator\'s stack', (_case, database) => {
    const app = new App();
    const databaseStack = new Stack(app, 'DatabaseStack', { env: ENV });
    const vpc = new ec2.Vpc(databaseStack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const instance = new rds.DatabaseInstance(databaseStack, 'Instance', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
      vpc,
      iamAuthentication: true,
    });
    const orchestratorStack = new Stack(app, 'OrchestratorStack', { env: ENV });
    const orchestrator = orchestrate(orchestratorStack, vpc, database(instance));

    expect(() => app.synth()).not.toThrow();
    expect(orchestratorStack.dependencies.map((stack) => stack.stackName)).toEqual(['DatabaseStack']);
    expect(databaseStack.dependencies).toEqual([]);
    const rules = Template.fromStack(orchestratorStack).findResources('AWS::EC2::SecurityGroupIngress');
    expect(Object.values(rules).map((rule: any) => rule.Properties)).toEqual([expect.objectContaining({
      IpProtocol: 'tcp',
      SourceSecurityGroupId: orchestratorStack.resolve(orchestrator.connections.securityGroups[0].securityGroupId),
      GroupId: { 'Fn::ImportValue': expect.stringMatching(/^DatabaseStack:ExportsOutputFnGetAttInstanceSecurityGroup/) },
    })]);
  });
});
