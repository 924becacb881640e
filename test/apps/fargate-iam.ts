// The Fargate/IAM app of the Java and Go checks, in TypeScript and built from the sources: the twin that
// test/java/src/main/java/com/myorg/FargateIamApp.java and test/go/fargate-iam/main.go are compared with.
// A refresh run as an ECS Fargate task that logs in to the instance with IAM database authentication.
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import { DatabaseAuthentication, ItcOrchestrator, OrchestratorDatabase, Pipeline, RefreshCompute } from '../../src';

const app = new App();
const stack = new Stack(app, 'FargateIam');

const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2 });
const database = new rds.DatabaseInstance(stack, 'Database', {
  engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
  vpc,
  credentials: rds.Credentials.fromGeneratedSecret('itc'),
  storageEncrypted: true,
  databaseName: 'warehouse',
  iamAuthentication: true,
});
const demandLoader = new lambda.Function(stack, 'DemandLoader', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => ({ loaded: true });'),
});

new ItcOrchestrator(stack, 'Orchestrator', {
  pipelines: [Pipeline.fromFunction('Demand', demandLoader)],
  vpc,
  database: OrchestratorDatabase.fromInstance(database, {
    databaseName: 'warehouse',
    authentication: DatabaseAuthentication.fromIam('refresher'),
  }),
  refresh: { schemas: ['reporting'], onlyChangedTables: true },
  refreshCompute: RefreshCompute.fargate({ runTimeout: Duration.hours(3), cpu: 256, memoryLimitMiB: 512 }),
});

app.synth();
