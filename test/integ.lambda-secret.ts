/**
 * Deployable integration test: the refresh as a Lambda function, logging in with the generated secret of an RDS
 * PostgreSQL instance in a new VPC. One execution of the state machine must succeed and output the refresh report.
 *
 * The database is left as RDS creates it: it holds no materialized view, so the refresh selects none and reports
 * success without taking the run lock (`lock: 'not-needed'`). That still proves what only a deployment can: the
 * function reaches Secrets Manager and the instance from the VPC, logs in with the secret over verified TLS, and
 * reads the catalog; the engine's refreshes themselves are tested against a real PostgreSQL in test/engine.
 *
 * Snapshot: `npx projen integ:snapshot`; deploy, assert and destroy: `npx projen integ:deploy` (an AWS account).
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import { ItcOrchestrator, OrchestratorDatabase, Pipeline } from '../src';

const app = new App();
const stack = new Stack(app, 'ItcOrchestratorLambdaSecret');

const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
const database = new rds.DatabaseInstance(stack, 'Database', {
  engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16_4 }),
  instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO),
  vpc,
  credentials: rds.Credentials.fromGeneratedSecret('itc'),
  databaseName: 'warehouse',
  removalPolicy: RemovalPolicy.DESTROY,
  deletionProtection: false,
});
const pipeline = new lambda.Function(stack, 'Pipeline', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => ({ loaded: 0 });'),
});
const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', {
  pipelines: [Pipeline.fromFunction('Load', pipeline)],
  vpc,
  database: OrchestratorDatabase.fromInstance(database, { databaseName: 'warehouse' }),
});

const integ = new IntegTest(app, 'LambdaSecret', { testCases: [stack] });
const started = integ.assertions.awsApiCall('SFN', 'startExecution', { stateMachineArn: orchestrator.stateMachine.stateMachineArn });
started.next(
  integ.assertions
    .awsApiCall('SFN', 'describeExecution', { executionArn: started.getAttString('executionArn') })
    .expect(ExpectedResult.objectLike({
      status: 'SUCCEEDED',
      output: Match.serializedJson(Match.objectLike({ status: 'succeeded', lock: 'not-needed', views: [] })),
    }))
    .waitForAssertions({ totalTimeout: Duration.minutes(20), interval: Duration.seconds(20) }),
);
