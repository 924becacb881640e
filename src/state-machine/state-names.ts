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
  didPipelineReportTables: (name: string) => `Did pipeline ${name} report changed tables?`,
  readChangedTables: (name: string) => `Read the changed tables of pipeline ${name}`,
  isChangedTablesList: (name: string) => `Are the changed tables of pipeline ${name} a list?`,
  pipelineChangedNothing: (name: string) => `Pipeline ${name} changed nothing`,
  pipelineChangedTables: (name: string) => `Pipeline ${name} changed tables`,
  pipelineChangedTablesNotAList: (name: string) => `Pipeline ${name} reported changed tables that are not a list`,
  pipelineReportedNoTables: (name: string) => `Pipeline ${name} reported no changed tables`,
  DID_PIPELINES_REPORT_TABLES: 'Did every pipeline report its changed tables?',
  REFRESH_EVERYTHING: 'Refresh every view',
  GATHER_CHANGED_TABLES: 'Gather the changed tables',
  NOTHING_CHANGED: 'Nothing changed',
} as const;
