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
