import './promise-polyfill';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientConfig } from 'pg';
import { AwsStandIn, LocalEcs, REFRESH_BOOTSTRAP, TaskTokens } from './ecs';
import { EXAMPLE_PIPELINES, ExamplePipeline, ExamplePipelineKinds, ExampleStack, ExampleStackProps, GLUE_EXAMPLE, MIXED_EXAMPLE, synthesizeExampleStack } from './example-stack';
import { BundledFunction, InProcessFunction, LocalFunction, LocalHandler, REFRESH_BUNDLE } from './lambda';
import { LocalJob, ServiceStandIns } from './service-stand-ins';
import { LocalExecution, LocalStepFunctions, StartExecutionOptions } from './step-functions';
import { LOCAL_ACCOUNT, LocalStateMachine, TemplateResolver } from './template';
import { samplePipelines } from './warehouse';
import type { ItcOrchestratorProps, RefreshCompute, RefreshOptions } from '../src';

/** Where the AWS Lambda base image keeps the AWS SDK; here the repository's node_modules stand in for it. */
const IMAGE_SDK_DIRECTORY = '/var/runtime/node_modules';

export interface LocalOrchestrationOptions {
  /** The database that holds the sample warehouse. */
  readonly database: ClientConfig;
  /**
   * Replaces sample pipelines, e.g. with one that fails.
   * @default - the sample pipelines, which load a batch into the warehouse tables
   */
  readonly pipelines?: Partial<Record<ExamplePipeline, LocalHandler>>;
  /** How long each sample pipeline works, in milliseconds. @default 0 */
  readonly pipelineWorkMs?: number;
  /** The construct's refresh options. @default - the example stack's */
  readonly refresh?: RefreshOptions;
  /** What runs the refresh. @default - the construct's default, a Lambda function */
  readonly refreshCompute?: RefreshCompute;
  /** Replaces every Retry interval of the definition. @default - the definition's intervals */
  readonly retryIntervalMs?: number;
  /** Alarms on the refresh engine's metrics, in the synthesized stack. @default - none */
  readonly alarms?: Pick<ItcOrchestratorProps, 'freshness' | 'alarmOnRefreshRunsSkippedByLock'>;
  /** OpenLineage events of the refresh. @default - none */
  readonly lineage?: ItcOrchestratorProps['lineage'];
  /** Receives each line the refresh function or task logs. @default - discarded */
  readonly onRefreshLog?: (line: string) => void;
  /** The example's kinds of pipeline (see `ExamplePipelineKinds`). @default 'functions' */
  readonly pipelineKinds?: ExamplePipelineKinds;
  /** Whether the Glue example's jobs list their tables (see `ExampleStackProps`). @default 'listed' */
  readonly glueJobTables?: ExampleStackProps['glueJobTables'];
  /**
   * The work of the Glue jobs (Orders; Demand in the Glue example) and of the mixed example's ECS task (Dbt).
   * @default - each succeeds at once
   */
  readonly jobs?: Partial<Record<'Orders' | 'Demand' | 'Dbt', LocalJob>>;
}

/** The throttling error the Lambda service returns when the function's concurrency is exhausted. */
export const LAMBDA_THROTTLED = {
  error: 'Lambda.TooManyRequestsException',
  cause: 'Rate Exceeded. (Service: AWSLambda; Status Code: 429; Error Code: TooManyRequestsException; Request ID: 00000000-0000-0000-0000-000000000000; Proxy: null)',
};

/**
 * The example stack, synthesized and run locally: its state machine definition runs unchanged
 * in `aws-local-stepfunctions`, the pipeline functions are sample pipelines, and the refresh
 * function is the real bundled handler with the environment the construct gives it.
 */
export class LocalOrchestration {
  public static create(options: LocalOrchestrationOptions): LocalOrchestration {
    if (!existsSync(REFRESH_BUNDLE)) {
      throw new Error(`${REFRESH_BUNDLE} does not exist: run \`npx projen bundle\` first`);
    }
    if (options.refreshCompute && !existsSync(REFRESH_BOOTSTRAP)) {
      throw new Error(`${REFRESH_BOOTSTRAP} does not exist: run \`npx projen bundle\` first`);
    }
    const { database, refresh, refreshCompute, pipelineKinds, glueJobTables, alarms, lineage } = options;
    const stack = synthesizeExampleStack({ database, refresh, refreshCompute, pipelineKinds, glueJobTables, alarms, lineage });
    return LocalOrchestration.fromStack(options, stack);
  }

  /**
   * Runs an example stack synthesized before (with the same `database` and synthesis options), so that tests
   * which differ only in the local work share one synthesis.
   */
  public static fromStack(options: LocalOrchestrationOptions, stack: ExampleStack): LocalOrchestration {
    if (!existsSync(REFRESH_BUNDLE)) {
      throw new Error(`${REFRESH_BUNDLE} does not exist: run \`npx projen bundle\` first`);
    }
    return new LocalOrchestration(options, stack);
  }

  public readonly stateMachine: LocalStateMachine;
  public readonly functions: ReadonlyMap<string, LocalFunction>;
  public readonly runner: LocalStepFunctions;
  /** The local ECS that runs the refresh task, when the refresh runs as one. */
  public readonly ecs?: LocalEcs;
  /** The stand-in for the S3 and Step Functions APIs the refresh task calls. */
  public readonly standIn?: AwsStandIn;
  /** The services the mixed example's pipelines run on. */
  public readonly services?: ServiceStandIns;
  private readonly pipelineArns: Record<ExamplePipeline, string>;

  private constructor(options: LocalOrchestrationOptions, public readonly stack: ExampleStack) {
    const resolver = new TemplateResolver(stack.template, stack.stackName);
    this.stateMachine = resolver.stateMachine(stack.stateMachineLogicalId);

    const handlers = { ...samplePipelines(options.database, { workMs: options.pipelineWorkMs }), ...options.pipelines };
    const functions = new Map<string, LocalFunction>();
    this.pipelineArns = {} as Record<ExamplePipeline, string>;
    for (const pipeline of EXAMPLE_PIPELINES) {
      const configuration = resolver.functionConfiguration(stack.pipelineFunctionLogicalIds[pipeline]);
      functions.set(configuration.functionArn, new InProcessFunction(configuration, handlers[pipeline]));
      this.pipelineArns[pipeline] = configuration.functionArn;
    }
    let ecs: { tasks: LocalEcs; tokens: TaskTokens } | undefined;
    if (stack.refreshFunctionLogicalId) {
      const refresh = resolver.functionConfiguration(stack.refreshFunctionLogicalId);
      const bundled = new BundledFunction(refresh, { entry: REFRESH_BUNDLE, region: LOCAL_ACCOUNT.region, onLog: options.onRefreshLog });
      functions.set(refresh.functionArn, bundled);
    }
    if (stack.refreshTaskDefinitionLogicalId) {
      const tokens = new TaskTokens();
      this.standIn = new AwsStandIn(tokens);
      // Deployment uploads the assembly's file assets: the refresh bundle is where the task looks for it.
      for (const asset of stack.fileAssets) {
        const bucket = asset.bucketName.replace('${AWS::AccountId}', LOCAL_ACCOUNT.accountId).replace('${AWS::Region}', LOCAL_ACCOUNT.region);
        this.standIn.putObject(bucket, asset.objectKey, asset.content);
      }
      this.ecs = new LocalEcs({
        taskDefinitions: [resolver.taskDefinition(stack.refreshTaskDefinitionLogicalId)],
        standIn: this.standIn,
        region: LOCAL_ACCOUNT.region,
        pathMappings: { [IMAGE_SDK_DIRECTORY]: join(__dirname, '..', 'node_modules') },
        onLog: options.onRefreshLog,
      });
      ecs = { tasks: this.ecs, tokens };
    }
    this.functions = functions;

    if (options.pipelineKinds && !['functions', 'none'].includes(options.pipelineKinds)) {
      const workflows = Object.fromEntries(stack.nestedStateMachineLogicalIds.map((logicalId) => {
        const nested = new LocalStepFunctions({
          stateMachine: resolver.stateMachine(logicalId), functions, retryIntervalMs: options.retryIntervalMs,
        });
        return [nested.stateMachineArn, nested];
      }));
      const succeed = () => undefined;
      this.services = new ServiceStandIns({
        glueJobs: {
          [MIXED_EXAMPLE.glueJobName]: options.jobs?.Orders ?? succeed,
          [GLUE_EXAMPLE.demandJobName]: options.jobs?.Demand ?? succeed,
        },
        ecsTasks: { [MIXED_EXAMPLE.ecsTaskFamily]: options.jobs?.Dbt ?? succeed },
        workflows,
      });
    }
    this.runner = new LocalStepFunctions({
      stateMachine: this.stateMachine, functions, retryIntervalMs: options.retryIntervalMs, ecs, services: this.services,
    });
  }

  /** Runs one execution to its end. */
  /**
   * Replaces, in the stand-in's S3, every uploaded file asset whose content is `original` by `replacement`, as
   * anyone who can write to the asset bucket could after deployment. Returns how many it replaced.
   */
  public replaceFileAsset(original: Buffer, replacement: Buffer): number {
    let replaced = 0;
    for (const asset of this.stack.fileAssets) {
      if (!asset.content.equals(original)) continue;
      const bucket = asset.bucketName.replace('${AWS::AccountId}', LOCAL_ACCOUNT.accountId).replace('${AWS::Region}', LOCAL_ACCOUNT.region);
      this.standIn?.putObject(bucket, asset.objectKey, replacement);
      replaced++;
    }
    return replaced;
  }

  public run(input: unknown = {}, options?: StartExecutionOptions): Promise<LocalExecution> {
    return this.runner.run(input, options);
  }

  /** The next `times` invocations of the pipeline's function are throttled by the Lambda service. */
  public throttle(pipeline: ExamplePipeline, times = 1): void {
    this.runner.injectFault(this.pipelineArns[pipeline], LAMBDA_THROTTLED, times);
  }

  /** Stops the refresh function's execution environments, the refresh tasks and the stand-in. */
  public async close(): Promise<void> {
    await Promise.all([...this.functions.values()].map((fn) => fn.close()));
    await this.ecs?.close();
    await this.standIn?.stop();
  }
}
