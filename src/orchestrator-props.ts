import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { LineageOptions } from './lineage';
import type { OrchestratorDatabase } from './orchestrator-database';
import { Pipeline } from './pipeline';
import { RefreshCompute } from './refresh-compute';
import { ConcurrentRefresh, OverlapPolicy, ViewDependency } from './shared/refresh-policies';

/** Settings of the materialized view refresh, which every refresh run follows. */
export interface RefreshOptions {
  /**
   * Refresh these materialized views, schema-qualified where needed (`reporting.daily_totals`).
   * With `schemas` as well, the views of those schemas are refreshed too. Views that depend on
   * each other are refreshed in dependency order.
   *
   * @default - every materialized view in `schemas`, or in the database when no schemas are set
   */
  readonly views?: string[];

  /**
   * Refresh the materialized views of these schemas.
   *
   * @default - every schema except `pg_catalog` and `information_schema`
   */
  readonly schemas?: string[];

  /**
   * How many views may be refreshed at once (1 to 64). Views wait for the views they depend on.
   * Each refresh holds one database connection, and one more holds the refresh run's run lock.
   *
   * @default 4
   */
  readonly concurrency?: number;

  /**
   * When `REFRESH MATERIALIZED VIEW CONCURRENTLY` is used, which keeps readers unblocked.
   *
   * @default ConcurrentRefresh.AUTO
   */
  readonly concurrentRefresh?: ConcurrentRefresh;

  /**
   * What a refresh run does when another refresh run of the same views (same database and selection) holds
   * their run lock.
   *
   * @default OverlapPolicy.WAIT
   */
  readonly overlapPolicy?: OverlapPolicy;

  /**
   * How long a refresh run waits for the run lock of its views under `OverlapPolicy.WAIT`, once, before it
   * refreshes anything: a refresh run that gets the lock within this time refreshes, one that does not ends as
   * skipped. Must be shorter than the refresh compute's `timeout` or `runTimeout`. Not to be confused with
   * `viewLockTimeout`, which bounds each view's REFRESH.
   *
   * @default Duration.minutes(5)
   */
  readonly runLockWaitTimeout?: Duration;

  /**
   * PostgreSQL `lock_timeout` for each view's REFRESH: how long one refresh waits for the locks on its
   * view (held by readers or writers of the view) before the attempt fails and is retried. Not to be
   * confused with `runLockWaitTimeout`, the wait for the whole refresh run's lock.
   *
   * @default Duration.minutes(1)
   */
  readonly viewLockTimeout?: Duration;

  /**
   * PostgreSQL `statement_timeout` for each view's REFRESH. Must be shorter than the refresh compute's
   * `timeout` or `runTimeout`.
   *
   * @default - bounded only by the refresh run's remaining time
   */
  readonly statementTimeout?: Duration;

  /**
   * Attempts per view when a refresh meets a transient database error, from 1 (no retry) to 10.
   *
   * @default 3
   */
  readonly maxAttempts?: number;

  /**
   * Dependencies to follow besides those the catalog records. A view is refreshed after the views it is
   * declared to depend on when both are in the refresh run, and is skipped when one of them is not refreshed.
   * Every name must be a materialized view when the refresh runs.
   *
   * @default - only the dependencies the catalog records
   */
  readonly extraDependencies?: ViewDependency[];

  /**
   * Refresh only the views that read the tables the pipelines wrote.
   *
   * Each pipeline says which tables it changed, as its `changedTables` option tells: a fixed list
   * (`ChangedTables.of`), a list in its result (`ChangedTables.fromResult`; a function's default, e.g.
   * `{ "changedTables": ["sales.orders"] }`), or unknown. The refresh run then refreshes the materialized views of the
   * configured set that read any of those tables, directly or through the dependencies the refresh
   * order follows (plain views, other views of the set, SQL-standard function bodies, `extraDependencies`),
   * in dependency order. When every pipeline returns an empty list, the refresh runs, refreshes
   * nothing and succeeds; its report says `nothing changed`.
   *
   * A pipeline whose changed tables are unknown, or whose result has no list where it says, makes the refresh run
   * refresh the whole configured set, as without this setting; the report's `selection.reason` names the pipeline.
   *
   * With `RefreshCompute.fargate()` the task gets the same event as JSON in its environment, through the
   * RunTask container overrides, which ECS limits to 8,192 characters (the task token included): keep the
   * changed tables of one execution within about 7,000 characters of JSON, or the task cannot start and the
   * execution fails without refreshing.
   *
   * @default false
   */
  readonly onlyChangedTables?: boolean;

  /**
   * Refresh only the views whose sources the database shows changed since each view's last successful refresh,
   * whatever client wrote them, with no pipeline report needed: row counts, TRUNCATE, partitions attached or
   * detached, and plain views or functions replaced on the way. It works with every compute, every pipeline
   * kind and no pipelines. With `onlyChangedTables` too, a run refreshes the views the pipelines report and
   * those the database shows changed; a pipeline whose tables are unknown no longer refreshes everything.
   *
   * A view is left alone only when the database proves it unchanged: after a statistics reset, a restart, a
   * crash, a failover or a restore every view is refreshed once; a view reading something no signal covers (a
   * foreign table, a function with a string body, `now()`) is refreshed every run. The refresh role keeps each
   * view's baseline in the schema `itc_orchestrator` of the views' database, which it creates on first use (it
   * needs `CREATE` on the database, or the schema created for it). See docs/change-detection.md.
   *
   * @default false
   */
  readonly detectChangesInDatabase?: boolean;
}

/** How fresh the materialized views must be; alarms fire when they are not. */
export interface FreshnessOptions {
  /**
   * The longest time without a successful refresh run before the freshness alarm fires, in whole
   * minutes, up to 7 days; beyond 1 day in whole hours (the limits of CloudWatch alarms). Allow for
   * the schedule's interval and an execution's length: for a daily schedule, for example, `Duration.hours(26)`.
   *
   * A refresh run counts when it refreshed every view it selected, also when nothing changed. A failed
   * refresh run, an execution or refresh run skipped because another was going, a disabled schedule or an
   * execution that never reaches the refresh all leave the alarm to fire.
   */
  readonly maxAge: Duration;

  /**
   * Views that each get their own alarm, raised when the view was not refreshed within `maxAge`.
   * Write them schema-qualified, plain or double-quoted as in SQL: `reporting.daily_totals`,
   * `"Sales Hub"."Daily Totals"`. Each is watched under the name the refresh report gives it,
   * PostgreSQL's `format('%I.%I')`: `Reporting.Order` becomes `reporting."order"`.
   *
   * With `refresh.onlyChangedTables`, a view whose tables did not change within `maxAge` is not
   * refreshed, and its alarm fires. With `refresh.detectChangesInDatabase`, a run that proved a view
   * unchanged since its last refresh counts for its alarm like a refresh (`ViewUnchanged` with `ViewRefreshed`):
   * the view holds what a refresh would give it. Its alarm fires when neither happened within `maxAge`.
   *
   * @default - no alarm per view
   */
  readonly views?: string[];
}

/** When the state machine starts executions on its own. */
export interface OrchestratorSchedule {
  /**
   * When to start an execution: a cron or rate expression and its time zone, for example
   * `ScheduleExpression.cron({ hour: '5', minute: '30', timeZone: TimeZone.EUROPE_LONDON })`.
   */
  readonly expression: scheduler.ScheduleExpression;

  /**
   * Whether the schedule is enabled. Create it disabled to deploy first and start it later.
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * The input of scheduled executions, which every pipeline receives. Context attributes of the schedule can be
   * part of it, for example the time the execution was scheduled for:
   * `ScheduleTargetInput.fromObject({ scheduledTime: ContextAttribute.scheduledTime })`.
   *
   * @default - an empty object
   */
  readonly input?: scheduler.ScheduleTargetInput;
}

/** Properties of an {@link ItcOrchestrator}. */
export interface ItcOrchestratorProps {
  /**
   * The pipelines to run in parallel before the refresh; names must be unique (ignoring case). Add more with
   * `addPipeline()`. Without any, each execution only refreshes the views: a refresh-only schedule.
   *
   * @default - none
   */
  readonly pipelines?: Pipeline[];

  /** The VPC the refresh function or task runs in: one that can reach the database. */
  readonly vpc: ec2.IVpc;

  /**
   * Where in the VPC the refresh function or task runs. With a secret, the subnets need a route to Secrets
   * Manager (a NAT gateway or an interface endpoint); IAM authentication signs its tokens in the
   * function and needs no route to AWS.
   * Public subnets are refused (by aws-lambda for the function), unless the Fargate task gets a public IP
   * address there (`assignPublicIp`): without one, the internet gateway would not take it to Secrets Manager.
   * Choose private subnets, or isolated subnets with a Secrets Manager interface endpoint.
   *
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Security groups of the refresh function or task.
   *
   * @default - a new security group that allows all outbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /**
   * The database whose materialized views are refreshed: where it is, how the refresh compute logs in,
   * and the network path to it, which the orchestrator opens: `OrchestratorDatabase.fromInstance`,
   * `fromCluster`, `fromProxy` or `fromEndpoint`.
   */
  readonly database: OrchestratorDatabase;

  /**
   * Which views to refresh and how.
   *
   * @default - every materialized view, with the refresh engine's defaults
   */
  readonly refresh?: RefreshOptions;

  /**
   * What runs the refresh: a Lambda function, at most 15 minutes per refresh run, or an ECS Fargate task
   * for longer refresh runs (see "Long refreshes" in the README).
   *
   * @default RefreshCompute.lambda()
   */
  readonly refreshCompute?: RefreshCompute;

  /**
   * Retention of the log groups of the refresh function or task and of the state machine.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Which state machine events are logged.
   *
   * @default sfn.LogLevel.ALL
   */
  readonly stateMachineLogLevel?: sfn.LogLevel;

  /**
   * Whether state machine logs include the input and output of each state. Pipeline inputs and
   * results may hold business data, so this is off unless you turn it on.
   *
   * @default false
   */
  readonly logExecutionData?: boolean;

  /**
   * Whether the state machine and the refresh function send traces to AWS X-Ray (the ECS task sends none).
   *
   * @default false
   */
  readonly tracingEnabled?: boolean;

  /**
   * Start executions on an EventBridge Scheduler schedule.
   *
   * @default - no schedule: start executions yourself
   */
  readonly schedule?: OrchestratorSchedule;

  /**
   * What every alarm does when it goes into alarm: executions failed, timed out, aborted or throttled, refresh
   * runs skipped by the run lock, and views not fresh (see `freshness`). For an SNS topic:
   * `[new SnsAction(topic)]` (`aws-cdk-lib/aws-cloudwatch-actions`).
   *
   * @default - the alarms notify no one
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];

  /**
   * Whether the orchestrator creates alarms at all. Without them, `freshness` and
   * `alarmOnRefreshRunsSkippedByLock` cannot be set; watch the metrics (`metric*()`) with alarms of your own.
   *
   * @default true
   */
  readonly createAlarms?: boolean;

  /**
   * Whether to create a CloudWatch dashboard of the executions, the refresh runs, the slowest views, the freshness
   * and the alarms' states, named after `resourcePrefix` when there is one.
   *
   * @default false
   */
  readonly dashboard?: boolean;

  /**
   * A KMS key that encrypts the state machine's execution history, every log group the orchestrator creates and
   * the refresh function's environment variables. The key policy gets the statement CloudWatch Logs needs for
   * exactly these log groups; the roles get what they need in their own policies.
   *
   * Without `resourcePrefix`, the state machine and the refresh log group then get generated names, as the key's
   * grants name them.
   *
   * A key imported from elsewhere (`Key.fromKeyArn`) has a key policy this app cannot change: then pass the log
   * groups as well (`stateMachineLogGroup`, and `refreshLogGroup`), encrypted as their owner chooses.
   *
   * @default - AWS owned keys
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * The role of the state machine. The orchestrator adds the statements it needs to the role's policy; a role
   * imported as immutable must already allow them (see docs/security.md).
   *
   * @default - a new role
   */
  readonly stateMachineRole?: iam.IRole;

  /**
   * The role the refresh runs with: the refresh function's execution role, or the refresh task's task role with
   * `RefreshCompute.fargate()`. The orchestrator adds the statements it needs to the role's policy; a role imported
   * as immutable must already allow them (see docs/security.md).
   *
   * @default - a new role
   */
  readonly refreshRole?: iam.IRole;

  /**
   * The log group of the state machine, best named under `/aws/vendedlogs/states/`, which keeps the CloudWatch
   * Logs resource policy that Step Functions writes through small. `logRetention`,
   * `removalPolicy` and `encryptionKey` do not apply to it.
   *
   * @default - a new log group
   */
  readonly stateMachineLogGroup?: logs.ILogGroup;

  /**
   * The log group of the refresh function or task. `logRetention`, `removalPolicy` and `encryptionKey` do not
   * apply to it.
   *
   * @default - a new log group
   */
  readonly refreshLogGroup?: logs.ILogGroup;

  /**
   * Whether to raise an alarm when a refresh run ends as skipped because another refresh run of the same views
   * held their run lock, so its views were not refreshed (the `RunsSkippedByLock` metric). It takes
   * `alarmActions`. Executions skipped by the state machine's own overlap check (`skipOverlappingExecutions`) do
   * not count. Works with both refresh computes.
   *
   * @default false
   */
  readonly alarmOnRefreshRunsSkippedByLock?: boolean;

  /**
   * Alarms that fire when no refresh run has refreshed the views within a maximum age, and optionally per
   * view. They take `alarmActions` like the other alarms. They rest on the metrics the refresh engine
   * publishes, with both refresh computes (on ECS Fargate through metric filters on the task's log group).
   *
   * @default - no freshness alarms
   */
  readonly freshness?: FreshnessOptions;

  /**
   * A prefix for the names of the refresh function (`<prefix>-refresh`), the state machine
   * (`<prefix>`), the schedule (`<prefix>-schedule`), the log groups and the alarms. Letters,
   * digits, `-` and `_`, at most 55 characters. The Terraform module used `<db prefix>-<env>-orchestrator`.
   *
   * Fixed names prevent CloudFormation from replacing these resources, and two stacks cannot use the same prefix.
   *
   * @default - CloudFormation generates the names
   */
  readonly resourcePrefix?: string;

  /**
   * Whether an execution ends at once as skipped while an earlier execution of the state machine is still
   * going. When false, executions may overlap, and `refresh.overlapPolicy` decides at the database.
   *
   * @default true
   */
  readonly skipOverlappingExecutions?: boolean;

  /**
   * The maximum duration of an execution, in whole seconds. A longer execution ends as timed out and raises
   * the timed-out alarm.
   *
   * @default - no limit: each state is bounded by its function's or task's timeout and retries
   */
  readonly executionTimeout?: Duration;

  /**
   * What happens to the log groups when they leave the stack.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * OpenLineage events for every refresh run, sent to a lineage catalog (Marquez, DataHub, OpenMetadata, Atlan,
   * Amazon DataZone) or written to the refresh's log.
   *
   * @see https://openlineage.io
   * @default - no lineage events
   */
  readonly lineage?: LineageOptions;
}
