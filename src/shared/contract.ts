/**
 * The contract between the `ItcOrchestrator` construct and the refresh handler: the environment
 * variables the construct sets, the error names the state machine matches, and the shapes of the
 * handler's event and report. Both sides import this module, so they cannot drift apart.
 *
 * This module must stay free of aws-cdk-lib imports: it is bundled into the handler.
 */
export { ConcurrentRefresh, OverlapPolicy } from './refresh-policies';
import type { ViewDependency } from './refresh-policies';

/**
 * How the handler secures its database connection with a secret or IAM authentication.
 * - `verify-full`: TLS, the server certificate verified against Node's root store (which holds the Amazon Trust
 *   Services roots RDS Proxy certificates chain to) and the Lambda runtime's CA bundle (the Amazon RDS CAs), and the
 *   host name checked against the certificate. The only mode IAM authentication accepts.
 * - `require`: TLS without certificate verification.
 * - `disable`: no TLS; for local test servers only.
 * In local mode (neither a secret nor an IAM user) PGSSLMODE applies instead.
 */
export type TlsMode = 'verify-full' | 'require' | 'disable';

/** Environment variables the construct sets on the refresh function. */
export const RefreshEnv = {
  /** ARN of the Secrets Manager secret holding the database credentials (RDS JSON shape). */
  SECRET_ARN: 'ITC_DB_SECRET_ARN',
  /**
   * The database user for IAM database authentication: the handler signs a fresh token for each connection
   * instead of reading a secret. Set this or {@link RefreshEnv.SECRET_ARN}, not both.
   */
  IAM_USER: 'ITC_DB_IAM_USER',
  /** Database host. Wins over the secret's `host`; required with IAM authentication. */
  DB_HOST: 'ITC_DB_HOST',
  /** Database port. Wins over the secret's `port`; default 5432. */
  DB_PORT: 'ITC_DB_PORT',
  /** Database name. Wins over the secret's `dbname`; default `postgres`. */
  DB_NAME: 'ITC_DB_NAME',
  /** A {@link TlsMode} value; default `verify-full`. */
  TLS_MODE: 'ITC_DB_TLS_MODE',
  /** JSON array of materialized view names to refresh. */
  VIEWS: 'ITC_REFRESH_VIEWS',
  /** JSON array of schemas whose materialized views are refreshed. */
  SCHEMAS: 'ITC_REFRESH_SCHEMAS',
  /** Maximum number of refreshes running at once. */
  CONCURRENCY: 'ITC_REFRESH_CONCURRENCY',
  /** A {@link ConcurrentRefresh} value. */
  CONCURRENT_REFRESH: 'ITC_REFRESH_CONCURRENTLY',
  /** An {@link OverlapPolicy} value. */
  OVERLAP_POLICY: 'ITC_REFRESH_OVERLAP_POLICY',
  /** `runLockWaitTimeout`: how long a refresh run waits for its run lock under {@link OverlapPolicy.WAIT}, in milliseconds. */
  LOCK_WAIT_MS: 'ITC_REFRESH_LOCK_WAIT_MS',
  /** `viewLockTimeout`: PostgreSQL's `lock_timeout` for each view's REFRESH, in milliseconds. */
  LOCK_TIMEOUT_MS: 'ITC_REFRESH_LOCK_TIMEOUT_MS',
  /** `statement_timeout` for each refresh, in milliseconds. */
  STATEMENT_TIMEOUT_MS: 'ITC_REFRESH_STATEMENT_TIMEOUT_MS',
  /** Attempts per view for transient errors (1 = no retry). */
  MAX_ATTEMPTS: 'ITC_REFRESH_MAX_ATTEMPTS',
  /** JSON array of {@link ViewDependency}: dependencies the catalog does not record. */
  EXTRA_DEPENDENCIES: 'ITC_REFRESH_EXTRA_DEPENDENCIES',
  /** A {@link RefreshComputeKind} value: what runs the handler, which decides the advice of an out-of-time report. */
  COMPUTE: 'ITC_REFRESH_COMPUTE',
  /**
   * The refresh task's task definition family, set on ECS Fargate only: the engine's metrics carry it as the
   * {@link RefreshMetric.TASK_FAMILY_DIMENSION} dimension, as they carry the function's name on Lambda.
   */
  TASK_FAMILY: 'ITC_REFRESH_TASK_FAMILY',
  /**
   * Where the engine sends OpenLineage events, as JSON of a {@link LineageTransportSettings}; unset: no lineage.
   * Names a secret by ARN, never holds one.
   */
  LINEAGE_TRANSPORT: 'ITC_LINEAGE_TRANSPORT',
  /** The OpenLineage namespace of the engine's jobs; default {@link LineageDefaults.NAMESPACE}. */
  LINEAGE_NAMESPACE: 'ITC_LINEAGE_NAMESPACE',
  /**
   * The namespace of the datasets, `postgres://{host}:{port}`; default: the host and port the engine connects to,
   * the host in lower case.
   */
  LINEAGE_DATASET_NAMESPACE: 'ITC_LINEAGE_DATASET_NAMESPACE',
  /** The most a run waits at its end for lineage events still being sent, in milliseconds. */
  LINEAGE_TIME_BUDGET_MS: 'ITC_LINEAGE_TIME_BUDGET_MS',
  /**
   * `true` to refresh only the views whose sources the database shows changed since each view's last successful
   * refresh (`refresh.detectChangesInDatabase`), together with those the pipelines report.
   */
  DETECT_CHANGES: 'ITC_REFRESH_DETECT_CHANGES',
} as const;

/** Where the engine sends its OpenLineage events ({@link RefreshEnv.LINEAGE_TRANSPORT}). */
export type LineageTransportSettings =
  | {
    readonly type: 'http';
    /** The receiver's base URL. */
    readonly url: string;
    /** The path of the lineage endpoint under `url`. */
    readonly endpoint: string;
    /** The Secrets Manager secret whose value is sent as `Authorization: Bearer <value>`, read at run time. */
    readonly apiKeySecretArn?: string;
    /** How long one request may take, in milliseconds. */
    readonly requestTimeoutMs: number;
  }
  | {
    readonly type: 'dataZone';
    /** The Amazon DataZone domain identifier. */
    readonly domainId: string;
    /** The domain's region; default: the engine's own. */
    readonly region?: string;
    readonly requestTimeoutMs: number;
  }
  | { readonly type: 'log' };

/** Lineage settings the construct and the engine share. */
export const LineageDefaults = {
  /** The job namespace unless configured. */
  NAMESPACE: 'itc-orchestrator',
  /** The time budget at the end of a run unless configured, in milliseconds. */
  TIME_BUDGET_MS: 5_000,
  /** The most a time budget may be, in milliseconds. */
  MAX_TIME_BUDGET_MS: 60_000,
  /** The endpoint path of the HTTP transport unless configured (Marquez's). */
  HTTP_ENDPOINT: 'api/v1/lineage',
  /** How long one request may take unless configured, in milliseconds. */
  REQUEST_TIMEOUT_MS: 2_000,
} as const;

/**
 * What the state machine tells the engine about its execution, so that lineage events name it as the root of the
 * run: the context object's `$$.Execution.Id`, `$$.Execution.StartTime` and `$$.StateMachine.Name`.
 */
export interface LineageExecution {
  readonly executionArn: string;
  readonly executionStartTime: string;
  readonly stateMachineName: string;
}

/** What became of a run's lineage events, in the report. */
export interface LineageTotals {
  /** Events the receiver accepted (or, to the log, written). */
  readonly sent: number;
  /** Events the receiver refused, or that failed or timed out on the way. */
  readonly failed: number;
  /** Events never sent: the time budget ran out, the receiver kept failing, or the API key could not be read. */
  readonly dropped: number;
  /** Why events were dropped without trying, if they were. */
  readonly reason?: string;
}

/** What runs the refresh handler: a Lambda function, or an ECS Fargate task started by the state machine. */
export type RefreshComputeKind = 'lambda' | 'fargate';

/**
 * Environment variables of the refresh task on ECS Fargate, read by its bootstrap (`src/task-bootstrap`).
 * The task also gets every {@link RefreshEnv} variable, as the function does.
 */
export const RefreshTaskEnv = {
  /** The S3 bucket of the refresh bundle (`assets/engine/refresh.lambda/index.js`). */
  BUNDLE_BUCKET: 'ITC_BUNDLE_BUCKET',
  /** The S3 object key of the refresh bundle. */
  BUNDLE_KEY: 'ITC_BUNDLE_KEY',
  /**
   * The S3 bucket of the RDS signer ({@link RDS_SIGNER_FILE}), which the task puts beside the refresh bundle.
   * Set with IAM authentication only.
   */
  SIGNER_BUCKET: 'ITC_SIGNER_BUCKET',
  /** The S3 object key of the RDS signer. Set with IAM authentication only. */
  SIGNER_KEY: 'ITC_SIGNER_KEY',
  /**
   * The SHA-256 of the refresh bundle, in hex, as the construct read it at synth: the task runs the bundle only
   * when what it fetched has this digest, so nobody who can write to the asset bucket changes what runs.
   */
  BUNDLE_SHA256: 'ITC_BUNDLE_SHA256',
  /** The SHA-256 of the RDS signer, in hex, as the construct read it at synth. Set with IAM authentication only. */
  SIGNER_SHA256: 'ITC_SIGNER_SHA256',
  /**
   * How long fetching the bundle and the signer may take, in milliseconds; past it the task fails with
   * {@link REFRESH_TASK_FAILED}. Optional: {@link DEFAULT_FETCH_TIMEOUT_MS} when unset.
   */
  FETCH_TIMEOUT_MS: 'ITC_FETCH_TIMEOUT_MS',
  /** The Step Functions task token the task answers; the state machine sets it for each attempt. */
  TASK_TOKEN: 'ITC_TASK_TOKEN',
  /** The handler's event as JSON. */
  EVENT: 'ITC_REFRESH_EVENT',
  /** How long the run may take from the task's start, in milliseconds: the handler's deadline. */
  RUN_TIMEOUT_MS: 'ITC_RUN_TIMEOUT_MS',
  /** How often the task sends a heartbeat to the state machine, in milliseconds. */
  HEARTBEAT_INTERVAL_MS: 'ITC_HEARTBEAT_INTERVAL_MS',
} as const;

/**
 * The RDS signer of IAM database authentication, bundled with every library it needs: a file beside the refresh
 * bundle (`assets/engine/refresh.lambda/rds-signer.js`), which the handler loads only with IAM authentication.
 */
export const RDS_SIGNER_FILE = 'rds-signer.js';

/** How long the refresh task's fetch of its code may take, unless {@link RefreshTaskEnv.FETCH_TIMEOUT_MS} says otherwise. */
export const DEFAULT_FETCH_TIMEOUT_MS = 60_000;

/** The error a refresh task reports when it could not run the handler at all (e.g. the bundle could not be fetched). */
export const REFRESH_TASK_FAILED = 'RefreshTaskFailed';

/** Bounds on the refresh settings, checked by the construct at synth time and by the handler at run time. */
export const RefreshLimits = {
  /** Most refreshes at once: each is a connection, and the database's connections are shared. */
  MAX_CONCURRENCY: 64,
  /** Most attempts per view. */
  MAX_ATTEMPTS: 10,
} as const;

/**
 * Bounds on what the handler returns and logs, so that a run of thousands of views stays inside Step Functions'
 * 256 KiB task output and CloudWatch Logs' 256 KB event.
 */
export const ReportLimits = {
  /** Most bytes of JSON the report's `views` list takes; views beyond it are counted in `viewsOmitted`. */
  VIEWS_BYTES: 64 * 1024,
  /** Longest `reason` of a view in the report; the view's own log event has it whole. */
  REASON_CHARS: 1_000,
  /** Most bytes of JSON per log event that lists views; longer lists are split over several events. */
  LOG_EVENT_BYTES: 64 * 1024,
  /**
   * Most bytes of JSON the report's `selection.tables` takes, whatever the names are (JSON escapes some characters
   * in six bytes); tables beyond it are counted in `selection.omittedTables`.
   */
  SELECTION_BYTES: 32 * 1024,
  /** Most bytes of JSON the whole report takes: well inside Step Functions' 256 KiB and CloudWatch Logs' 256 KB. */
  REPORT_BYTES: 128 * 1024,
} as const;

/**
 * Error names the handler throws (as `error.name`), so Step Functions can match them in Retry and Catch.
 */
export const RefreshErrors = {
  /** One or more views failed; the message names them. Not retried by the state machine. */
  VIEWS_FAILED: 'MaterializedViewRefreshFailed',
  /** The request or configuration is invalid (unknown view, bad name, empty selection, bad secret). Never retried. */
  INVALID_REQUEST: 'InvalidRefreshRequest',
  /** The database could not be reached or rejected the credentials before any view was refreshed. */
  CONNECTION_FAILED: 'DatabaseConnectionFailed',
  /** A transient database failure that a later attempt may not meet. Retried by the state machine. */
  TRANSIENT: 'TransientDatabaseError',
  /**
   * The run lost its run lock (the server ended the session that held it): it started no more refreshes.
   * The views refreshed before that stay refreshed; the message names those that were not. Not retried.
   */
  RUN_LOCK_LOST: 'RunLockLost',
  /** A statement of the run was cancelled by an administrator (`pg_cancel_backend`). Not retried. */
  CANCELLED: 'RefreshCancelled',
  /**
   * The database role lacks a privilege the run needs (SQLSTATE 42501), such as USAGE on a view's schema or
   * ownership of a view. Never retried: a grant is needed first.
   */
  PERMISSION_DENIED: 'DatabasePermissionDenied',
  /** The invocation had too little time left to connect, plan or wait, so nothing was refreshed. Never retried. */
  OUT_OF_TIME: 'RefreshOutOfTime',
} as const;

/**
 * The refresh handler's metrics that the construct alarms on and offers as `metric*()` helpers. They are
 * published in the {@link RefreshMetric.NAMESPACE} namespace with the service and, per compute, the function's name
 * or the task definition family as dimensions. The handler writes them as Embedded Metric Format lines on both
 * computes: on Lambda CloudWatch extracts them; on ECS Fargate the construct's metric filters on the task's log
 * group read the same lines.
 */
export const RefreshMetric = {
  NAMESPACE: 'ItcOrchestrator',
  SERVICE: 'itc-orchestrator-refresh',
  /** 1 for a run that ended as skipped because another run of the same views held their run lock, else 0. */
  RUNS_SKIPPED_BY_LOCK: 'RunsSkippedByLock',
  /** The dimension naming the refresh function, so each orchestrator's runs have their own series. */
  FUNCTION_DIMENSION: 'FunctionName',
  /** The dimension naming the refresh task's task definition family: the function's name of ECS Fargate. */
  TASK_FAMILY_DIMENSION: 'TaskDefinitionFamily',
  /** The dimension naming the service (`SERVICE`), on every metric. */
  SERVICE_DIMENSION: 'service',
  /** The dimension naming a view, as the report writes it. */
  VIEW_DIMENSION: 'View',
  /** Views refreshed by a run (count); per function when the function's name is known. */
  VIEWS_REFRESHED: 'ViewsRefreshed',
  /** 1 for each run that refreshed every view it selected, also when nothing changed. Never emitted otherwise. */
  RUN_SUCCEEDED: 'RunsSucceeded',
  /** 1 for each successful refresh of a view, with the view's and the function's dimensions. */
  VIEW_REFRESHED: 'ViewRefreshed',
  /** Views of a run that failed (count). */
  VIEWS_FAILED: 'ViewsFailed',
  /** Views of a run that were skipped (count). */
  VIEWS_SKIPPED: 'ViewsSkipped',
  /** How long a run took, in milliseconds. */
  RUN_DURATION: 'RunDuration',
  /** Lineage events of a run the receiver accepted (count). */
  LINEAGE_EVENTS_SENT: 'LineageEventsSent',
  /** Lineage events of a run that could not be sent: refused, failed, timed out or dropped (count). */
  LINEAGE_EVENTS_NOT_SENT: 'LineageEventsNotSent',
  /** Views a run left alone because the database proved them unchanged (count); emitted with change detection only. */
  VIEWS_UNCHANGED: 'ViewsUnchanged',
  /**
   * 1 for each view the database proved unchanged since its last successful refresh, with the view's and the
   * function's dimensions: it is as fresh as a refresh would make it, so freshness alarms count it with
   * {@link RefreshMetric.VIEW_REFRESHED}.
   */
  VIEW_UNCHANGED: 'ViewUnchanged',
} as const;

/** The refresh handler's input. */
export interface RefreshEvent {
  /** Refresh only these materialized views (regclass syntax). Otherwise the configured set. */
  readonly views?: string[];
  /** Dependencies to follow besides the catalog's, added to the configured ones. */
  readonly extraDependencies?: ViewDependency[];
  /**
   * Relations that changed (regclass syntax): tables, partitioned tables, foreign tables or plain views.
   * Refreshes the materialized views of the configured set that read any of them, directly or through the
   * dependencies the refresh order follows (plain views, other materialized views of the set, SQL-standard
   * function bodies, declared dependencies), together with `views`. An empty list refreshes nothing.
   */
  readonly tables?: string[];
  /** Why the whole configured set is refreshed; the state machine sets it when a pipeline reported no changed tables. */
  readonly fullRefreshReason?: string;
  /** The execution that started the run, set by the state machine when lineage is on. */
  readonly lineage?: LineageExecution;
}

/** The views a changed table selected. */
export interface ChangedTable {
  /** Schema-qualified, quoted where PostgreSQL needs quotes. */
  readonly table: string;
  /** How many views of the run it selected, directly or transitively. */
  readonly selected: number;
  /** The first of those views by name; at most ten, so the report stays small for large selections. */
  readonly views: string[];
}

/**
 * Why change detection refreshed a view or left it alone:
 * - `changed`: the signals of `sources` moved since its last successful refresh;
 * - `reported`: a pipeline reported a table it reads;
 * - `upstream`: it reads a materialized view this run refreshes (`sources`);
 * - `no-baseline`: it was never refreshed with detection on (or its refresh failed), or it was recreated;
 * - `not-populated`: it was created or left `WITH NO DATA`;
 * - `untrackable`: it reads something no signal covers (`detail` names it): always refreshed;
 * - `full-refresh`: the statistics cannot prove anything (`detail` says why: a reset, a restart, a crash, a
 *   failover, a restore, `track_counts` off);
 * - `unchanged`: the database proves nothing it reads changed; not refreshed.
 */
export type DetectionDecision = 'changed' | 'reported' | 'upstream' | 'no-baseline' | 'not-populated' | 'untrackable' | 'full-refresh' | 'unchanged';

/** One view's decision by change detection. */
export interface DetectedView {
  readonly view: string;
  readonly decision: DetectionDecision;
  /** With `changed` or `upstream`: the sources that moved, at most ten, by name. */
  readonly sources?: string[];
  /** Moved sources `sources` leaves out. */
  readonly omittedSources?: number;
  /** What made it untrackable, why everything was refreshed, or what else changed. */
  readonly detail?: string;
}

/** A session inside a transaction when the run read its signals: what it writes reaches the next run. */
export interface OpenTransactionReport {
  readonly pid: number;
  readonly applicationName: string;
  /** When its transaction began, if the role may see it. */
  readonly since?: string;
}

/** What change detection found (`refresh.detectChangesInDatabase`). */
export interface ChangeDetectionReport {
  /** Views refreshed because of a change, a report, a missing baseline, untrackable reads or a full refresh. */
  readonly selected: number;
  /** Views proven unchanged and left alone. */
  readonly unchanged: number;
  /** Why every view was refreshed, when the statistics could not prove anything. */
  readonly fullRefreshReason?: string;
  /** Per view, its decision, refreshed views first, as many as fit in {@link ReportLimits.SELECTION_BYTES}. */
  readonly views: DetectedView[];
  /** Views `views` leaves out for size. */
  readonly omittedViews: number;
  /** How long the signal read took, in milliseconds, waiting for idle sessions' counts included. */
  readonly readMs: number;
  /** How long the run waited for sessions that had just gone idle to flush their counts, in milliseconds. */
  readonly flushWaitMs: number;
  /** Sessions inside a transaction at the read (at most ten): their writes reach the next run. */
  readonly openTransactions: OpenTransactionReport[];
  /** What may delay a change by a run, or why every run refreshes everything. */
  readonly warnings?: string[];
}

/** Why the run refreshed the views it did. */
export interface RunSelection {
  /**
   * `configured`: the configured set; `views`: `event.views`; `tables`: the views reading `event.tables`, and
   * `event.views` when given as well; `changes`: the views of the configured set whose sources the database shows
   * changed, with those reading `event.tables`.
   */
  readonly basis: 'configured' | 'views' | 'tables' | 'changes';
  /** `nothing changed` when no view reads a changed table; with `configured`, why everything was refreshed. */
  readonly reason?: string;
  /** With `tables`: per changed table, the views it selected; the first fifty tables. */
  readonly tables?: ChangedTable[];
  /** With more than fifty changed tables: how many `tables` leaves out. */
  readonly omittedTables?: number;
  /** With change detection on: what the database showed, per view. */
  readonly changes?: ChangeDetectionReport;
}

export type ViewStatus = 'refreshed' | 'failed' | 'skipped';

export interface ViewReport {
  /** Schema-qualified, quoted where PostgreSQL needs quotes, e.g. `"Sales Hub"."Daily Totals"`. */
  readonly view: string;
  readonly status: ViewStatus;
  /** Whether REFRESH ... CONCURRENTLY was used. */
  readonly concurrently: boolean;
  /** ISO timestamp of the first attempt's start; absent for skipped views. */
  readonly startedAt?: string;
  readonly durationMs: number;
  readonly attempts: number;
  /** Why the view failed or was skipped. Never contains credentials. */
  readonly reason?: string;
  /**
   * The views of this run it waited for (its dependencies among the selected views), as the report names them;
   * absent when it waited for none. A timeline of the run draws its dependency chains from them.
   */
  readonly dependsOn?: string[];
}

export interface RefreshTotals {
  readonly selected: number;
  readonly refreshed: number;
  readonly failed: number;
  readonly skipped: number;
}

/** The handler's result. */
export interface RefreshReport {
  /**
   * `succeeded`: every selected view refreshed (none when nothing changed); `skipped`: another run held the
   * lock, nothing was refreshed.
   */
  readonly status: 'succeeded' | 'skipped';
  /** How the run got the run lock of its selection of views; `not-needed` when nothing was selected. */
  readonly lock: 'acquired' | 'acquired-after-wait' | 'not-acquired' | 'not-needed';
  readonly concurrency: number;
  readonly startedAt: string;
  readonly durationMs: number;
  /** How long resolving the selection, reading the dependencies from the catalog and ordering the views took. */
  readonly planningMs: number;
  /**
   * Per-view detail, in plan order, as far as it fits in {@link ReportLimits.VIEWS_BYTES} of JSON: failed views
   * first, then skipped ones, then refreshed ones. A run of a few hundred views lists every view; the log has
   * every view in any case (one event per view).
   */
  readonly views: ViewReport[];
  /** Selected views that `views` leaves out for size; 0 when it lists every view. `totals` counts them all. */
  readonly viewsOmitted: number;
  readonly totals: RefreshTotals;
  /** Why these views were selected. */
  readonly selection: RunSelection;
  /** What became of the run's lineage events; absent when lineage is off. */
  readonly lineage?: LineageTotals;
}
