// The TypeScript twin of app.py: the same app, construct for construct, built from the sources.
// The Python smoke test (smoke-test.sh) synthesizes both and compares the templates.
import { App, ArnFormat, Duration, SecretValue, Stack } from 'aws-cdk-lib';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  ChangedTables, ConcurrentRefresh, DatabaseAuthentication, DatabaseTls, ItcOrchestrator, LineageTransport, OrchestratorDatabase, OverlapPolicy,
  Pipeline, RefreshCompute,
} from '../../src';

const STACK_NAME = 'ItcOrchestratorSmoke';
const CONNECTIONS_STACK_NAME = 'ItcOrchestratorSmokeConnections';
const FARGATE_STACK_NAME = 'ItcOrchestratorSmokeFargate';
const KINDS_STACK_NAME = 'ItcOrchestratorSmokeKinds';

class OrchestratorStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly database: rds.DatabaseInstance;

  constructor(scope: Construct, id: string, refreshCompute?: RefreshCompute) {
    super(scope, id);

    const vpc = new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 });
    this.vpc = vpc;
    const database = new rds.DatabaseInstance(this, 'Database', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      credentials: rds.Credentials.fromGeneratedSecret('itc'),
      databaseName: 'warehouse',
      iamAuthentication: true,
    });
    this.database = database;

    // One pipeline defined in this app, one deployed elsewhere and referenced by ARN.
    const demand = new lambda.Function(this, 'DemandLoader', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline("exports.handler = async (event) => ({ loaded: 'demand', event });"),
    });
    const supplyArn = this.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: 'supply-loader',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    new ItcOrchestrator(this, 'Orchestrator', {
      pipelines: [Pipeline.fromFunction('Demand', demand), Pipeline.fromFunctionArn('Supply', supplyArn)],
      vpc,
      database: OrchestratorDatabase.fromInstance(database, { databaseName: 'warehouse' }),
      refresh: {
        schemas: ['analytics'],
        concurrency: 4,
        concurrentRefresh: ConcurrentRefresh.AUTO,
        overlapPolicy: OverlapPolicy.SKIP,
        statementTimeout: Duration.minutes(10),
        runLockWaitTimeout: Duration.minutes(2),
        viewLockTimeout: Duration.seconds(30),
        onlyChangedTables: true,
      },
      schedule: {
        expression: scheduler.ScheduleExpression.cron({ minute: '15', hour: '*' }),
        input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime }),
      },
      alarmActions: [new cloudwatchActions.SnsAction(new sns.Topic(this, 'Alarms'))],
      dashboard: true,
      // A customer-managed key, the roles and the state machine's log group of the platform team.
      encryptionKey: new kms.Key(this, 'Key', { enableKeyRotation: true }),
      stateMachineRole: new Role(this, 'StateMachineRole', { assumedBy: new ServicePrincipal('states.amazonaws.com') }),
      refreshRole: new Role(this, 'RefreshRole', {
        assumedBy: new ServicePrincipal(refreshCompute ? 'ecs-tasks.amazonaws.com' : 'lambda.amazonaws.com'),
      }),
      stateMachineLogGroup: new logs.LogGroup(this, 'StateMachineLogs', { logGroupName: `/aws/vendedlogs/states/${id}` }),
      refreshCompute,
      // Per-view freshness alarms: on the function's embedded metrics, or on metric filters of the task's log.
      freshness: { maxAge: Duration.hours(26), views: ['analytics.daily_totals'] },
      // OpenLineage events to Marquez, with an API key the refresh reads from Secrets Manager.
      lineage: {
        transport: LineageTransport.http({ url: 'https://marquez.example.internal', apiKey: new secretsmanager.Secret(this, 'LineageApiKey') }),
        namespace: 'warehouse',
        timeBudget: Duration.seconds(3),
      },
    });
  }
}

/**
 * Every factory and authentication: the instance of the other stack with IAM (a cross-stack reference
 * without a dependency cycle), a cluster with its secret, a proxy with IAM, an endpoint with IAM, and an
 * endpoint with a password and TLS without verification.
 */
class ConnectionsStack extends Stack {
  constructor(scope: Construct, id: string, vpc: ec2.IVpc, instance: rds.IDatabaseInstance) {
    super(scope, id);

    const pipelines = [Pipeline.fromFunctionArn('Demand', this.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: 'demand-loader',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }))];
    const cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
      vpc,
      writer: rds.ClusterInstance.serverlessV2('Writer'),
      iamAuthentication: true,
    });
    const proxy = new rds.DatabaseProxy(this, 'Proxy', {
      proxyTarget: rds.ProxyTarget.fromCluster(cluster),
      secrets: [cluster.secret!],
      vpc,
      iamAuth: true,
    });
    const externalGroup = new ec2.SecurityGroup(this, 'ExternalDatabaseGroup', { vpc });
    const iam = DatabaseAuthentication.fromIam('refresher');

    new ItcOrchestrator(this, 'InstanceIam', {
      pipelines, vpc, database: OrchestratorDatabase.fromInstance(instance, { databaseName: 'warehouse', authentication: iam }),
    });
    // The cluster's security group is left to its owner.
    new ItcOrchestrator(this, 'ClusterSecret', { pipelines, vpc, database: OrchestratorDatabase.fromCluster(cluster, { addIngressRule: false }) });
    new ItcOrchestrator(this, 'ProxyIam', { pipelines, vpc, database: OrchestratorDatabase.fromProxy(proxy, { authentication: iam }) });
    new ItcOrchestrator(this, 'EndpointIam', {
      pipelines,
      vpc,
      database: OrchestratorDatabase.fromEndpoint(
        { host: 'warehouse.example.internal', port: 6432, securityGroups: [externalGroup], resourceId: 'db-ABCDEFGHIJKLMNOP' },
        { databaseName: 'warehouse', authentication: iam },
      ),
    });
    new ItcOrchestrator(this, 'EndpointPassword', {
      pipelines,
      vpc,
      database: OrchestratorDatabase.fromEndpoint({ host: 'warehouse.example.internal' }, {
        databaseName: 'warehouse',
        authentication: DatabaseAuthentication.fromPassword('refresher', SecretValue.unsafePlainText('test-only')),
        tls: DatabaseTls.REQUIRE,
      }),
    });
  }
}

/** No Lambda pipeline: a Glue job with its fixed tables, and a nested workflow added after construction. */
class PipelineKindsStack extends Stack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const vpc = new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 0 });
    const load = new sfn.StateMachine(this, 'LoadWorkflow', {
      definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(this, 'Load', { result: sfn.Result.fromObject({ changedTables: [] }) })),
    });
    const orchestrator = new ItcOrchestrator(this, 'Orchestrator', {
      vpc,
      database: OrchestratorDatabase.fromEndpoint({ host: 'warehouse.example.internal' }, {
        databaseName: 'warehouse',
        authentication: DatabaseAuthentication.fromPassword('refresher', SecretValue.unsafePlainText('test-only')),
      }),
      refresh: { onlyChangedTables: true },
      pipelines: [Pipeline.fromGlueJob('Orders', 'load-orders', { changedTables: ChangedTables.of(['sales.orders']) })],
    });
    orchestrator.addPipeline(Pipeline.fromStateMachine('Load', load));
  }
}

const app = new App({ analyticsReporting: false });
const main = new OrchestratorStack(app, STACK_NAME);
new ConnectionsStack(app, CONNECTIONS_STACK_NAME, main.vpc, main.database);
// The same app with the refresh as an ECS Fargate task.
new OrchestratorStack(app, FARGATE_STACK_NAME, RefreshCompute.fargate({
  runTimeout: Duration.hours(2),
  heartbeatTimeout: Duration.minutes(3),
  cpu: 512,
  memoryLimitMiB: 1024,
}));
new PipelineKindsStack(app, KINDS_STACK_NAME);
app.synth();
