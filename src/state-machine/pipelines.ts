import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { pipelineResultWithPayload, readChangedTables } from './changed-tables';
import { LAMBDA_SERVICE_RETRY } from './retry-policies';
import { PIPELINE_FAILED_ERROR, StateNames } from './state-names';

/** A pipeline bound to the function it invokes. */
export interface BoundPipeline {
  readonly name: string;
  readonly fn: lambda.IFunction;
}

/**
 * One branch per pipeline. Each branch catches its pipeline's error and reports it as data, so a
 * failing pipeline never cancels the others mid-run: every branch finishes, then the run fails.
 * With `readChangedTablesOf`, a successful branch also reads the `changedTables` its function returned.
 */
export function runPipelinesInParallel(scope: Construct, pipelines: BoundPipeline[], readChangedTablesOf = false): sfn.Parallel {
  const parallel = new sfn.Parallel(scope, StateNames.RUN_PIPELINES, {
    comment: 'Runs every pipeline with the execution input; each branch reports success or failure.',
  });
  for (const pipeline of pipelines) {
    const run = new tasks.LambdaInvoke(scope, StateNames.runPipeline(pipeline.name), {
      lambdaFunction: pipeline.fn,
      payload: sfn.TaskInput.fromJsonPathAt('$'),
      retryOnServiceExceptions: false,
      resultSelector: readChangedTablesOf ? pipelineResultWithPayload(pipeline) : { pipeline: pipeline.name, failed: false, summary: '' },
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
    parallel.branch(readChangedTablesOf ? run.next(readChangedTables(scope, pipeline)) : run);
  }
  return parallel;
}

/** Fails the run with an error whose cause names every failed pipeline, or goes on to `next`. */
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
