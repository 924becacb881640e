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
import type { ItcOrchestratorProps, OrchestratorSchedule } from './orchestrator-props';
import { ExecutionAlarm, createExecutionAlarms } from './private/alarms';
import { createFreshnessAlarms, reportViewName } from './private/freshness-alarms';
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
   * Alarms on executions failed, timed out, aborted and throttled, on refresh runs skipped for the run lock if
   * enabled, and the `freshness` alarms.
   */
  public readonly alarms: cloudwatch.IAlarm[];

  private readonly refreshCompute: BoundRefreshCompute;

  constructor(scope: Construct, id: string, props: ItcOrchestratorProps) {
    super(scope, id);
    validateOrchestratorProps(props);
    claimResourcePrefix(this, props.resourcePrefix);

    const prefix = props.resourcePrefix;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    const compute = (props.refreshCompute ?? RefreshCompute.lambda())._bind(this, {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      resourcePrefix: prefix,
      retention,
      removalPolicy,
      tracingEnabled: props.tracingEnabled ?? false,
      environment: { ...refreshEnvironment(this, props.refresh ?? {}), POWERTOOLS_METRICS_NAMESPACE: RefreshMetric.NAMESPACE },
      bindDatabase: (grantee) => props.database._bind(grantee),
      checkFit: (limits) => validateRefreshComputeFit(props, limits),
    });
    this.refreshCompute = compute;
    this.refreshFunction = compute.refreshFunction;
    this.refreshTaskDefinition = compute.taskDefinition;
    this.connections = compute.connections;
    props.database._allowConnectionsFrom(this);

    this.stateMachine = this.createStateMachine(props, compute, retention, removalPolicy);
    this.alarms = this.createAlarms(props);
    if (props.schedule) {
      this.schedule = this.createSchedule(props.schedule, prefix);
    }
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

  private createStateMachine(props: ItcOrchestratorProps, compute: BoundRefreshCompute, retention: logs.RetentionDays,
    removalPolicy: RemovalPolicy): sfn.StateMachine {
    const prefix = props.resourcePrefix;
    // Step Functions writes logs through CloudWatch Logs resource policies, which require this name form.
    const logGroup = new logs.LogGroup(this, 'StateMachineLogGroup', {
      // Without a prefix, the stack's name keeps apart two deployments of one app in one account and region.
      logGroupName: `/aws/vendedlogs/states/${prefix ?? `${Stack.of(this).stackName}-${Names.uniqueResourceName(this, { maxLength: 256 })}`}`,
      retention,
      removalPolicy,
    });

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

    compute.grantRun(stateMachine);
    if (skipOverlappingExecutions) {
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
    const machine = this.stateMachine;
    const alarms: ExecutionAlarm[] = [
      { id: 'ExecutionsFailedAlarm', nameSuffix: 'executions-failed', metric: machine.metricFailed(), description: 'An execution failed' },
      { id: 'ExecutionsTimedOutAlarm', nameSuffix: 'executions-timed-out', metric: machine.metricTimedOut(), description: 'An execution timed out' },
      { id: 'ExecutionsAbortedAlarm', nameSuffix: 'executions-aborted', metric: machine.metricAborted(), description: 'An execution was aborted' },
      { id: 'ExecutionsThrottledAlarm', nameSuffix: 'executions-throttled', metric: machine.metricThrottled(), description: 'Step Functions throttled an execution' },
    ];
    if (props.alarmOnRefreshRunsSkippedByLock) {
      alarms.push({
        id: 'RunsSkippedByLockAlarm',
        nameSuffix: 'runs-skipped-by-lock',
        metric: this.metricRefreshRunsSkippedByLock(),
        description: 'A refresh run was skipped because another refresh run of the same views held their run lock; its views were not refreshed',
      });
    }
    const freshness = props.freshness ? createFreshnessAlarms(this, {
      freshness: props.freshness,
      runsSucceeded: this.metricRefreshRunsSucceeded(),
      viewRefreshed: (view) => this.metricViewRefreshed(view),
      resourcePrefix: props.resourcePrefix,
      alarmTopic: props.alarmTopic,
    }) : [];
    return [...createExecutionAlarms(this, { resourcePrefix: props.resourcePrefix, alarmTopic: props.alarmTopic, alarms }), ...freshness];
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
        input: scheduler.ScheduleTargetInput.fromObject(schedule.input ?? {}),
      }),
    });
  }
}
