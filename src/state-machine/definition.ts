import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { changedTablesEvent } from './changed-tables';
import { overlapGuard } from './overlap-guard';
import { BoundPipeline, failIfAnyPipelineFailed, runPipelinesInParallel } from './pipelines';
import { buildRefreshStep, RefreshTarget } from './refresh-step';

export interface OrchestrationDefinitionProps {
  readonly pipelines: BoundPipeline[];
  /** What runs the refresh. */
  readonly refresh: RefreshTarget;
  /** Whether a run ends early as skipped while an earlier run of the state machine is still going. */
  readonly skipOverlappingRuns: boolean;
  /** Whether the refresh selects views by the tables the pipelines report as changed. */
  readonly onlyChangedTables: boolean;
}

/**
 * Builds the orchestration: the overlap guard, the pipelines in parallel, then the refresh.
 *
 * The definition uses JSONPath and intrinsic functions only, and every path it reads exists on
 * every route through it, so it runs the same on Step Functions and on local interpreters.
 */
export function buildOrchestrationDefinition(scope: Construct, props: OrchestrationDefinitionProps): sfn.IChainable {
  const pipelines = runPipelinesInParallel(scope, props.pipelines, props.onlyChangedTables);
  const refresh = buildRefreshStep(scope, props.refresh, props.onlyChangedTables);
  const afterPipelines = props.onlyChangedTables ? changedTablesEvent(scope, props.pipelines, refresh) : refresh;
  const work = pipelines.next(failIfAnyPipelineFailed(scope, props.pipelines, afterPipelines));
  if (!props.skipOverlappingRuns) {
    return work;
  }
  return overlapGuard(scope, work);
}

