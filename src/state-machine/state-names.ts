/** The error an execution fails with when one or more pipelines failed; the cause names them. */
export const PIPELINE_FAILED_ERROR = 'PipelineFailed';

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
  // The per-pipeline names add at most 16 characters to a name of at most 64, within the 80 Step Functions allows.
  // Pipeline names hold no colon, so `<name>: ...` never meets another pipeline's names or the fixed ones.
  pipelineResult: (name: string) => `${name}: result`,
  didPipelineReportTables: (name: string) => `${name}: tables?`,
  readChangedTables: (name: string) => `${name}: read tables`,
  isChangedTablesList: (name: string) => `${name}: a list?`,
  pipelineChangedNothing: (name: string) => `${name}: no change`,
  pipelineChangedTables: (name: string) => `${name}: changed`,
  pipelineChangedTablesNotAList: (name: string) => `${name}: not a list`,
  pipelineReportedNoTables: (name: string) => `${name}: no tables`,
  DID_PIPELINES_REPORT_TABLES: 'Did every pipeline report its changed tables?',
  REFRESH_EVERYTHING: 'Refresh every view',
  GATHER_CHANGED_TABLES: 'Gather the changed tables',
  NOTHING_CHANGED: 'Nothing changed',
  NO_PIPELINES: 'No pipelines: refresh every view',
  NAME_EXECUTION_FOR_LINEAGE: 'Name the execution for lineage',
} as const;

/** Step Functions rejects a state name longer than this. */
export const MAX_STATE_NAME_LENGTH = 80;
