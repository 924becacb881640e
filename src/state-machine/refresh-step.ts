import { Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ECS_SERVICE_RETRY, LAMBDA_SERVICE_RETRY, RUN_LOCK_LOST_RETRY, TRANSIENT_DATABASE_RETRY } from './retry-policies';
import type { RefreshTask } from '../private/refresh-task';
import { RefreshEvent, RefreshTaskEnv } from '../shared/contract';

export const REFRESH_STATE_NAME = 'Refresh materialized views';

/**
 * Time the refresh task may take to start (placement, image pull) before its `runTimeout` counts; the refresh
 * state's own timeout is `runTimeout` plus this.
 */
export const TASK_START_ALLOWANCE = Duration.minutes(15);

/*
 * The refresh step of the state machine: the state that runs after every pipeline succeeded and whose output is
 * the {@link RefreshReport}. Each refresh compute builds its own: one invocation of the refresh function or one
 * run of the refresh task, which plans and refreshes all views itself. The rest of the state machine depends only
 * on this step's contract (one chain in, the report out, the engine's error names), so another strategy, such as
 * a Map state that refreshes each view in its own invocation, can replace it without changing the state machine
 * around it.
 */

/** Invokes the refresh function; with `eventFromState`, the states before it built the event (the changed tables). */
export function lambdaRefreshState(scope: Construct, fn: lambda.IFunction, eventFromState = false): sfn.IChainable {
  const event: RefreshEvent = {};
  const refresh = new tasks.LambdaInvoke(scope, REFRESH_STATE_NAME, {
    lambdaFunction: fn,
    payload: eventFromState ? sfn.TaskInput.fromJsonPathAt('$') : sfn.TaskInput.fromObject(event),
    retryOnServiceExceptions: false,
    outputPath: '$.Payload',
    comment: 'Refreshes the materialized views; the output is the refresh report.',
  });
  refresh.addRetry(LAMBDA_SERVICE_RETRY);
  refresh.addRetry(TRANSIENT_DATABASE_RETRY);
  refresh.addRetry(RUN_LOCK_LOST_RETRY);
  return refresh;
}

/**
 * Starts the refresh task and waits for its answer to the task token: the report (SendTaskSuccess) or the
 * handler's error name and cause (SendTaskFailure), so retries and error names are the function's. A task that
 * stops sending heartbeats fails the step with `States.HeartbeatTimeout`.
 *
 * With `eventFromState`, the task gets the state's input, the event the function would get as its payload, as
 * JSON in {@link RefreshTaskEnv.EVENT}; otherwise that variable keeps the task definition's `{}`. Should ECS
 * refuse that override for its length, the task starts again with every view of the configured set, and with the
 * event's `keptWithoutTables` fields; its report gives the reason.
 *
 * A custom state rather than `EcsRunTask`, so the call names this task definition revision exactly and the
 * state machine's role gets only `ecs:RunTask` on it (see `grantRunRefreshTask`).
 */
export function taskRefreshState(
  scope: Construct,
  task: RefreshTask,
  eventFromState = false,
  keptWithoutTables: readonly string[] = [],
): sfn.IChainable {
  const token = { 'Name': RefreshTaskEnv.TASK_TOKEN, 'Value.$': '$$.Task.Token' };
  const event = { 'Name': RefreshTaskEnv.EVENT, 'Value.$': 'States.JsonToString($)' };
  if (!eventFromState) return runRefreshTask(scope, REFRESH_STATE_NAME, task, [token]);

  // ECS limits a RunTask call's overrides to 8,192 characters: a long list of changed tables does not fit. The
  // state then runs the task again without the list, refreshing every view and saying why: never a failed run,
  // never a missed view. Which name ECS gives the refusal is not documented, so each it could give is caught
  // (after the retries of ECS_SERVICE_RETRY); another refusal fails the second start the same way.
  const refresh = runRefreshTask(scope, REFRESH_STATE_NAME, task, [token, event]);
  const everything = new sfn.Pass(scope, CHANGED_TABLES_TOO_LONG_STATE_NAME, {
    comment: 'The changed tables did not fit in the task\'s container override, so every view is refreshed.',
    parameters: {
      'fullRefreshReason.$': `States.Format('${OVERRIDE_REFUSED_REASON}', $.overrideRefused.Error)`,
      // What else the event carries (the execution, for lineage) reaches the second start too.
      ...Object.fromEntries(keptWithoutTables.map((field) => [`${field}.$`, `$.${field}`])),
    },
  });
  const fallback = runRefreshTask(scope, REFRESH_EVERYTHING_STATE_NAME, task, [token, event]);
  refresh.addCatch(everything.next(fallback), { errors: [...OVERRIDE_REFUSED_ERRORS], resultPath: '$.overrideRefused' });
  return sfn.Chain.custom(refresh, [refresh, fallback], fallback);
}

/** The state that notes why every view is refreshed when the changed tables did not reach the task. */
export const CHANGED_TABLES_TOO_LONG_STATE_NAME = 'Changed tables too long for the task';
/** The refresh task's second start, with every view, when the changed tables did not reach it. */
export const REFRESH_EVERYTHING_STATE_NAME = 'Refresh every materialized view';
/** The errors a RunTask call refused for its overrides may have. */
export const OVERRIDE_REFUSED_ERRORS = ['ECS.AmazonECSException', 'ECS.InvalidParameterException', 'ECS.ClientException'] as const;
const OVERRIDE_REFUSED_REASON = 'the changed tables did not reach the refresh task: ECS refused its container override ({}), '
  + 'which it limits to 8192 characters; every view of the configured set is refreshed';

/** One start of the refresh task, with these environment overrides, and the retries of the refresh step. */
function runRefreshTask(scope: Construct, id: string, task: RefreshTask, environment: Array<{ [key: string]: string }>): sfn.CustomState {
  const { settings } = task;
  const refresh = new sfn.CustomState(scope, id, {
    stateJson: {
      Type: 'Task',
      Comment: 'Runs the refresh as an ECS task and waits for its report; the output is the refresh report.',
      Resource: `arn:${Stack.of(scope).partition}:states:::ecs:runTask.waitForTaskToken`,
      Parameters: {
        Cluster: task.cluster.clusterArn,
        TaskDefinition: task.taskDefinition.taskDefinitionArn,
        LaunchType: 'FARGATE',
        PlatformVersion: 'LATEST',
        NetworkConfiguration: {
          AwsvpcConfiguration: {
            Subnets: task.subnetIds,
            SecurityGroups: task.securityGroups.map((group) => group.securityGroupId),
            AssignPublicIp: settings.assignPublicIp ? 'ENABLED' : 'DISABLED',
          },
        },
        Overrides: {
          ContainerOverrides: [{
            Name: task.container.containerName,
            Environment: environment,
          }],
        },
      },
      HeartbeatSeconds: settings.heartbeatTimeout.toSeconds(),
      TimeoutSeconds: settings.runTimeout.plus(TASK_START_ALLOWANCE).toSeconds(),
    },
  });
  refresh.addRetry(ECS_SERVICE_RETRY);
  refresh.addRetry(TRANSIENT_DATABASE_RETRY);
  refresh.addRetry(RUN_LOCK_LOST_RETRY);
  return refresh;
}
