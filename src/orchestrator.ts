import { Duration, Names, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DatabaseConnection, DatabaseCredentials } from './database-credentials';
import { buildOrchestrationDefinition } from './orchestration-definition';
import { Pipeline } from './pipeline';
import { ConcurrentRefresh, OverlapPolicy, RefreshEnv, RefreshLimits } from './refresh/contract';
import { RefreshFunction } from './refresh-function';
import { scheduleExpressionProblem } from './schedule-expression-validation';

/** Settings of the materialized view refresh, passed to the refresh function. */
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
   * Each refresh holds one database connection, and one more holds the run's lock.
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
   * What a refresh does when another refresh of the same database holds the refresh lock.
   *
   * @default OverlapPolicy.WAIT
   */
  readonly overlapPolicy?: OverlapPolicy;

  /**
   * How long to wait for another refresh's lock under `OverlapPolicy.WAIT` before ending as
   * skipped. Must be shorter than `refreshTimeout`.
   *
   * @default Duration.minutes(5)
   */
  readonly lockWaitTimeout?: Duration;

  /**
   * PostgreSQL `lock_timeout` for each view refresh: how long a refresh waits for the locks on its
   * view before the attempt fails and is retried.
   *
   * @default Duration.minutes(1)
   */
  readonly lockTimeout?: Duration;

  /**
   * PostgreSQL `statement_timeout` for each view refresh. Must be shorter than `refreshTimeout`.
   *
   * @default - bounded only by the invocation's remaining time
   */
  readonly statementTimeout?: Duration;

  /**
   * Attempts per view when a refresh meets a transient database error, from 1 (no retry) to 10.
   *
   * @default 3
   */
  readonly maxAttempts?: number;
}

/** When the orchestration runs on its own. */
export interface OrchestratorSchedule {
  /**
   * When to run: a cron or rate expression and its time zone, for example
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
   * The execution input of scheduled runs, which every pipeline receives.
   *
   * @default - an empty object
   */
  readonly input?: { [key: string]: any };
}

/** Properties of an {@link ItcOrchestrator}. */
export interface ItcOrchestratorProps {
  /**
   * The pipelines to run in parallel before the refresh. At least one; names must be unique.
   */
  readonly pipelines: Pipeline[];

  /** The VPC the refresh function runs in: one that can reach the database. */
  readonly vpc: ec2.IVpc;

  /**
   * Where in the VPC the refresh function runs. The subnets need a route to Secrets Manager
   * (a NAT gateway or an interface endpoint) when the credentials come from a secret.
   *
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Security groups of the refresh function.
   *
   * @default - a new security group that allows all outbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /** Where the refresh function gets the database credentials. */
  readonly credentials: DatabaseCredentials;

  /**
   * The database host name. Required with `DatabaseCredentials.fromEnvironment`; with a secret
   * it is used when the secret has no `host`.
   *
   * @default - the secret's `host`
   */
  readonly databaseEndpoint?: string;

  /**
   * The database port, used when the secret has no `port`.
   *
   * @default - the secret's `port`, else 5432
   */
  readonly databasePort?: number;

  /**
   * The database name, used when the secret has no `dbname`.
   *
   * @default - the secret's `dbname`, else the user's default database
   */
  readonly databaseName?: string;

  /**
   * Whether the refresh function verifies the database's TLS certificate against the Amazon RDS
   * certificate authorities. The connection is always encrypted; turn verification off only for
   * servers whose certificate no RDS authority signed. Applies to `DatabaseCredentials.fromSecret`.
   *
   * @default true
   */
  readonly verifyServerCertificate?: boolean;

  /**
   * Which views to refresh and how.
   *
   * @default - every materialized view, with the refresh function's defaults
   */
  readonly refresh?: RefreshOptions;

  /**
   * Memory of the refresh function, in MiB (128 to 10240).
   *
   * @default 256
   */
  readonly refreshMemorySize?: number;

  /**
   * Timeout of the refresh function (1 second to 15 minutes).
   *
   * @default Duration.minutes(15)
   */
  readonly refreshTimeout?: Duration;

  /**
   * Retention of the refresh function's and the state machine's log groups.
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
   * Whether the state machine and the refresh function send traces to AWS X-Ray.
   *
   * @default false
   */
  readonly tracingEnabled?: boolean;

  /**
   * Run the orchestration on an EventBridge Scheduler schedule.
   *
   * @default - no schedule: start executions yourself
   */
  readonly schedule?: OrchestratorSchedule;

  /**
   * An SNS topic that the alarms notify when executions fail, time out, are aborted or are throttled.
   *
   * @default - the alarms notify no one
   */
  readonly alarmTopic?: sns.ITopic;

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
   * Whether a run ends at once as skipped while an earlier run of the state machine is still going.
   * When false, runs may overlap, and the refresh function's `overlapPolicy` decides at the database.
   *
   * @default true
   */
  readonly skipOverlappingRuns?: boolean;

  /**
   * The maximum duration of a run, in whole seconds. A longer run ends as timed out and raises the
   * timed-out alarm.
   *
   * @default - no limit: each task is bounded by its function's timeout and retries
   */
  readonly executionTimeout?: Duration;

  /**
   * What happens to the log groups when they leave the stack.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

const DEFAULT_MEMORY_SIZE = 256;
const DEFAULT_REFRESH_TIMEOUT = Duration.minutes(15);
const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);
/** Schedule names are limited to 64 characters: the longest name made from the prefix. */
const SCHEDULE_NAME_SUFFIX = '-schedule';
const MAX_PREFIX_LENGTH = 64 - SCHEDULE_NAME_SUFFIX.length;

/**
 * Runs data pipelines in parallel on AWS Step Functions, then refreshes the PostgreSQL
 * materialized views they feed.
 *
 * A run first checks that no earlier run is still going (and ends as skipped if one is), then
 * invokes every pipeline Lambda function with the execution input, and when all succeeded invokes
 * the refresh function in the VPC. The run's output is the refresh report.
 *
 * @example
 * declare const vpc: ec2.IVpc;
 * declare const instance: rds.DatabaseInstance;
 * declare const demand: lambda.IFunction;
 * declare const verifyPlus: lambda.IFunction;
 *
 * const orchestrator = new ItcOrchestrator(this, 'Orchestrator', {
 *   vpc,
 *   credentials: DatabaseCredentials.fromSecret(instance.secret!),
 *   pipelines: [
 *     Pipeline.fromFunction('Demand', demand),
 *     Pipeline.fromFunction('VerifyPlus', verifyPlus),
 *   ],
 *   schedule: {
 *     expression: scheduler.ScheduleExpression.cron({ hour: '5', minute: '0', timeZone: TimeZone.EUROPE_LONDON }),
 *   },
 * });
 * instance.connections.allowDefaultPortFrom(orchestrator);
 */
export class ItcOrchestrator extends Construct implements ec2.IConnectable {
  /** The state machine that runs the pipelines and the refresh. */
  public readonly stateMachine: sfn.StateMachine;

  /** The function that refreshes the materialized views. */
  public readonly refreshFunction: lambda.IFunction;

  /** The network connections of the refresh function. Allow them to reach the database. */
  public readonly connections: ec2.Connections;

  /** The schedule that starts runs, if one was configured. */
  public readonly schedule?: scheduler.ISchedule;

  /** Alarms on executions failed, timed out, aborted and throttled. */
  public readonly alarms: cloudwatch.IAlarm[];

  constructor(scope: Construct, id: string, props: ItcOrchestratorProps) {
    super(scope, id);
    this.validateProps(props);

    const prefix = props.resourcePrefix;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    const refreshLogGroup = new logs.LogGroup(this, 'RefreshLogGroup', {
      logGroupName: prefix ? `/aws/lambda/${prefix}-refresh` : undefined,
      retention,
      removalPolicy,
    });
    const refreshFunction = this.createRefreshFunction(props, refreshLogGroup);
    this.refreshFunction = refreshFunction;
    this.connections = refreshFunction.connections;

    this.stateMachine = this.createStateMachine(props, retention, removalPolicy);
    this.alarms = this.createAlarms(props);
    if (props.schedule) {
      this.schedule = this.createSchedule(props.schedule, prefix);
    }
  }

  /** Allows the grantee to start runs of the orchestration. */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  /** The number of runs that failed. */
  public metricFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed(props);
  }

  /** The number of runs that timed out. */
  public metricTimedOut(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricTimedOut(props);
  }

  /** The number of runs that were aborted. */
  public metricAborted(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricAborted(props);
  }

  /** The number of runs that Step Functions throttled. */
  public metricThrottled(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricThrottled(props);
  }

  /** The number of runs that succeeded, including runs skipped because an earlier run was going. */
  public metricSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricSucceeded(props);
  }

  private createRefreshFunction(props: ItcOrchestratorProps, logGroup: logs.LogGroup): lambda.Function {
    // Only what the function needs: its own log group and the network interfaces of a VPC
    // function. Reading the secret is granted by the credentials.
    const role = new iam.Role(this, 'RefreshFunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Refreshes materialized views for the ITC orchestrator',
      inlinePolicies: {
        Logs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [logGroup.logGroupArn],
            }),
          ],
        }),
        VpcNetworkInterfaces: new iam.PolicyDocument({
          statements: [
            // Lambda creates and deletes the function's interfaces through this role; these
            // EC2 actions have no resource-level scoping for Lambda's use.
            new iam.PolicyStatement({
              actions: [
                'ec2:CreateNetworkInterface',
                'ec2:DescribeNetworkInterfaces',
                'ec2:DescribeSubnets',
                'ec2:DeleteNetworkInterface',
                'ec2:AssignPrivateIpAddresses',
                'ec2:UnassignPrivateIpAddresses',
              ],
              resources: ['*'],
            }),
          ],
        }),
      },
    });

    const databaseEnvironment = props.credentials._bind(role, databaseConnection(props));

    return new RefreshFunction(this, 'RefreshFunction', {
      functionName: props.resourcePrefix ? `${props.resourcePrefix}-refresh` : undefined,
      description: 'Refreshes the PostgreSQL materialized views after the pipelines ran',
      role,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      memorySize: props.refreshMemorySize ?? DEFAULT_MEMORY_SIZE,
      timeout: props.refreshTimeout ?? DEFAULT_REFRESH_TIMEOUT,
      architecture: lambda.Architecture.ARM_64,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: props.tracingEnabled ? lambda.Tracing.ACTIVE : undefined,
      environment: {
        ...databaseEnvironment,
        ...refreshEnvironment(this, props.refresh ?? {}),
        POWERTOOLS_SERVICE_NAME: 'itc-orchestrator',
        POWERTOOLS_METRICS_NAMESPACE: 'ItcOrchestrator',
      },
    });
  }

  private createStateMachine(props: ItcOrchestratorProps, retention: logs.RetentionDays,
    removalPolicy: RemovalPolicy): sfn.StateMachine {
    const prefix = props.resourcePrefix;
    // Step Functions writes logs through CloudWatch Logs resource policies, which require this name form.
    const logGroup = new logs.LogGroup(this, 'StateMachineLogGroup', {
      logGroupName: `/aws/vendedlogs/states/${prefix ?? Names.uniqueResourceName(this, { maxLength: 400 })}`,
      retention,
      removalPolicy,
    });

    const definitionScope = new Construct(this, 'Definition');
    const pipelines = props.pipelines.map((pipeline, index) => ({
      name: pipeline.name,
      fn: pipeline._bind(this, `Pipeline${index}`),
    }));
    const skipOverlappingRuns = props.skipOverlappingRuns ?? true;
    const definition = buildOrchestrationDefinition(definitionScope, {
      pipelines,
      refreshFunction: this.refreshFunction,
      skipOverlappingRuns,
    });

    const stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: prefix,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      comment: 'Runs the pipelines in parallel, then refreshes the materialized views',
      timeout: props.executionTimeout,
      tracingEnabled: props.tracingEnabled ?? false,
      logs: {
        destination: logGroup,
        level: props.stateMachineLogLevel ?? sfn.LogLevel.ALL,
        includeExecutionData: props.logExecutionData ?? false,
      },
    });

    if (skipOverlappingRuns) {
      // A separate policy: the state machine's own policy cannot name the state machine without
      // a circular dependency, and the permission is needed only once executions run.
      new iam.Policy(this, 'ListOwnExecutions', {
        roles: [stateMachine.role],
        statements: [
          new iam.PolicyStatement({
            actions: ['states:ListExecutions'],
            resources: [stateMachine.stateMachineArn],
          }),
        ],
      });
    }
    return stateMachine;
  }

  private createAlarms(props: ItcOrchestratorProps): cloudwatch.IAlarm[] {
    const alarmAction = props.alarmTopic ? new cloudwatchActions.SnsAction(props.alarmTopic) : undefined;
    const definitions: Array<[string, string, cloudwatch.Metric, string]> = [
      ['ExecutionsFailedAlarm', 'executions-failed', this.metricFailed(), 'A run failed'],
      ['ExecutionsTimedOutAlarm', 'executions-timed-out', this.metricTimedOut(), 'A run timed out'],
      ['ExecutionsAbortedAlarm', 'executions-aborted', this.metricAborted(), 'A run was aborted'],
      ['ExecutionsThrottledAlarm', 'executions-throttled', this.metricThrottled(), 'Step Functions throttled a run'],
    ];
    return definitions.map(([id, nameSuffix, metric, description]) => {
      const alarm = new cloudwatch.Alarm(this, id, {
        alarmName: props.resourcePrefix ? `${props.resourcePrefix}-${nameSuffix}` : undefined,
        alarmDescription: `${description} (ITC orchestrator ${this.node.path})`,
        metric: metric.with({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (alarmAction) {
        alarm.addAlarmAction(alarmAction);
      }
      return alarm;
    });
  }

  private createSchedule(schedule: OrchestratorSchedule, prefix: string | undefined): scheduler.ISchedule {
    // Its own role, so it may start only this state machine (the targets' default role is shared).
    const role = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'Starts runs of the ITC orchestrator on its schedule',
    });
    return new scheduler.Schedule(this, 'Schedule', {
      scheduleName: prefix ? `${prefix}${SCHEDULE_NAME_SUFFIX}` : undefined,
      description: 'Starts a run of the ITC orchestrator',
      schedule: schedule.expression,
      enabled: schedule.enabled ?? true,
      target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
        role,
        input: scheduler.ScheduleTargetInput.fromObject(schedule.input ?? {}),
      }),
    });
  }

  private validateProps(props: ItcOrchestratorProps): void {
    this.validatePipelines(props.pipelines);
    this.validateResourcePrefix(props.resourcePrefix);
    this.validateRefreshFunction(props);
    this.validateDatabase(props);
    this.validateRefreshOptions(props.refresh ?? {}, props.refreshTimeout ?? DEFAULT_REFRESH_TIMEOUT);
    this.validateExecutionTimeout(props.executionTimeout);
    if (props.schedule) {
      this.validateSchedule(props.schedule);
    }
  }

  private validatePipelines(pipelines: Pipeline[]): void {
    if (pipelines.length === 0) {
      throw new Error('`pipelines` must hold at least one pipeline, got none');
    }
    const seen = new Set<string>();
    for (const pipeline of pipelines) {
      const key = pipeline.name.toLowerCase();
      if (seen.has(key)) {
        throw new Error(`\`pipelines\` must have unique names (ignoring case), got "${pipeline.name}" twice`);
      }
      seen.add(key);
    }
  }

  private validateResourcePrefix(prefix: string | undefined): void {
    if (prefix === undefined || Token.isUnresolved(prefix)) {
      return;
    }
    if (prefix.length === 0 || prefix.length > MAX_PREFIX_LENGTH) {
      throw new Error(
        `\`resourcePrefix\` must have 1 to ${MAX_PREFIX_LENGTH} characters, so that "<prefix>${SCHEDULE_NAME_SUFFIX}" ` +
          `fits the 64-character limit of schedule names, got "${prefix}" (${prefix.length} characters)`,
      );
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(prefix)) {
      throw new Error(
        `\`resourcePrefix\` may contain only letters, digits, "-" and "_", starting with a letter or digit, got "${prefix}"`,
      );
    }
  }

  private validateRefreshFunction(props: ItcOrchestratorProps): void {
    const memory = props.refreshMemorySize;
    if (memory !== undefined && !Token.isUnresolved(memory) && (!Number.isInteger(memory) || memory < 128 || memory > 10240)) {
      throw new Error(`\`refreshMemorySize\` must be a whole number of MiB from 128 to 10240, got ${memory}`);
    }
    const timeout = props.refreshTimeout;
    if (timeout !== undefined && !timeout.isUnresolved()) {
      const milliseconds = timeout.toMilliseconds({ integral: false });
      if (milliseconds < 1000 || milliseconds > MAX_LAMBDA_TIMEOUT.toMilliseconds() || milliseconds % 1000 !== 0) {
        throw new Error(
          `\`refreshTimeout\` must be a whole number of seconds from 1 second to 15 minutes, got ${timeout.toHumanString()}`,
        );
      }
    }
  }

  private validateExecutionTimeout(timeout: Duration | undefined): void {
    if (timeout === undefined || timeout.isUnresolved()) {
      return;
    }
    const milliseconds = timeout.toMilliseconds({ integral: false });
    if (milliseconds < 1000) {
      throw new Error(`\`executionTimeout\` must be at least 1 second, got ${timeout.toHumanString()}`);
    }
    // The state machine's TimeoutSeconds holds whole seconds only.
    if (milliseconds % 1000 !== 0) {
      throw new Error(`\`executionTimeout\` must be a whole number of seconds, got ${timeout.toHumanString()}`);
    }
  }

  private validateDatabase(props: ItcOrchestratorProps): void {
    const port = props.databasePort;
    if (port !== undefined && !Token.isUnresolved(port) && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw new Error(`\`databasePort\` must be a whole number from 1 to 65535, got ${port}`);
    }
    for (const [name, value] of [['databaseEndpoint', props.databaseEndpoint], ['databaseName', props.databaseName]]) {
      if (value !== undefined && !Token.isUnresolved(value) && value.trim().length === 0) {
        throw new Error(`\`${name}\` must not be empty, got "${value}"`);
      }
    }
    props.credentials._validate(databaseConnection(props));
  }

  private validateRefreshOptions(refresh: RefreshOptions, refreshTimeout: Duration): void {
    validateNameList('refresh.views', refresh.views);
    validateNameList('refresh.schemas', refresh.schemas);
    validateWholeNumber('refresh.concurrency', refresh.concurrency, 1, RefreshLimits.MAX_CONCURRENCY);
    validateWholeNumber('refresh.maxAttempts', refresh.maxAttempts, 1, RefreshLimits.MAX_ATTEMPTS);
    validateMilliseconds('refresh.lockTimeout', refresh.lockTimeout, 1);
    for (const [name, duration, min] of [
      ['refresh.lockWaitTimeout', refresh.lockWaitTimeout, 0],
      ['refresh.statementTimeout', refresh.statementTimeout, 1],
    ] as const) {
      validateMilliseconds(name, duration, min);
      if (duration && !duration.isUnresolved() && !refreshTimeout.isUnresolved()
        && duration.toMilliseconds({ integral: false }) >= refreshTimeout.toMilliseconds({ integral: false })) {
        throw new Error(
          `\`${name}\` must be shorter than \`refreshTimeout\` (${refreshTimeout.toHumanString()}), ` +
            `or the function times out first, got ${duration.toHumanString()}`,
        );
      }
    }
  }

  private validateSchedule(schedule: OrchestratorSchedule): void {
    const expression = schedule.expression.expressionString;
    if (Token.isUnresolved(expression)) {
      return;
    }
    const problem = scheduleExpressionProblem(expression);
    if (problem) {
      throw new Error(`\`schedule.expression\` "${expression}" is invalid: ${problem}`);
    }
  }
}

function databaseConnection(props: ItcOrchestratorProps): DatabaseConnection {
  return {
    endpoint: props.databaseEndpoint,
    port: props.databasePort,
    databaseName: props.databaseName,
    verifyServerCertificate: props.verifyServerCertificate,
  };
}

/** The refresh settings as the refresh function reads them; unset settings keep the function's defaults. */
function refreshEnvironment(scope: Construct, refresh: RefreshOptions): Record<string, string> {
  const environment: Record<string, string> = {};
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) {
      environment[name] = value;
    }
  };
  const toJson = (names: string[] | undefined) => names && Stack.of(scope).toJsonString(names);
  set(RefreshEnv.VIEWS, toJson(refresh.views));
  set(RefreshEnv.SCHEMAS, toJson(refresh.schemas));
  set(RefreshEnv.CONCURRENCY, refresh.concurrency?.toString());
  set(RefreshEnv.CONCURRENT_REFRESH, refresh.concurrentRefresh);
  set(RefreshEnv.OVERLAP_POLICY, refresh.overlapPolicy);
  set(RefreshEnv.LOCK_WAIT_MS, refresh.lockWaitTimeout?.toMilliseconds().toString());
  set(RefreshEnv.LOCK_TIMEOUT_MS, refresh.lockTimeout?.toMilliseconds().toString());
  set(RefreshEnv.STATEMENT_TIMEOUT_MS, refresh.statementTimeout?.toMilliseconds().toString());
  set(RefreshEnv.MAX_ATTEMPTS, refresh.maxAttempts?.toString());
  return environment;
}

function validateNameList(prop: string, names: string[] | undefined): void {
  if (names === undefined) {
    return;
  }
  if (names.length === 0) {
    throw new Error(`\`${prop}\` must name at least one entry when set, got an empty list`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (Token.isUnresolved(name)) {
      continue;
    }
    if (name.trim().length === 0) {
      throw new Error(`\`${prop}\` must not contain empty names, got ${JSON.stringify(names)}`);
    }
    if (seen.has(name)) {
      throw new Error(`\`${prop}\` must not name "${name}" twice`);
    }
    seen.add(name);
  }
}

function validateWholeNumber(prop: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined || Token.isUnresolved(value)) {
    return;
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`\`${prop}\` must be a whole number from ${min} to ${max}, got ${value}`);
  }
}

function validateMilliseconds(prop: string, duration: Duration | undefined, min: number): void {
  if (duration === undefined || duration.isUnresolved()) {
    return;
  }
  const milliseconds = duration.toMilliseconds({ integral: false });
  if (!Number.isInteger(milliseconds) || milliseconds < min) {
    throw new Error(
      `\`${prop}\` must be a whole number of milliseconds, at least ${min}, got ${duration.toHumanString()}`,
    );
  }
}
