import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnElement, SecretValue, Stack, TimeZone } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { ClientConfig } from 'pg';
import type { CloudFormationTemplate } from './template';
import { WAREHOUSE_SCHEMA } from './warehouse';
import { ChangedTables, DatabaseAuthentication, DatabaseTls, ItcOrchestrator, ItcOrchestratorProps, OrchestratorDatabase, Pipeline, RefreshCompute, RefreshOptions } from '../src';

/** The pipelines of the example stack, as `Pipeline` names. */
export const EXAMPLE_PIPELINES = ['Demand', 'VerifyPlus'] as const;
export type ExamplePipeline = (typeof EXAMPLE_PIPELINES)[number];

export const EXAMPLE_STACK_NAME = 'ItcOrchestratorExample';

/**
 * The mixed example's pipelines besides Demand: a Glue job that writes `warehouse.returns`, a nested workflow
 * that invokes the VerifyPlus function, and an ECS task (data tests) that changes no table.
 */
export const MIXED_EXAMPLE = {
  glueJobName: 'itc-example-orders',
  glueJobTables: ['warehouse.returns'],
  ecsTaskFamily: 'itc-example-dbt',
} as const;

/**
 * The Glue example's pipelines: two Glue jobs, Orders (writes `warehouse.returns`, as in the mixed example) and
 * Demand (loads `warehouse.demand`).
 */
export const GLUE_EXAMPLE = {
  demandJobName: 'itc-example-load-demand',
  demandJobTables: ['warehouse.demand'],
} as const;

/** The nested workflows example's state machines: each invokes one of the example's pipeline functions. */
export const WORKFLOWS_EXAMPLE = {
  demandStateMachineName: 'itc-example-load-demand',
  verifyStateMachineName: 'itc-example-verify',
} as const;

/**
 * The kinds of pipeline the example orchestrates:
 * - `functions`: Demand and VerifyPlus, both functions;
 * - `mixed`: Demand stays a function, and a Glue job (Orders), a nested workflow invoking VerifyPlus (Verify) and an
 *   ECS task (Dbt) join it, added with `addPipeline`;
 * - `glue`: only Glue jobs, Demand and Orders (see `GLUE_EXAMPLE`);
 * - `workflows`: only nested workflows, Demand and Verify, which invoke the Demand and VerifyPlus functions;
 * - `none`: no pipeline, a refresh-only schedule.
 */
export type ExamplePipelineKinds = 'functions' | 'mixed' | 'glue' | 'workflows' | 'none';

export interface ExampleStackProps {
  /** The database the refresh function connects to (in local mode: credentials in its environment). */
  readonly database: ClientConfig;
  /** @default - every materialized view of the sample warehouse's schema */
  readonly refresh?: RefreshOptions;
  /** @default - the construct's default, a Lambda function */
  readonly refreshCompute?: RefreshCompute;
  /** @default 'functions' - Demand and VerifyPlus, both functions */
  readonly pipelineKinds?: ExamplePipelineKinds;
  /**
   * Whether the Glue example's jobs list the tables they write (`ChangedTables.of`) or say nothing of them.
   * @default 'listed'
   */
  readonly glueJobTables?: 'listed' | 'unknown';
  /** Alarms on the refresh engine's metrics. @default - none */
  readonly alarms?: Pick<ItcOrchestratorProps, 'freshness' | 'alarmOnRefreshRunsSkippedByLock'>;
  /** OpenLineage events of the refresh. @default - none */
  readonly lineage?: ItcOrchestratorProps['lineage'];
}

/** The synthesized example stack, with the logical ids the local runner maps to local code. */
export interface ExampleStack {
  readonly stackName: string;
  readonly template: CloudFormationTemplate;
  readonly stateMachineLogicalId: string;
  /** The refresh function; absent when the refresh runs as an ECS task. */
  readonly refreshFunctionLogicalId?: string;
  /** The refresh task definition; present when the refresh runs as an ECS task. */
  readonly refreshTaskDefinitionLogicalId?: string;
  readonly pipelineFunctionLogicalIds: Record<ExamplePipeline, string>;
  /** The nested workflows of the mixed and the workflows examples. */
  readonly nestedStateMachineLogicalIds: string[];
  /** The file assets of the cloud assembly, where a deployment uploads them. */
  readonly fileAssets: FileAsset[];
}

/** A file asset: the S3 object a deployment uploads, and its content. */
export interface FileAsset {
  /** The bucket name as the manifest gives it, with `${AWS::AccountId}` and `${AWS::Region}` placeholders. */
  readonly bucketName: string;
  readonly objectKey: string;
  readonly content: Buffer;
}

/**
 * Synthesizes the example: two pipeline functions, Demand and VerifyPlus, orchestrated by an
 * `ItcOrchestrator` on a daily schedule, refreshing the sample warehouse.
 */
export function synthesizeExampleStack(props: ExampleStackProps): ExampleStack {
  const { database } = props;
  if (!database.host || !database.port || !database.database || !database.user || typeof database.password !== 'string') {
    throw new Error('The example stack needs the database host, port, database, user and password');
  }
  // Synthesis stages the refresh bundle as an asset; keep that out of the working tree.
  const outdir = mkdtempSync(join(tmpdir(), 'itc-example-'));
  try {
    const app = new App({ outdir });
    const stack = new Stack(app, EXAMPLE_STACK_NAME);
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });

    const pipelineFunction = (id: string, functionName: string) =>
      new lambda.Function(stack, id, {
        functionName,
        runtime: lambda.Runtime.NODEJS_22_X,
        handler: 'index.handler',
        // Stands in for a real pipeline; the local runner invokes a sample pipeline instead.
        code: lambda.Code.fromInline('exports.handler = async () => ({});'),
      });
    const demand = pipelineFunction('DemandPipeline', 'itc-example-demand');
    const verifyPlus = pipelineFunction('VerifyPlusPipeline', 'itc-example-verify-plus');

    const kinds = props.pipelineKinds ?? 'functions';
    const mixed = kinds === 'mixed';
    const nested: sfn.StateMachine[] = [];
    const workflow = (id: string, stateMachineName: string, fn: lambda.IFunction) => {
      const stateMachine = new sfn.StateMachine(stack, id, {
        stateMachineName,
        definitionBody: sfn.DefinitionBody.fromChainable(new tasks.LambdaInvoke(stack, `${id} invokes ${fn.node.id}`, {
          lambdaFunction: fn,
          outputPath: '$.Payload',
        })),
      });
      nested.push(stateMachine);
      return stateMachine;
    };
    const pipelines = (): Pipeline[] => {
      switch (kinds) {
        case 'functions': return [Pipeline.fromFunction('Demand', demand), Pipeline.fromFunction('VerifyPlus', verifyPlus)];
        case 'mixed': return [Pipeline.fromFunction('Demand', demand)];
        case 'glue': {
          const listed = (tables: readonly string[]) => (props.glueJobTables === 'unknown' ? {} : { changedTables: ChangedTables.of([...tables]) });
          return [
            Pipeline.fromGlueJob('Demand', GLUE_EXAMPLE.demandJobName, listed(GLUE_EXAMPLE.demandJobTables)),
            Pipeline.fromGlueJob('Orders', MIXED_EXAMPLE.glueJobName, listed(MIXED_EXAMPLE.glueJobTables)),
          ];
        }
        // Each workflow's output is its function's result, so the pipeline reads `changedTables` from it, as from a function's.
        case 'workflows': return [
          Pipeline.fromStateMachine('Demand', workflow('DemandWorkflow', WORKFLOWS_EXAMPLE.demandStateMachineName, demand)),
          Pipeline.fromStateMachine('Verify', workflow('VerifyWorkflow', WORKFLOWS_EXAMPLE.verifyStateMachineName, verifyPlus)),
        ];
        case 'none': return [];
      }
    };
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', {
      resourcePrefix: 'itc-example',
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      database: OrchestratorDatabase.fromEndpoint({ host: String(database.host), port: Number(database.port) }, {
        databaseName: database.database,
        authentication: DatabaseAuthentication.fromPassword(String(database.user), SecretValue.unsafePlainText(String(database.password))),
        tls: DatabaseTls.DISABLE,
      }),
      pipelines: pipelines(),
      refresh: props.refresh ?? { schemas: [WAREHOUSE_SCHEMA] },
      refreshCompute: props.refreshCompute,
      ...props.alarms,
      lineage: props.lineage,
      schedule: {
        expression: scheduler.ScheduleExpression.cron({ hour: '5', minute: '30', timeZone: TimeZone.EUROPE_LONDON }),
        input: scheduler.ScheduleTargetInput.fromObject({ batch: 'scheduled' }),
      },
    });

    if (mixed) {
      orchestrator.addPipeline(Pipeline.fromGlueJob('Orders', MIXED_EXAMPLE.glueJobName, { changedTables: ChangedTables.of([...MIXED_EXAMPLE.glueJobTables]) }));
      orchestrator.addPipeline(Pipeline.fromStateMachine('Verify', workflow('VerifyWorkflow', WORKFLOWS_EXAMPLE.verifyStateMachineName, verifyPlus)));
      const taskDefinition = new ecs.FargateTaskDefinition(stack, 'DbtTask', { family: MIXED_EXAMPLE.ecsTaskFamily });
      taskDefinition.addContainer('dbt', { image: ecs.ContainerImage.fromRegistry('ghcr.io/dbt-labs/dbt-postgres:1.9.0') });
      orchestrator.addPipeline(Pipeline.fromTask('Dbt', new tasks.EcsRunTask(stack, 'Run the data tests', {
        cluster: new ecs.Cluster(stack, 'Cluster', { vpc }),
        taskDefinition,
        launchTarget: new tasks.EcsFargateLaunchTarget(),
        subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      }), { changedTables: ChangedTables.of([]) }));
    }

    const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
    const template = Template.fromStack(stack).toJSON() as CloudFormationTemplate;
    return {
      stackName: stack.stackName,
      template,
      fileAssets: readFileAssets(outdir, stack.stackName),
      stateMachineLogicalId: logicalId(orchestrator.stateMachine),
      refreshFunctionLogicalId: orchestrator.refreshFunction && logicalId(orchestrator.refreshFunction),
      refreshTaskDefinitionLogicalId: orchestrator.refreshTaskDefinition && logicalId(orchestrator.refreshTaskDefinition),
      pipelineFunctionLogicalIds: { Demand: logicalId(demand), VerifyPlus: logicalId(verifyPlus) },
      nestedStateMachineLogicalIds: nested.map(logicalId),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** The file assets the synthesized assembly in `outdir` lists for the stack, read before the directory goes. */
export function readFileAssets(outdir: string, stackName: string): FileAsset[] {
  const manifest = JSON.parse(readFileSync(join(outdir, `${stackName}.assets.json`), 'utf8')) as {
    files?: Record<string, { source: { path: string; packaging?: string }; destinations: Record<string, { bucketName: string; objectKey: string }> }>;
  };
  return Object.values(manifest.files ?? {})
    .filter((asset) => asset.source.packaging !== 'zip')
    .flatMap((asset) => Object.values(asset.destinations).map((destination) => ({
      bucketName: destination.bucketName,
      objectKey: destination.objectKey,
      content: readFileSync(join(outdir, asset.source.path)),
    })));
}
