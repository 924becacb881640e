/**
 * Deployable integration test: the refresh as an ECS Fargate task (`RefreshCompute.fargate()`), logging in with IAM
 * database authentication to an Aurora Serverless v2 PostgreSQL cluster in a new VPC. One execution of the state
 * machine must succeed and output the refresh report.
 *
 * Before the execution, the RDS Data API creates the database user the task logs in as, with `rds_iam`. The database
 * holds no materialized view, so the refresh selects none and reports success without taking the run lock
 * (`lock: 'not-needed'`). That still proves what only a deployment can: the task fetches its bundle and the RDS
 * signer from S3, signs a token with its role, logs in over verified TLS and reads the catalog; the engine's
 * refreshes themselves are tested against a real PostgreSQL in test/engine.
 *
 * Snapshot: `npx projen integ:snapshot`; deploy, assert and destroy: `npx projen integ:deploy` (an AWS account).
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import { DatabaseAuthentication, ItcOrchestrator, OrchestratorDatabase, Pipeline, RefreshCompute } from '../src';

const DATABASE = 'warehouse';
const REFRESH_USER = 'refresher';

const app = new App();
const stack = new Stack(app, 'ItcOrchestratorFargateIam');

const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
const cluster = new rds.DatabaseCluster(stack, 'Database', {
  engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
  writer: rds.ClusterInstance.serverlessV2('Writer'),
  serverlessV2MinCapacity: 0.5,
  serverlessV2MaxCapacity: 1,
  vpc,
  defaultDatabaseName: DATABASE,
  iamAuthentication: true,
  // The test creates the refresh user through the Data API, with the cluster's own secret.
  enableDataApi: true,
  removalPolicy: RemovalPolicy.DESTROY,
});
const pipeline = new lambda.Function(stack, 'Pipeline', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => ({ loaded: 0 });'),
});
const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', {
  pipelines: [Pipeline.fromFunction('Load', pipeline)],
  vpc,
  database: OrchestratorDatabase.fromCluster(cluster, { databaseName: DATABASE, authentication: DatabaseAuthentication.fromIam(REFRESH_USER) }),
  refreshCompute: RefreshCompute.fargate(),
});

const integ = new IntegTest(app, 'FargateIam', { testCases: [stack] });

/** One SQL statement as the cluster's master user, through the Data API. */
function sql(statement: string) {
  const call = integ.assertions.awsApiCall('RDSData', 'executeStatement', {
    resourceArn: cluster.clusterArn,
    secretArn: cluster.secret!.secretArn,
    database: DATABASE,
    sql: statement,
  });
  call.provider.addToRolePolicy({ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [cluster.secret!.secretArn] });
  return call;
}

const started = integ.assertions.awsApiCall('SFN', 'startExecution', { stateMachineArn: orchestrator.stateMachine.stateMachineArn });
sql(`CREATE ROLE ${REFRESH_USER} LOGIN`)
  .next(sql(`GRANT rds_iam TO ${REFRESH_USER}`))
  .next(started)
  .next(
    integ.assertions
      .awsApiCall('SFN', 'describeExecution', { executionArn: started.getAttString('executionArn') })
      .expect(ExpectedResult.objectLike({
        status: 'SUCCEEDED',
        output: Match.serializedJson(Match.objectLike({ status: 'succeeded', lock: 'not-needed', views: [] })),
      }))
      .waitForAssertions({ totalTimeout: Duration.minutes(20), interval: Duration.seconds(20) }),
  );
