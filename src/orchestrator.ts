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
import { SCHEDULE_NAME_SUFFIX, validateOrchestratorProps } from './private/orchestrator-validation';
import { checkPipelineEnvironment } from './private/pipeline-environment';
import { LambdaSettings, refreshComputeSettings } from './private/refresh-compute-settings';
import { refreshEnvironment } from './private/refresh-environment';
import { RefreshFunction } from './private/refresh-function';
import { createRefreshRole } from './private/refresh-role';
import { createRefreshTask, grantRunRefreshTask, RefreshTask } from './private/refresh-task';
import { claimResourcePrefix } from './private/resource-names';
import { RefreshMetric } from './shared/contract';
import { buildOrchestrationDefinition } from './state-machine/definition';
import { RefreshTarget } from './state-machine/refresh-step';

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
  /** The state machine that runs the pipelines and the refresh. */
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

  /** The schedule that starts runs, if one was configured. */
  public readonly schedule?: scheduler.ISchedule;

  /** Alarms on executions failed, timed out, aborted and throttled, on runs skipped for the run lock if enabled, and the `freshness` alarms. */
  public readonly alarms: cloudwatch.IAlarm[];

  constructor(scope: Construct, id: string, props: ItcOrchestratorProps) {
    super(scope, id);
    validateOrchestratorProps(props);
    claimResourcePrefix(this, props.resourcePrefix);

    const prefix = props.resourcePrefix;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    const compute = refreshComputeSettings(props);
    let refresh: RefreshTarget;
    if (compute.kind === 'fargate') {
      const task = createRefreshTask(this, {
        settings: compute,
        vpc: props.vpc,
        vpcSubnets: props.vpcSubnets,
        securityGroups: props.securityGroups,
        resourcePrefix: prefix,
        retention,
        removalPolicy,
        environment: { ...refreshEnvironment(this, props.refresh ?? {}), POWERTOOLS_SERVICE_NAME: 'itc-orchestrator', POWERTOOLS_METRICS_NAMESPACE: RefreshMetric.NAMESPACE },
        bindCredentials: (grantee) => props.database._bind(grantee),
      });
      this.refreshTaskDefinition = task.taskDefinition;
      this.connections = new ec2.Connections({ securityGroups: task.securityGroups });
      refresh = { task };
    } else {
      const refreshLogGroup = new logs.LogGroup(this, 'RefreshLogGroup', {
        logGroupName: prefix ? `/aws/lambda/${prefix}-refresh` : undefined,
        retention,
        removalPolicy,
      });
      const refreshFunction = this.createRefreshFunction(props, compute, refreshLogGroup);
      this.refreshFunction = refreshFunction;
      this.connections = refreshFunction.connections;
      refresh = { fn: refreshFunction };
    }
    props.database._allowConnectionsFrom(this);

    this.stateMachine = this.createStateMachine(props, refresh, retention, removalPolicy);
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

  /**
   * The number of refresh runs that ended as skipped because another run of the same views held their run
   * lock, so their views were not refreshed. Published by the refresh function (Embedded Metric Format);
   * not available when the refresh runs as an ECS task (`RefreshCompute.fargate()`).
   *
   * @default - the sum over 5 minutes
   */
  public metricRunsSkippedByLock(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    if (!this.refreshFunction) {
      throw new Error('`metricRunsSkippedByLock()` needs the refresh function (RefreshCompute.lambda()): '
        + 'the refresh task on ECS writes its logs through the awslogs driver, from which CloudWatch extracts no embedded metrics');
    }
    return new cloudwatch.Metric({
      namespace: RefreshMetric.NAMESPACE,
      metricName: RefreshMetric.RUNS_SKIPPED_BY_LOCK,
      dimensionsMap: { service: RefreshMetric.SERVICE, [RefreshMetric.FUNCTION_DIMENSION]: this.refreshFunction.functionName },
      statistic: cloudwatch.Stats.SUM,
      ...props,
    });
  }

  /** The number of runs that succeeded, including runs skipped because an earlier run was going. */
  public metricSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricSucceeded(props);
  }

  /** The number of materialized views the refresh function refreshed (sum over the period). */
  public metricViewsRefreshed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.refreshMetric(RefreshMetric.VIEWS_REFRESHED, {}, props);
  }

  /**
   * The number of refresh runs that refreshed every view they selected, including runs in which nothing
   * changed (sum over the period). The `freshness` alarm watches it.
   */
  public metricRefreshRunsSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.refreshMetric(RefreshMetric.RUN_SUCCEEDED, {}, props);
  }

  /**
   * The number of successful refreshes of one materialized view (sum over the period).
   *
   * @param view the view, schema-qualified, e.g. `reporting.daily_totals`; read as in SQL and named as the
   * refresh report names it (`format('%I.%I')`), so `Reporting.Order` is `reporting."order"`
   */
  public metricViewRefreshed(view: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.refreshMetric(RefreshMetric.VIEW_REFRESHED, { [RefreshMetric.VIEW_DIMENSION]: reportViewName(view, 'view') }, props);
  }

  private refreshMetric(metricName: string, dimensions: Record<string, string>, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    if (!this.refreshFunction) {
      throw new Error(`The ${metricName} metric needs the refresh function (RefreshCompute.lambda()): `
        + 'the refresh task publishes no metrics per function');
    }
    return new cloudwatch.Metric({
      namespace: RefreshMetric.NAMESPACE,
      metricName,
      statistic: cloudwatch.Stats.SUM,
      ...props,
      dimensionsMap: {
        service: RefreshMetric.SERVICE,
        [RefreshMetric.FUNCTION_DIMENSION]: this.refreshFunction.functionName,
        ...dimensions,
        ...props?.dimensionsMap,
      },
    });
  }

  private createRefreshFunction(props: ItcOrchestratorProps, compute: LambdaSettings, logGroup: logs.LogGroup): lambda.Function {
    const role = createRefreshRole(this, 'RefreshFunctionRole', logGroup);
    const databaseEnvironment = props.database._bind(role);

    return new RefreshFunction(this, 'RefreshFunction', {
      functionName: props.resourcePrefix ? `${props.resourcePrefix}-refresh` : undefined,
      description: 'Refreshes the PostgreSQL materialized views after the pipelines ran',
      role,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      memorySize: compute.memorySize,
      timeout: compute.timeout,
      architecture: lambda.Architecture.ARM_64,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: props.tracingEnabled ? lambda.Tracing.ACTIVE : undefined,
      environment: {
        ...databaseEnvironment,
        ...refreshEnvironment(this, props.refresh ?? {}),
        POWERTOOLS_SERVICE_NAME: 'itc-orchestrator',
        POWERTOOLS_METRICS_NAMESPACE: RefreshMetric.NAMESPACE,
      },
    });
  }

  private createStateMachine(props: ItcOrchestratorProps, refresh: RefreshTarget, retention: logs.RetentionDays,
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
    const pipelines = props.pipelines.map((pipeline, index) => {
      const fn = pipeline._bind(this, `Pipeline${index}`);
      checkPipelineEnvironment(this, pipeline.name, fn);
      return { name: pipeline.name, fn };
    });
    const skipOverlappingRuns = props.skipOverlappingRuns ?? true;
    const definition = buildOrchestrationDefinition(definitionScope, {
      pipelines,
      refresh,
      skipOverlappingRuns,
      onlyChangedTables: props.refresh?.onlyChangedTables ?? false,
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

    if ('task' in refresh) {
      this.grantRefreshTask(stateMachine, refresh.task);
    }
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

  /** The state machine starts the task; the task answers it, and nothing else may. */
  private grantRefreshTask(stateMachine: sfn.StateMachine, task: RefreshTask): void {
    grantRunRefreshTask(stateMachine.role, task);
    stateMachine.grantTaskResponse(task.taskRole);
  }

  private createAlarms(props: ItcOrchestratorProps): cloudwatch.IAlarm[] {
    const alarms: ExecutionAlarm[] = [
      { id: 'ExecutionsFailedAlarm', nameSuffix: 'executions-failed', metric: this.metricFailed(), description: 'A run failed' },
      { id: 'ExecutionsTimedOutAlarm', nameSuffix: 'executions-timed-out', metric: this.metricTimedOut(), description: 'A run timed out' },
      { id: 'ExecutionsAbortedAlarm', nameSuffix: 'executions-aborted', metric: this.metricAborted(), description: 'A run was aborted' },
      { id: 'ExecutionsThrottledAlarm', nameSuffix: 'executions-throttled', metric: this.metricThrottled(), description: 'Step Functions throttled a run' },
    ];
    if (props.alarmOnRunsSkippedByLock) {
      alarms.push({
        id: 'RunsSkippedByLockAlarm',
        nameSuffix: 'runs-skipped-by-lock',
        metric: this.metricRunsSkippedByLock(),
        description: 'A refresh run was skipped because another run of the same views held their run lock; its views were not refreshed',
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
}
