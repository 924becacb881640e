import { Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ChangedTables } from './changed-tables';
import { NestedExecution } from './private/nested-execution';
import { checkPipelineEnvironment } from './private/pipeline-environment';
import { BoundPipeline, PipelineTask, pipelineBranch } from './state-machine/pipelines';
import { MAX_STATE_NAME_LENGTH } from './state-machine/state-names';

/** What the orchestrator gives a pipeline to bind with. */
interface PipelineBindContext {
  /** The construct id under which a function given by ARN is imported. */
  readonly id: string;
}

/** A pipeline bound to an orchestrator, as it is added; its branch is rendered with the definition, at synth. */
export interface PipelineBinding {
  readonly name: string;
  /**
   * The pipeline's branch, its states created under `definitionScope`; with `changeSelection`
   * (`refresh.onlyChangedTables`), the branch reports the tables its pipeline changed.
   */
  render(definitionScope: Construct, changeSelection: boolean): BoundPipeline;
}

/** Options of every pipeline. */
export interface PipelineOptions {
  /**
   * Which tables the pipeline changes, read when `refresh.onlyChangedTables` is on.
   *
   * @default - for a function, the list at `changedTables` in its result (`ChangedTables.fromResult('$.changedTables')`);
   *   for a nested workflow, the same in its output; for a Glue job or another task, unknown
   *   (`ChangedTables.unknown()`), which refreshes every view
   */
  readonly changedTables?: ChangedTables;
}

/** Options of a pipeline that runs a Glue job. */
export interface GlueJobPipelineOptions extends PipelineOptions {
  /**
   * The job run's arguments, e.g. `{ '--target_date': '2026-01-01' }`.
   *
   * @default - the job's default arguments
   */
  readonly arguments?: { [key: string]: string };
}

/** Pipeline names appear in state names and in failure causes, so they stay short and plain. */
const PIPELINE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 _.+-]*$/;
/** Keeps every state name of a pipeline (at most 16 more characters) within the 80-character limit of Step Functions. */
export const MAX_PIPELINE_NAME_LENGTH = 64;
const FUNCTION_ARN_PATTERN = /^arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?$/;
const GLUE_JOB_NAME_PATTERN = /^[\u0020-\uD7FF\uE000-\uFFFD\t]{1,255}$/;

/** How one kind of pipeline makes its task, given the orchestrator's scope (for imports) and the context. */
type TaskMaker = (scope: Construct, context: PipelineBindContext) => PipelineTask;

/**
 * A data pipeline that the orchestrator runs in parallel with the other pipelines before it refreshes the
 * materialized views: a Lambda function, a nested workflow, a Glue job, or any Step Functions task.
 *
 * Each pipeline receives the execution input. A pipeline fails when its task fails (the function throws, the
 * job or nested execution fails), which fails the execution once every pipeline has finished. With
 * `refresh.onlyChangedTables`, each pipeline says which tables it changed (`changedTables`).
 *
 * @example
 * declare const demandFunction: lambda.IFunction;
 * declare const loadWorkflow: sfn.IStateMachine;
 * const demand = Pipeline.fromFunction('Demand', demandFunction);
 * const verifyPlus = Pipeline.fromFunctionArn('VerifyPlus',
 *   'arn:aws:lambda:eu-west-1:123456789012:function:verify-plus');
 * const orders = Pipeline.fromGlueJob('Orders', 'load-orders', { changedTables: ChangedTables.of(['sales.orders']) });
 * const load = Pipeline.fromStateMachine('Load', loadWorkflow);
 */
export class Pipeline {
  /**
   * A pipeline that runs a Lambda function defined in or imported into this app.
   *
   * @param name the pipeline's name: letters, digits, spaces and `_ . + -`, up to 64 characters,
   *   unique among the orchestrator's pipelines. It names the pipeline's states and its failures.
   * @param fn the function to invoke.
   */
  public static fromFunction(name: string, fn: lambda.IFunction, options: PipelineOptions = {}): Pipeline {
    return Pipeline.ofFunction(name, () => fn, options);
  }

  /**
   * A pipeline that runs the Lambda function with the given ARN.
   *
   * @param name the pipeline's name: letters, digits, spaces and `_ . + -`, up to 64 characters,
   *   unique among the orchestrator's pipelines. It names the pipeline's states and its failures.
   * @param functionArn the ARN of the function to invoke, optionally with a version or alias.
   */
  public static fromFunctionArn(name: string, functionArn: string, options: PipelineOptions = {}): Pipeline {
    if (!Token.isUnresolved(functionArn) && !FUNCTION_ARN_PATTERN.test(functionArn)) {
      throw new Error(
        `Pipeline "${name}": \`functionArn\` must be a Lambda function ARN ` +
          `(arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]), got "${functionArn}"`,
      );
    }
    return Pipeline.ofFunction(name, (scope, id) => lambda.Function.fromFunctionArn(scope, id, functionArn), options);
  }

  /**
   * A pipeline that runs another state machine to completion (`states:startExecution.sync:2`) with the execution
   * input, and fails when that execution fails. Its output is the nested execution's output.
   *
   * @param name the pipeline's name (see `fromFunction`)
   * @param stateMachine the workflow to run
   */
  public static fromStateMachine(name: string, stateMachine: sfn.IStateMachine, options: PipelineOptions = {}): Pipeline {
    return new Pipeline(name, options.changedTables ?? ChangedTables.fromResult('$.changedTables'), () => ({
      resultRoot: '$.Output',
      create: (definitionScope, stateName, resultSelector) => ({
        selected: true,
        task: new NestedExecution(definitionScope, stateName, {
          stateMachine,
          integrationPattern: sfn.IntegrationPattern.RUN_JOB,
          input: sfn.TaskInput.fromJsonPathAt('$'),
          resultSelector,
        }),
      }),
    }));
  }

  /**
   * A pipeline that runs an AWS Glue job to completion (`glue:startJobRun.sync`), and fails when the job run fails.
   * A job returns no result, so say which tables it writes with `changedTables: ChangedTables.of([...])`.
   *
   * @param name the pipeline's name (see `fromFunction`)
   * @param jobName the Glue job's name
   */
  public static fromGlueJob(name: string, jobName: string, options: GlueJobPipelineOptions = {}): Pipeline {
    if (!Token.isUnresolved(jobName) && !GLUE_JOB_NAME_PATTERN.test(jobName)) {
      throw new Error(`Pipeline "${name}": \`jobName\` must be a Glue job name of 1 to 255 characters, got "${jobName}"`);
    }
    return new Pipeline(name, options.changedTables ?? ChangedTables.unknown(), () => ({
      resultRoot: '$',
      create: (definitionScope, stateName, resultSelector) => ({
        selected: true,
        task: new tasks.GlueStartJobRun(definitionScope, stateName, {
          glueJobName: jobName,
          integrationPattern: sfn.IntegrationPattern.RUN_JOB,
          arguments: options.arguments ? sfn.TaskInput.fromObject(options.arguments) : undefined,
          resultSelector,
        }),
      }),
    }));
  }

  /**
   * A pipeline that runs any Step Functions task state: an ECS or Batch task, an EMR Serverless job, an SDK call
   * (`CallAwsService`), and so on. Use the `.sync` integration pattern where the service has one, so the pipeline
   * ends when the work does. The task brings its own IAM statements; the state machine's role gets them.
   *
   * The task keeps its own state name (its construct id, at most 80 characters); its output is the pipeline's
   * result. Its service's errors for throttling and capacity are retried; give the task no retry of its own.
   *
   * @param name the pipeline's name (see `fromFunction`)
   * @param task the task state, created for this pipeline only
   */
  public static fromTask(name: string, task: sfn.TaskStateBase, options: PipelineOptions = {}): Pipeline {
    if (task.id.length > MAX_STATE_NAME_LENGTH) {
      throw new Error(
        `Pipeline "${name}": the task's id names its state, which Step Functions limits to ${MAX_STATE_NAME_LENGTH} characters, ` +
          `got "${task.id}" (${task.id.length} characters)`,
      );
    }
    return new Pipeline(name, options.changedTables ?? ChangedTables.unknown(), () => ({
      resultRoot: '$',
      create: () => ({ task, selected: false }),
    }));
  }

  private static ofFunction(name: string, resolve: (scope: Construct, id: string) => lambda.IFunction, options: PipelineOptions): Pipeline {
    return new Pipeline(name, options.changedTables ?? ChangedTables.fromResult('$.changedTables'), (scope, context) => {
      const fn = resolve(scope, context.id);
      checkPipelineEnvironment(scope, name, fn);
      return {
        resultRoot: '$.Payload',
        create: (definitionScope, stateName, resultSelector) => ({
          selected: true,
          task: new tasks.LambdaInvoke(definitionScope, stateName, {
            lambdaFunction: fn,
            payload: sfn.TaskInput.fromJsonPathAt('$'),
            retryOnServiceExceptions: false,
            resultSelector,
          }),
        }),
      };
    });
  }

  /** The pipeline's name. */
  public readonly name: string;

  /** Which tables the pipeline changes. */
  public readonly changedTables: ChangedTables;

  private constructor(name: string, changedTables: ChangedTables, private readonly makeTask: TaskMaker) {
    validatePipelineName(name);
    this.name = name;
    this.changedTables = changedTables;
  }

  /**
   * Binds the pipeline to the orchestrator as it is added: a function given by ARN is imported under `scope` and
   * checked against the orchestrator's stack. Its branch of the state machine is rendered later, at synth.
   *
   * @internal
   */
  public _bind(scope: Construct, context: PipelineBindContext): PipelineBinding {
    const task = this.makeTask(scope, context);
    return {
      name: this.name,
      render: (definitionScope, changeSelection) => ({
        name: this.name,
        branch: pipelineBranch(definitionScope, this.name, task, changeSelection ? this.changedTables._report : undefined),
      }),
    };
  }
}

function validatePipelineName(name: string): void {
  if (Token.isUnresolved(name)) {
    throw new Error('Pipeline `name` must be a literal string: it names states of the state machine, got a token');
  }
  if (name.length === 0 || name.length > MAX_PIPELINE_NAME_LENGTH) {
    throw new Error(
      `Pipeline \`name\` must have 1 to ${MAX_PIPELINE_NAME_LENGTH} characters, got "${name}" (${name.length} characters)`,
    );
  }
  if (!PIPELINE_NAME_PATTERN.test(name)) {
    throw new Error(
      `Pipeline \`name\` may contain only letters, digits, spaces and "_ . + -", starting with a letter or digit, got "${name}"`,
    );
  }
}
