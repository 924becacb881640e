import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { readChangedTables } from './changed-tables';
import { integrationOf, pipelineRetry, transientErrorsOf } from './pipeline-retries';
import { PIPELINE_FAILED_ERROR, StateNames } from './state-names';
import type { ChangedTablesReport } from '../private/changed-tables-report';

/** A pipeline bound in the orchestrator: its name and its branch of the Parallel state. */
export interface BoundPipeline {
  readonly name: string;
  readonly branch: sfn.IChainable;
}

/** How a pipeline's task is made: by the pipeline itself, or given ready-made. */
export interface PipelineTask {
  /** Where the pipeline's own result is in the task's result: `$.Payload` for a function, `$.Output` for a nested workflow. */
  readonly resultRoot: string;
  /**
   * The task that runs the pipeline with the execution input. A task the pipeline creates is named `stateName`
   * and shapes its result with `resultSelector` (`selected: true`); a task given ready-made keeps its own name and
   * result, which the branch shapes in a state of its own.
   */
  create(scope: Construct, stateName: string, resultSelector: { [key: string]: any }): { task: sfn.TaskStateBase; selected: boolean };
}

/**
 * A pipeline's branch: it runs the pipeline's task with the execution input, retries the errors of the service
 * that runs it, and catches any other error to report it as data, so a failing pipeline never cancels the others
 * mid-execution: every branch finishes, then the execution fails. With `changedTables` (change selection on),
 * a successful branch also reports the tables its pipeline changed.
 */
export function pipelineBranch(scope: Construct, name: string, run: PipelineTask, changedTables?: ChangedTablesReport): sfn.IChainable {
  const { task, selected } = run.create(scope, StateNames.runPipeline(name), outcomeSelector(name, run.resultRoot, changedTables));
  const transientErrors = transientErrorsOf(integrationOf(task));
  if (transientErrors.length > 0) task.addRetry(pipelineRetry(transientErrors));
  // Pipeline names are validated to hold no quote, brace or backslash, so they are safe in the template.
  const failed = new sfn.Pass(scope, StateNames.pipelineFailed(name), {
    parameters: {
      'pipeline': name,
      'failed': true,
      'summary.$': `States.Format('[${name} failed with {}: {}]', $.Error, $.Cause)`,
    },
  });
  task.addCatch(failed, { errors: [sfn.Errors.ALL] });

  let chain: sfn.Chain = sfn.Chain.start(task);
  if (!selected) {
    chain = chain.next(new sfn.Pass(scope, StateNames.pipelineResult(name), { parameters: outcomeSelector(name, '$', changedTables) }));
  }
  return changedTables?.kind === 'result' ? chain.next(readChangedTables(scope, name, changedTables.path)) : chain;
}

/** What a successful branch reports, as a result selector over the task's result at `resultRoot`. */
function outcomeSelector(name: string, resultRoot: string, changedTables?: ChangedTablesReport): { [key: string]: any } {
  const success = { pipeline: name, failed: false, summary: '' };
  switch (changedTables?.kind) {
    case undefined: return success;
    case 'result': return { ...success, 'payload.$': resultRoot };
    case 'fixed': return { ...success, reported: true, changed: changedTables.tables.length > 0, note: '', changedTables: changedTables.tables };
    case 'unknown': return { ...success, reported: false, changed: false, note: `${name} does not report its changed tables; `, changedTables: [] };
  }
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
