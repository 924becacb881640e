import { Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { buildRefreshStep } from './refresh-step';
import { LAMBDA_SERVICE_RETRY, OVERLAP_CHECK_RETRY } from './retry-policies';

/** The error a run fails with when one or more pipelines failed; the cause names them. */
export const PIPELINE_FAILED_ERROR = 'PipelineFailed';

/** The output of a run that ended early because an earlier run was still going. */
export interface SkippedRunOutput {
  readonly status: 'skipped';
  readonly reason: string;
  /** The earlier execution that is still running. */
  readonly runningExecutionArn: string;
}

export const SKIPPED_RUN_REASON = 'An earlier execution of this state machine is still running';

/** State names, which also appear in the execution history and in the console. */
export const StateNames = {
  LIST_RUNNING: 'List running executions',
  ANY_RUNNING: 'Is any execution running?',
  FIND_OLDEST: 'Find the oldest running execution',
  IS_OLDEST: 'Is this the oldest running execution?',
  SKIP: 'Skip: an earlier execution is running',
  RESTORE_INPUT: 'Restore the execution input',
  RUN_PIPELINES: 'Run pipelines',
  runPipeline: (name: string) => `Run pipeline ${name}`,
  pipelineFailed: (name: string) => `Pipeline ${name} failed`,
  ALL_SUCCEEDED: 'Did every pipeline succeed?',
  DESCRIBE_FAILURES: 'Describe the failed pipelines',
  FAIL: 'Pipelines failed',
} as const;

/** A pipeline bound to the function it invokes. */
export interface BoundPipeline {
  readonly name: string;
  readonly fn: lambda.IFunction;
}

export interface OrchestrationDefinitionProps {
  readonly pipelines: BoundPipeline[];
  readonly refreshFunction: lambda.IFunction;
  /** Whether a run ends early as skipped while an earlier run of the state machine is still going. */
  readonly skipOverlappingRuns: boolean;
}

/**
 * Builds the orchestration: the overlap guard, the pipelines in parallel, then the refresh.
 *
 * The definition uses JSONPath and intrinsic functions only, and every path it reads exists on
 * every route through it, so it runs the same on Step Functions and on local interpreters.
 */
export function buildOrchestrationDefinition(scope: Construct, props: OrchestrationDefinitionProps): sfn.IChainable {
  const pipelines = runPipelinesInParallel(scope, props.pipelines);
  const work = pipelines.next(failIfAnyPipelineFailed(scope, props.pipelines, buildRefreshStep(scope, props.refreshFunction)));
  if (!props.skipOverlappingRuns) {
    return work;
  }
  return overlapGuard(scope, work);
}

/**
 * Lets a run go on only if no earlier run is still going.
 *
 * ListExecutions returns the running executions newest first, so the last one is the oldest.
 * A run goes on when that is itself: when two runs start together both see the same list, so
 * exactly one of them goes on. The listing is eventually consistent, so a run may not see itself
 * yet; it then compares start times, and is skipped only if the oldest run it sees started no
 * later than itself. (Were it skipped whenever it sees another run, an older run that sees only a
 * newer one would be skipped while the newer one is skipped for it, and nothing would run.) The
 * refresh handler's database lock is the second line of defence for a run that does not see an
 * older one yet and goes on beside it.
 */
function overlapGuard(scope: Construct, work: sfn.IChainable): sfn.IChainable {
  const listRunning = new sfn.CustomState(scope, StateNames.LIST_RUNNING, {
    stateJson: {
      Type: 'Task',
      Comment: 'Lists the running executions of this state machine, newest first.',
      Resource: `arn:${Stack.of(scope).partition}:states:::aws-sdk:sfn:listExecutions`,
      Parameters: {
        'StateMachineArn.$': '$$.StateMachine.Id',
        'StatusFilter': 'RUNNING',
        'MaxResults': 1000,
      },
      ResultSelector: {
        'executions.$': '$.Executions',
        'count.$': 'States.ArrayLength($.Executions)',
      },
      Retry: [OVERLAP_CHECK_RETRY],
    },
  });

  const findOldest = new sfn.Pass(scope, StateNames.FIND_OLDEST, {
    parameters: {
      'oldest.$': 'States.ArrayGetItem($.executions, States.MathAdd($.count, -1))',
      'self.$': '$$.Execution.Id',
      'selfStartTime.$': '$$.Execution.StartTime',
    },
  });

  const skip = new sfn.Pass(scope, StateNames.SKIP, {
    comment: 'Ends the run without running the pipelines.',
    parameters: {
      'status': 'skipped',
      'reason': SKIPPED_RUN_REASON,
      'runningExecutionArn.$': '$.oldest.ExecutionArn',
    },
  });

  // The guard replaced the state with its findings; the pipelines get the execution input.
  const restoreInput = new sfn.Pass(scope, StateNames.RESTORE_INPUT, {
    parameters: { 'input.$': '$$.Execution.Input' },
    outputPath: '$.input',
  });
  restoreInput.next(work);

  return listRunning.next(
    new sfn.Choice(scope, StateNames.ANY_RUNNING)
      .when(sfn.Condition.numberGreaterThan('$.count', 0),
        findOldest.next(
          new sfn.Choice(scope, StateNames.IS_OLDEST)
            .when(sfn.Condition.stringEqualsJsonPath('$.oldest.ExecutionArn', '$.self'), restoreInput)
            // Of two runs started in the same millisecond, the one listed last goes on.
            .when(sfn.Condition.timestampLessThanEqualsJsonPath('$.oldest.StartDate', '$.selfStartTime'), skip)
            .otherwise(restoreInput),
        ))
      .otherwise(restoreInput),
  );
}

/**
 * One branch per pipeline. Each branch catches its pipeline's error and reports it as data, so a
 * failing pipeline never cancels the others mid-run: every branch finishes, then the run fails.
 */
function runPipelinesInParallel(scope: Construct, pipelines: BoundPipeline[]): sfn.Parallel {
  const parallel = new sfn.Parallel(scope, StateNames.RUN_PIPELINES, {
    comment: 'Runs every pipeline with the execution input; each branch reports success or failure.',
  });
  for (const pipeline of pipelines) {
    const run = new tasks.LambdaInvoke(scope, StateNames.runPipeline(pipeline.name), {
      lambdaFunction: pipeline.fn,
      payload: sfn.TaskInput.fromJsonPathAt('$'),
      retryOnServiceExceptions: false,
      resultSelector: { pipeline: pipeline.name, failed: false, summary: '' },
    });
    run.addRetry(LAMBDA_SERVICE_RETRY);
    // Pipeline names are validated to hold no quote, brace or backslash, so they are safe in the template.
    const failed = new sfn.Pass(scope, StateNames.pipelineFailed(pipeline.name), {
      parameters: {
        'pipeline': pipeline.name,
        'failed': true,
        'summary.$': `States.Format('[${pipeline.name} failed with {}: {}]', $.Error, $.Cause)`,
      },
    });
    run.addCatch(failed, { errors: [sfn.Errors.ALL] });
    parallel.branch(run);
  }
  return parallel;
}

/** Fails the run with an error whose cause names every failed pipeline, or goes on to `next`. */
function failIfAnyPipelineFailed(scope: Construct, pipelines: BoundPipeline[], next: sfn.IChainable): sfn.Choice {
  // The Parallel output has one entry per pipeline, in order, so every index is known here.
  const failedChecks = pipelines.map((_, index) => sfn.Condition.booleanEquals(`$[${index}].failed`, true));
  const anyFailed = failedChecks.length === 1 ? failedChecks[0] : sfn.Condition.or(...failedChecks);
  const placeholders = pipelines.map(() => '{}').join('');
  const summaries = pipelines.map((_, index) => `$[${index}].summary`).join(', ');

  const describeFailures = new sfn.Pass(scope, StateNames.DESCRIBE_FAILURES, {
    parameters: { 'cause.$': `States.Format('${placeholders}', ${summaries})` },
  });
  const fail = new sfn.Fail(scope, StateNames.FAIL, {
    error: PIPELINE_FAILED_ERROR,
    causePath: '$.cause',
    comment: 'The cause names each failed pipeline with its error.',
  });

  return new sfn.Choice(scope, StateNames.ALL_SUCCEEDED)
    .when(anyFailed, describeFailures.next(fail))
    .otherwise(next);
}
