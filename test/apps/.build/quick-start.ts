import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { ItcOrchestrator, OrchestratorDatabase, Pipeline } from '../../../src';

const app = new App();
const stack = new Stack(app, 'Warehouse');

const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2 });
const database = new rds.DatabaseInstance(stack, 'Database', {
  engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
  vpc,
  credentials: rds.Credentials.fromGeneratedSecret('itc'),
  storageEncrypted: true,
  databaseName: 'warehouse',
});

const demandLoader = new lambda.Function(stack, 'DemandLoader', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => ({ loaded: true });'),
});

new ItcOrchestrator(stack, 'Orchestrator', {
  pipelines: [
    Pipeline.fromFunction('Demand', demandLoader),
    Pipeline.fromFunctionArn('Supply', `arn:${stack.partition}:lambda:${stack.region}:${stack.account}:function:supply-loader`),
  ],
  vpc,
  // Logs in with the instance's generated secret and opens the instance's port to the refresh function.
  database: OrchestratorDatabase.fromInstance(database, { databaseName: 'warehouse' }),
  refresh: { schemas: ['analytics'] },
  schedule: { expression: scheduler.ScheduleExpression.cron({ minute: '0', hour: '6' }) },
});

app.synth();
