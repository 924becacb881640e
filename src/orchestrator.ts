import { Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { OrchestratorAlarms } from './orchestrator-alarms';
import type { ItcOrchestratorProps, OrchestratorSchedule } from './orchestrator-props';
import { createOrchestratorAlarms, noAlarms } from './private/alarms';
import { createDashboard } from './private/dashboard';
import { LogGroupEncryption } from './private/encryption';
import { reportViewName } from './private/freshness-alarms';
import { SCHEDULE_NAME_SUFFIX, validateOrchestratorProps, validateRefreshComputeFit } from './private/orchestrator-validation';
import type { BoundRefreshCompute } from './private/refresh-compute-binding';
import { refreshEnvironment } from './private/refresh-environment';
import { claimResourcePrefix } from './private/resource-names';
import { RefreshCompute } from './refresh-compute';
import { RefreshMetric } from './shared/contract';
import { buildOrchestrationDefinition } from './state-machine/definition';

/**
 * Runs data pipelines in parallel on AWS Step Functions, then refreshes the PostgreSQL
 * materialized views they feed.
 *
 * Each execution of the state machine first checks that no earlier execution is still going (and ends as
 * skipped if one is), then invokes every pipeline Lambda function with the execution input, and when all
 * succeeded starts a refresh run: the refresh function in the VPC, or the refresh task on ECS Fargate. The
 * execution's output is the refresh run's report.
 *
 * @example
 * declare const vpc: ec2.IVpc;
 * declare const instance: rds.DatabaseInstance;
 * declare const demand: lambda.IFunction;
 * declare const verifyPlus: lambda.IFunction;
 *
 * new ItcOrchestrator(this, 'Orchestrator', {
 *   vpc,
 *   // Logs in with the instance's secret, and opens the instance's port to the refresh function.
 *   database: OrchestratorDatabase.fromInstance(instance, { databaseName: 'warehouse' }),
 *   pipelines: [
 *     Pipeline.fromFunction('Demand', demand),
 *     Pipeline.fromFunction('VerifyPlus', verifyPlus),
 *   ],
 *   schedule: {
 *     expression: scheduler.ScheduleExpression.cron({ hour: '5', minute: '0', timeZone: TimeZone.EUROPE_LONDON }),
 *   },
 * });
 */
export class ItcOrchestrator extends Construct implements ec2.IConnectable {
  /**
   * The state machine that runs the pipelines and the refresh. Its own `metric*()` methods measure its
   * executions (`metricFailed()`, `metricSucceeded()`, ...).
   */
  public readonly stateMachine: sfn.StateMachine;

  /**
   * The function that refreshes the materialized views. Add layers or environment variables to it as to any
   * function; the environment variables the construct sets configure the refresh and should be left as they are.
   *
   * @default - none when the refresh runs as an ECS task (`RefreshCompute.fargate()`)
   */
  public readonly refreshFunction?: lambda.Function;

  /**
   * The ECS task definition of the refresh.
   *
   * @default - none unless the refresh runs as an ECS task (`RefreshCompute.fargate()`)
   */
  public readonly refreshTaskDefinition?: ecs.FargateTaskDefinition;

  /**
   * The network connections of the refresh function or task. The orchestrator already allows them to reach a
   * database given as an instance, cluster, proxy or endpoint with security groups.
   */
  public readonly connections: ec2.Connections;

  /** The schedule that starts executions, if one was configured. */
  public readonly schedule?: scheduler.ISchedule;

  /**
   * The alarms, each under its name: on executions failed, timed out, aborted and throttled, on refresh runs
   * skipped for the run lock if enabled, and the `freshness` alarms. None with `createAlarms: false`.
   */
  public readonly alarms: OrchestratorAlarms;

  /**
   * The CloudWatch dashboard, with `dashboard: true`.
   *
   * @default - none
   */
  public readonly dashboard?: cloudwatch.Dashboard;

  private readonly refreshCompute: BoundRefreshCompute;

  constructor(scope: Construct, id: string, props: ItcOrchestratorProps) {
    super(scope, id);
    validateOrchestratorProps(props);
    claimResourcePrefix(this, props.resourcePrefix);

    const prefix = props.resourcePrefix;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const logEncryption = new LogGroupEncryption(this, props.encryptionKey);
    const newLogGroup = (constructId: string, logGroupName: string | undefined, prop: string) => new logs.LogGroup(this, constructId, {
      logGroupName,
      retention,
      removalPolicy,
      encryptionKey: logGroupName === undefined ? undefined : logEncryption.keyFor(logGroupName, prop),
    });

    const compute = (props.refreshCompute ?? RefreshCompute.lambda())._bind(this, {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      resourcePrefix: prefix,
      retention,
      removalPolicy,
      tracingEnabled: props.tracingEnabled ?? false,
      role: props.refreshRole,
      logGroup: props.refreshLogGroup,
      encryptionKey: props.encryptionKey,
      // Named after the prefix; with a key also without one, as the key policy names the log groups it serves.
      newLogGroup: (constructId, directory) => newLogGroup(constructId, prefix || props.encryptionKey
        ? `${directory}/${prefix ?? this.uniqueLogName()}-refresh` : undefined, 'refreshLogGroup'),
      environment: { ...refreshEnvironment(this, props.refresh ?? {}), POWERTOOLS_METRICS_NAMESPACE: RefreshMetric.NAMESPACE },
      bindDatabase: (grantee) => props.database._bind(grantee),
      checkFit: (limits) => validateRefreshComputeFit(props, limits),
    });
    this.refreshCompute = compute;
    this.refreshFunction = compute.refreshFunction;
    this.refreshTaskDefinition = compute.taskDefinition;
    this.connections = compute.connections;
    props.database._allowConnectionsFrom(this);

    // Step Functions writes logs through CloudWatch Logs resource policies, which require this name form.
    const stateMachineLogGroup = props.stateMachineLogGroup
      ?? newLogGroup('StateMachineLogGroup', `/aws/vendedlogs/states/${prefix ?? this.uniqueLogName()}`, 'stateMachineLogGroup');
    this.stateMachine = this.createStateMachine(props, compute, stateMachineLogGroup);
    logEncryption.allowLogs();
    this.alarms = props.createAlarms ?? true ? this.createAlarms(props) : noAlarms();
    if (props.schedule) {
      this.schedule = this.createSchedule(props.schedule, prefix);
    }
    if (props.dashboard) {
      this.dashboard = createDashboard(this, {
        dashboardName: prefix,
        stateMachine: this.stateMachine,
        engineMetrics: compute.metricDimensions ? {
          metric: (metricName, metricProps) => this.metric(metricName, metricProps),
          viewsRefreshed: (metricProps) => this.metricViewsRefreshed(metricProps),
          refreshRunsSucceeded: (metricProps) => this.metricRefreshRunsSucceeded(metricProps),
          refreshRunsSkippedByLock: (metricProps) => this.metricRefreshRunsSkippedByLock(metricProps),
        } : undefined,
        refreshLogGroup: compute.logGroup,
        freshnessMaxAge: props.freshness?.maxAge,
        alarms: this.alarms.all,
      });
    }
  }

  /** A state machine name unique to this orchestrator, within the 80 characters Step Functions allows. */
  private uniqueStateMachineName(): string {
    const name = this.uniqueLogName();
    return name.length <= 80 ? name : Names.uniqueResourceName(this, { maxLength: 80 });
  }

  /** A log group name unique to this orchestrator; the stack's name keeps apart two deployments of one app in one account and region. */
  private uniqueLogName(): string {
    return `${Stack.of(this).stackName}-${Names.uniqueResourceName(this, { maxLength: 256 })}`;
  }

  /** Allows the grantee to start executions of the state machine. */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  /**
   * A metric the refresh engine publishes, in its namespace (`ItcOrchestrator`) with the dimensions of this
   * orchestrator's refresh function (`service`, `FunctionName`). Per refresh run the engine publishes
   * `ViewsRefreshed`, `ViewsFailed`, `ViewsSkipped`, `RunDuration` (milliseconds), `RunsSucceeded` and
   * `RunsSkippedByLock`, and per refreshed view `ViewRefreshed` with the `View` dimension as well, which
   * `props.dimensionsMap` adds (or use `metricViewRefreshed()`).
   *
   * The refresh function publishes them as Embedded Metric Format; the refresh task on ECS
   * (`RefreshCompute.fargate()`) publishes none that CloudWatch extracts, so this throws then.
   *
   * @param metricName the metric's name, e.g. `ViewsFailed`
   * @default - the sum over 5 minutes
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    const dimensions = this.refreshMetricDimensions(`\`metric('${metricName}')\``);
    return new cloudwatch.Metric({
      namespace: RefreshMetric.NAMESPACE,
      metricName,
      statistic: cloudwatch.Stats.SUM,
      ...props,
      dimensionsMap: { ...dimensions, ...props?.dimensionsMap },
    });
  }

  /**
   * The number of refresh runs that ended as skipped because another refresh run of the same views held their
   * run lock, so their views were not refreshed. Not available with `RefreshCompute.fargate()`.
   *
   * @default - the sum over 5 minutes
   */
  public metricRefreshRunsSkippedByLock(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    this.refreshMetricDimensions('`metricRefreshRunsSkippedByLock()`');
    return this.metric(RefreshMetric.RUNS_SKIPPED_BY_LOCK, props);
  }

  /**
   * The number of materialized views the refresh runs refreshed. Not available with `RefreshCompute.fargate()`.
   *
   * @default - the sum over 5 minutes
   */
  public metricViewsRefreshed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    this.refreshMetricDimensions('`metricViewsRefreshed()`');
    return this.metric(RefreshMetric.VIEWS_REFRESHED, props);
  }

  /**
   * The number of refresh runs that refreshed every view they selected, including refresh runs in which nothing
   * changed. The `freshness` alarm watches it. Not available with `RefreshCompute.fargate()`.
   *
   * @default - the sum over 5 minutes
   */
  public metricRefreshRunsSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    this.refreshMetricDimensions('`metricRefreshRunsSucceeded()`');
    return this.metric(RefreshMetric.RUN_SUCCEEDED, props);
  }

  /**
   * The number of successful refreshes of one materialized view. Not available with `RefreshCompute.fargate()`.
   *
   * @param view the view, schema-qualified, e.g. `reporting.daily_totals`; read as in SQL and named as the
   * refresh report names it (`format('%I.%I')`), so `Reporting.Order` is `reporting."order"`
   * @default - the sum over 5 minutes
   */
  public metricViewRefreshed(view: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    this.refreshMetricDimensions('`metricViewRefreshed()`');
    return this.metric(RefreshMetric.VIEW_REFRESHED, {
      ...props,
      dimensionsMap: { [RefreshMetric.VIEW_DIMENSION]: reportViewName(view, 'view'), ...props?.dimensionsMap },
    });
  }

  /** The dimensions of the refresh engine's metrics, or an error naming `what` needs them. */
  private refreshMetricDimensions(what: string): Record<string, string> {
    const { metricDimensions, noMetricsReason } = this.refreshCompute;
    if (!metricDimensions) {
      throw new Error(`${what} needs the refresh function (RefreshCompute.lambda()): ${noMetricsReason}`);
    }
    return metricDimensions;
  }

  private createStateMachine(props: ItcOrchestratorProps, compute: BoundRefreshCompute, logGroup: logs.ILogGroup): sfn.StateMachine {
    const prefix = props.resourcePrefix;

    const definitionScope = new Construct(this, 'Definition');
    const onlyChangedTables = props.refresh?.onlyChangedTables ?? false;
    const pipelines = props.pipelines.map((pipeline, index) =>
      pipeline._bind(this, { id: `Pipeline${index}`, definitionScope, readChangedTables: onlyChangedTables }));
    const skipOverlappingExecutions = props.skipOverlappingExecutions ?? true;
    const definition = buildOrchestrationDefinition(definitionScope, {
      pipelines,
      refresh: compute.refreshState(definitionScope, onlyChangedTables),
      skipOverlappingExecutions,
      onlyChangedTables,
    });

    const stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      // The key grant's encryption context names the state machine, so with a key it needs a name known at synth.
      stateMachineName: prefix ?? (props.encryptionKey ? this.uniqueStateMachineName() : undefined),
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      comment: 'Runs the pipelines in parallel, then refreshes the materialized views',
      timeout: props.executionTimeout,
      tracingEnabled: props.tracingEnabled ?? false,
      role: props.stateMachineRole,
      encryptionConfiguration: props.encryptionKey && new sfn.CustomerManagedEncryptionConfiguration(props.encryptionKey),
      logs: {
        destination: logGroup,
        level: props.stateMachineLogLevel ?? sfn.LogLevel.ALL,
        includeExecutionData: props.logExecutionData ?? false,
      },
    });

    compute.grantRun(stateMachine);
    if (skipOverlappingExecutions) {
      // A separate policy: the state machine's own policy cannot name the state machine without
      // a circular dependency, and the permission is needed only once executions run.
      const listOwnExecutions = new iam.Policy(this, 'ListOwnExecutions', {
        statements: [
          new iam.PolicyStatement({
            actions: ['states:ListExecutions'],
            resources: [stateMachine.stateMachineArn],
          }),
        ],
      });
      // Through the role, which leaves a role imported as immutable (`stateMachineRole`) unchanged.
      stateMachine.role.attachInlinePolicy(listOwnExecutions);
    }
    return stateMachine;
  }

  private createAlarms(props: ItcOrchestratorProps): OrchestratorAlarms {
    const machine = this.stateMachine;
    return createOrchestratorAlarms(this, {
      metrics: {
        failed: machine.metricFailed(),
        timedOut: machine.metricTimedOut(),
        aborted: machine.metricAborted(),
        throttled: machine.metricThrottled(),
        refreshRunsSkippedByLock: () => this.metricRefreshRunsSkippedByLock(),
        refreshRunsSucceeded: () => this.metricRefreshRunsSucceeded(),
        viewRefreshed: (view) => this.metricViewRefreshed(view),
      },
      alarmOnRefreshRunsSkippedByLock: props.alarmOnRefreshRunsSkippedByLock ?? false,
      freshness: props.freshness,
      resourcePrefix: props.resourcePrefix,
      alarmActions: props.alarmActions,
    });
  }

  private createSchedule(schedule: OrchestratorSchedule, prefix: string | undefined): scheduler.ISchedule {
    // Its own role, so it may start only this state machine (the targets' default role is shared).
    const role = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'Starts executions of the ITC orchestrator on its schedule',
    });
    return new scheduler.Schedule(this, 'Schedule', {
      scheduleName: prefix ? `${prefix}${SCHEDULE_NAME_SUFFIX}` : undefined,
      description: 'Starts an execution of the ITC orchestrator',
      schedule: schedule.expression,
      enabled: schedule.enabled ?? true,
      target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
        role,
        input: schedule.input ?? scheduler.ScheduleTargetInput.fromObject({}),
      }),
    });
  }
}
