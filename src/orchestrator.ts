import { AspectPriority, Aspects, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
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
import type { Pipeline, PipelineBinding } from './pipeline';
import { createOrchestratorAlarms, noAlarms } from './private/alarms';
import { createDashboard } from './private/dashboard';
import { DeferredDefinitionBody } from './private/deferred-definition';
import { LogGroupEncryption } from './private/encryption';
import { reportViewName } from './private/freshness-alarms';
import { lineageEnvironment, validateLineage } from './private/lineage-environment';
import { SCHEDULE_NAME_SUFFIX, validateOrchestratorProps, validateRefreshComputeFit, validateUniquePipelineName } from './private/orchestrator-validation';
import type { BoundRefreshCompute } from './private/refresh-compute-binding';
import { refreshEnvironment } from './private/refresh-environment';
import { claimResourcePrefix } from './private/resource-names';
import { RefreshCompute } from './refresh-compute';
import { RefreshMetric } from './shared/contract';
import { buildOrchestrationDefinition } from './state-machine/definition';
import { refreshWithLineage } from './state-machine/lineage-execution';

/**
 * Runs data pipelines in parallel on AWS Step Functions, then refreshes the PostgreSQL
 * materialized views they feed.
 *
 * Each execution of the state machine first checks that no earlier execution is still going (and ends as
 * skipped if one is), then runs every pipeline (a Lambda function, a nested workflow, a Glue job or any task) with
 * the execution input, and when all succeeded starts a refresh run: the refresh function in the VPC, or the refresh task on ECS Fargate. The
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
  private readonly pipelines: Pipeline[] = [];
  private readonly pipelineBindings: PipelineBinding[] = [];
  private readonly definitionBody: DeferredDefinitionBody;

  constructor(scope: Construct, id: string, props: ItcOrchestratorProps) {
    super(scope, id);
    validateOrchestratorProps(props);
    validateLineage(props.lineage);
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

    const lineage = props.lineage?.transport._bind(this);
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
      environment: {
        ...refreshEnvironment(this, props.refresh ?? {}),
        ...lineageEnvironment(this, props.lineage, lineage),
        POWERTOOLS_METRICS_NAMESPACE: RefreshMetric.NAMESPACE,
      },
      bindDatabase: (grantee) => props.database._bind(grantee),
      checkFit: (limits) => validateRefreshComputeFit(props, limits),
    });
    this.refreshCompute = compute;
    lineage?.grant(compute.grantPrincipal);
    this.refreshFunction = compute.refreshFunction;
    this.refreshTaskDefinition = compute.taskDefinition;
    this.connections = compute.connections;
    props.database._allowConnectionsFrom(this);

    this.definitionBody = new DeferredDefinitionBody('Runs the pipelines in parallel, then refreshes the materialized views');
    // Step Functions writes logs through CloudWatch Logs resource policies, which require this name form.
    const stateMachineLogGroup = props.stateMachineLogGroup
      ?? newLogGroup('StateMachineLogGroup', `/aws/vendedlogs/states/${prefix ?? this.uniqueLogName()}`, 'stateMachineLogGroup');
    this.stateMachine = this.createStateMachine(props, compute, stateMachineLogGroup);
    logEncryption.allowLogs();
    for (const pipeline of props.pipelines ?? []) {
      this.addPipeline(pipeline);
    }
    // The definition is built at synth, so that it holds the pipelines added after construction; before other aspects
    // (cdk-nag, for one) so that they see the statements its states need.
    Aspects.of(this).add({ visit: (node) => node === this && this.buildDefinition(props, compute) }, { priority: AspectPriority.MUTATING });
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

  /**
   * Adds a pipeline, which runs in parallel with the others before the refresh. The state machine's definition is
   * rendered at synth, so a pipeline added any time before then is in it.
   */
  public addPipeline(pipeline: Pipeline): void {
    if (this.definitionBody.isBuilt) {
      throw new Error(`Pipeline "${pipeline.name}" cannot be added: the state machine's definition was already synthesized`);
    }
    validateUniquePipelineName(this.pipelines, pipeline);
    this.pipelineBindings.push(pipeline._bind(this, { id: `Pipeline${this.pipelines.length}` }));
    this.pipelines.push(pipeline);
  }

  /** Allows the grantee to start executions of the state machine. */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  /**
   * A metric the refresh engine publishes, in its namespace (`ItcOrchestrator`) with the dimensions of this
   * orchestrator's refresh compute: `service` and `FunctionName` (the refresh function's name), or `service` and
   * `TaskDefinitionFamily` with `RefreshCompute.fargate()`. Per refresh run the engine publishes
   * `ViewsRefreshed`, `ViewsFailed`, `ViewsSkipped`, `RunDuration` (milliseconds), `RunsSucceeded` and
   * `RunsSkippedByLock`, and per refreshed view `ViewRefreshed` with the `View` dimension as well, which
   * `props.dimensionsMap` adds (or use `metricViewRefreshed()`).
   *
   * The refresh function publishes them as Embedded Metric Format; the refresh task on ECS writes the same lines to
   * its log group, where one metric filter per metric named above publishes them.
   *
   * @param metricName the metric's name, e.g. `ViewsFailed`
   * @default - the sum over 5 minutes
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: RefreshMetric.NAMESPACE,
      metricName,
      statistic: cloudwatch.Stats.SUM,
      ...props,
      dimensionsMap: { ...this.refreshCompute.metricDimensions, ...props?.dimensionsMap },
    });
  }

  /**
   * The number of refresh runs that ended as skipped because another refresh run of the same views held their
   * run lock, so their views were not refreshed.
   *
   * @default - the sum over 5 minutes
   */
  public metricRefreshRunsSkippedByLock(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RefreshMetric.RUNS_SKIPPED_BY_LOCK, props);
  }

  /**
   * The number of materialized views the refresh runs refreshed.
   *
   * @default - the sum over 5 minutes
   */
  public metricViewsRefreshed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RefreshMetric.VIEWS_REFRESHED, props);
  }

  /**
   * The number of refresh runs that refreshed every view they selected, including refresh runs in which nothing
   * changed. The `freshness` alarm watches it.
   *
   * @default - the sum over 5 minutes
   */
  public metricRefreshRunsSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RefreshMetric.RUN_SUCCEEDED, props);
  }

  /**
   * The number of successful refreshes of one materialized view.
   *
   * @param view the view, schema-qualified, e.g. `reporting.daily_totals`; read as in SQL and named as the
   * refresh report names it (`format('%I.%I')`), so `Reporting.Order` is `reporting."order"`
   * @default - the sum over 5 minutes
   */
  public metricViewRefreshed(view: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RefreshMetric.VIEW_REFRESHED, {
      ...props,
      dimensionsMap: { [RefreshMetric.VIEW_DIMENSION]: reportViewName(view, 'view'), ...props?.dimensionsMap },
    });
  }

  /**
   * The number of refresh runs that proved one materialized view unchanged since its last refresh
   * (`refresh.detectChangesInDatabase`), and so left it alone.
   *
   * @param view the view, schema-qualified, named as in `metricViewRefreshed`
   * @default - the sum over 5 minutes
   */
  public metricViewUnchanged(view: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RefreshMetric.VIEW_UNCHANGED, {
      ...props,
      dimensionsMap: { [RefreshMetric.VIEW_DIMENSION]: reportViewName(view, 'view'), ...props?.dimensionsMap },
    });
  }

  private createStateMachine(props: ItcOrchestratorProps, compute: BoundRefreshCompute, logGroup: logs.ILogGroup): sfn.StateMachine {
    const prefix = props.resourcePrefix;

    const skipOverlappingExecutions = props.skipOverlappingExecutions ?? true;
    const stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      // The key grant's encryption context names the state machine, so with a key it needs a name known at synth.
      stateMachineName: prefix ?? (props.encryptionKey ? this.uniqueStateMachineName() : undefined),
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: this.definitionBody,
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

  /** Binds the pipelines and builds the definition; once, at synth. */
  private buildDefinition(props: ItcOrchestratorProps, compute: BoundRefreshCompute): void {
    if (this.definitionBody.isBuilt) return;
    const definitionScope = new Construct(this, 'Definition');
    const onlyChangedTables = props.refresh?.onlyChangedTables ?? false;
    const pipelines = this.pipelineBindings.map((binding) => binding.render(definitionScope, onlyChangedTables));
    const definition = buildOrchestrationDefinition(definitionScope, {
      pipelines,
      refresh: props.lineage
        ? refreshWithLineage(definitionScope, onlyChangedTables, (fromState, kept) => compute.refreshState(definitionScope, fromState, kept))
        : compute.refreshState(definitionScope, onlyChangedTables),
      skipOverlappingExecutions: props.skipOverlappingExecutions ?? true,
      onlyChangedTables,
    });
    this.definitionBody.build(this.stateMachine, definition, props.executionTimeout);
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
        viewUnchanged: props.refresh?.detectChangesInDatabase ? (view) => this.metricViewUnchanged(view) : undefined,
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
