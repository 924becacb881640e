// The TypeScript twin of app.py: the same app, construct for construct, built from the sources.
// The Python smoke test (smoke-test.sh) synthesizes both and compares the templates.
import { App, ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ConcurrentRefresh, ItcOrchestrator, OrchestratorDatabase, OverlapPolicy, Pipeline } from '../../src';

const STACK_NAME = 'ItcOrchestratorSmoke';

class OrchestratorStack extends Stack {
  constructor(scope: Construct, id: string) {
    super(scope, id);

    const vpc = new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const database = new rds.DatabaseInstance(this, 'Database', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      credentials: rds.Credentials.fromGeneratedSecret('itc'),
      databaseName: 'warehouse',
    });

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
      },
      schedule: {
        expression: scheduler.ScheduleExpression.cron({ minute: '15', hour: '*' }),
      },
      alarmTopic: new sns.Topic(this, 'Alarms'),
    });
  }
}

const app = new App({ analyticsReporting: false });
new OrchestratorStack(app, STACK_NAME);
app.synth();
