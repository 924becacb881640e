import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { pipelineResultWithPayload, readChangedTables } from './changed-tables';
import { LAMBDA_SERVICE_RETRY } from './retry-policies';
import { PIPELINE_FAILED_ERROR, StateNames } from './state-names';

/** A pipeline bound in the orchestrator: its name and its branch of the Parallel state. */
export interface BoundPipeline {
  readonly name: string;
  readonly branch: sfn.IChainable;
}

/**
 * A pipeline's branch: it invokes the function with the execution input, and catches the function's error to
 * report it as data, so a failing pipeline never cancels the others mid-execution: every branch finishes, then
 * the execution fails. With `readChangedTablesOf`, a successful branch also reads the `changedTables` its
 * function returned.
 */
export function pipelineBranch(scope: Construct, name: string, fn: lambda.IFunction, readChangedTablesOf = false): sfn.IChainable {
  const run = new tasks.LambdaInvoke(scope, StateNames.runPipeline(name), {
    lambdaFunction: fn,
    payload: sfn.TaskInput.fromJsonPathAt('$'),
    retryOnServiceExceptions: false,
    resultSelector: readChangedTablesOf ? pipelineResultWithPayload(name) : { pipeline: name, failed: false, summary: '' },
  });
  run.addRetry(LAMBDA_SERVICE_RETRY);
  // Pipeline names are validated to hold no quote, brace or backslash, so they are safe in the template.
  const failed = new sfn.Pass(scope, StateNames.pipelineFailed(name), {
    parameters: {
      'pipeline': name,
      'failed': true,
      'summary.$': `States.Format('[${name} failed with {}: {}]', $.Error, $.Cause)`,
    },
  });
  run.addCatch(failed, { errors: [sfn.Errors.ALL] });
  return readChangedTablesOf ? run.next(readChangedTables(scope, name)) : run;
}

/** One branch per pipeline, run in parallel; each branch reports its pipeline's success or failure. */
export function runPipelinesInParallel(scope: Construct, pipelines: BoundPipeline[]): sfn.Parallel {
  const parallel = new sfn.Parallel(scope, StateNames.RUN_PIPELINES, {
    comment: 'Runs every pipeline with the execution input; each branch reports success or failure.',
  });
  for (const pipeline of pipelines) {
    parallel.branch(pipeline.branch);
  }
  return parallel;
}

/** Fails the execution with an error whose cause names every failed pipeline, or goes on to `next`. */
export function failIfAnyPipelineFailed(scope: Construct, pipelines: BoundPipeline[], next: sfn.IChainable): sfn.Choice {
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
