import { Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ECS_SERVICE_RETRY, LAMBDA_SERVICE_RETRY, TRANSIENT_DATABASE_RETRY } from './retry-policies';
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
  return refresh;
}

/**
 * Starts the refresh task and waits for its answer to the task token: the report (SendTaskSuccess) or the
 * handler's error name and cause (SendTaskFailure), so retries and error names are the function's. A task that
 * stops sending heartbeats fails the step with `States.HeartbeatTimeout`.
 *
 * With `eventFromState`, the task gets the state's input, the event the function would get as its payload, as
 * JSON in {@link RefreshTaskEnv.EVENT}; otherwise that variable keeps the task definition's `{}`.
 *
 * A custom state rather than `EcsRunTask`, so the call names this task definition revision exactly and the
 * state machine's role gets only `ecs:RunTask` on it (see `grantRunRefreshTask`).
 */
export function taskRefreshState(scope: Construct, task: RefreshTask, eventFromState = false): sfn.IChainable {
  const { settings } = task;
  const environment: Array<{ [key: string]: string }> = [{ 'Name': RefreshTaskEnv.TASK_TOKEN, 'Value.$': '$$.Task.Token' }];
  if (eventFromState) environment.push({ 'Name': RefreshTaskEnv.EVENT, 'Value.$': 'States.JsonToString($)' });
  const refresh = new sfn.CustomState(scope, REFRESH_STATE_NAME, {
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
  return refresh;
}
