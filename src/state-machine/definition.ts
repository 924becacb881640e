import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { changedTablesEvent } from './changed-tables';
import { overlapGuard } from './overlap-guard';
import { BoundPipeline, failIfAnyPipelineFailed, runPipelinesInParallel } from './pipelines';

export interface OrchestrationDefinitionOptions {
  /** The pipelines with their branches, built with `onlyChangedTables` as below. */
  readonly pipelines: BoundPipeline[];
  /** The refresh state, built by the refresh compute, which reads its event from its input with `onlyChangedTables`. */
  readonly refresh: sfn.IChainable;
  /** Whether an execution ends early as skipped while an earlier execution of the state machine is still going. */
  readonly skipOverlappingExecutions: boolean;
  /** Whether the refresh selects views by the tables the pipelines report as changed. */
  readonly onlyChangedTables: boolean;
}

/**
 * Builds the orchestration: the overlap guard, the pipelines in parallel, then the refresh.
 *
 * The definition uses JSONPath and intrinsic functions only, and every path it reads exists on
 * every route through it, so it runs the same on Step Functions and on local interpreters.
 */
export function buildOrchestrationDefinition(scope: Construct, options: OrchestrationDefinitionOptions): sfn.IChainable {
  const pipelines = runPipelinesInParallel(scope, options.pipelines);
  const refresh = options.refresh;
  const afterPipelines = options.onlyChangedTables ? changedTablesEvent(scope, options.pipelines, refresh) : refresh;
  const work = pipelines.next(failIfAnyPipelineFailed(scope, options.pipelines, afterPipelines));
  if (!options.skipOverlappingExecutions) {
    return work;
  }
  return overlapGuard(scope, work);
}

