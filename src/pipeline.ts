import { Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { checkPipelineEnvironment } from './private/pipeline-environment';
import { BoundPipeline, pipelineBranch } from './state-machine/pipelines';

/** What the orchestrator gives a pipeline to bind with. */
interface PipelineBindContext {
  /** The construct id under which a function given by ARN is imported. */
  readonly id: string;
  /** Where the pipeline's states are created. */
  readonly definitionScope: Construct;
  /** Whether the branch reads the `changedTables` its function returns. */
  readonly readChangedTables: boolean;
}

/** Pipeline names appear in state names and in failure causes, so they stay short and plain. */
const PIPELINE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 _.+-]*$/;
/** Keeps `Pipeline <name> failed` within the 80-character limit of Step Functions state names. */
export const MAX_PIPELINE_NAME_LENGTH = 64;
const FUNCTION_ARN_PATTERN = /^arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?$/;

/**
 * A data pipeline: a named Lambda function that the orchestrator runs in parallel with the other
 * pipelines before it refreshes the materialized views.
 *
 * Each pipeline receives the execution input as its event. A pipeline fails by throwing, which fails the
 * execution once every pipeline has finished. Its result is used only with `refresh.onlyChangedTables`, where
 * its `changedTables` field names the tables it wrote.
 *
 * @example
 * declare const demandFunction: lambda.IFunction;
 * const demand = Pipeline.fromFunction('Demand', demandFunction);
 * const verifyPlus = Pipeline.fromFunctionArn('VerifyPlus',
 *   'arn:aws:lambda:eu-west-1:123456789012:function:verify-plus');
 */
export class Pipeline {
  /**
   * A pipeline that runs a Lambda function defined in or imported into this app.
   *
   * @param name the pipeline's name: letters, digits, spaces and `_ . + -`, up to 64 characters,
   *   unique among the orchestrator's pipelines. It names the pipeline's states and its failures.
   * @param fn the function to invoke.
   */
  public static fromFunction(name: string, fn: lambda.IFunction): Pipeline {
    return new Pipeline(name, () => fn);
  }

  /**
   * A pipeline that runs the Lambda function with the given ARN.
   *
   * @param name the pipeline's name: letters, digits, spaces and `_ . + -`, up to 64 characters,
   *   unique among the orchestrator's pipelines. It names the pipeline's states and its failures.
   * @param functionArn the ARN of the function to invoke, optionally with a version or alias.
   */
  public static fromFunctionArn(name: string, functionArn: string): Pipeline {
    if (!Token.isUnresolved(functionArn) && !FUNCTION_ARN_PATTERN.test(functionArn)) {
      throw new Error(
        `Pipeline "${name}": \`functionArn\` must be a Lambda function ARN ` +
          `(arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]), got "${functionArn}"`,
      );
    }
    return new Pipeline(name, (scope, id) => lambda.Function.fromFunctionArn(scope, id, functionArn));
  }

  /** The pipeline's name. */
  public readonly name: string;

  private constructor(
    name: string,
    private readonly resolveFunction: (scope: Construct, id: string) => lambda.IFunction,
  ) {
    validatePipelineName(name);
    this.name = name;
  }

  /**
   * The pipeline's branch of the state machine, which invokes its function: imported under `scope` when the
   * pipeline was given by ARN, and checked against the orchestrator's stack.
   *
   * @internal
   */
  public _bind(scope: Construct, context: PipelineBindContext): BoundPipeline {
    const fn = this.resolveFunction(scope, context.id);
    checkPipelineEnvironment(scope, this.name, fn);
    return { name: this.name, branch: pipelineBranch(context.definitionScope, this.name, fn, context.readChangedTables) };
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
