import { Duration, Token } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { checkDuration, checkInteger } from './validation';
import type { ItcOrchestratorProps } from '../orchestrator-props';

export const DEFAULT_MEMORY_SIZE = 256;
export const DEFAULT_REFRESH_TIMEOUT = Duration.minutes(15);
export const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);
export const DEFAULT_RUN_TIMEOUT = Duration.hours(4);
export const DEFAULT_HEARTBEAT_TIMEOUT = Duration.minutes(5);
/** A Standard state machine execution lasts at most a year. */
const MAX_RUN_TIMEOUT = Duration.days(365);
const FARGATE_CPU = [256, 512, 1024, 2048, 4096, 8192, 16384];

/**
 * The AWS Lambda Node.js 22 base image: Node.js 22 and the AWS SDK for JavaScript v3 in
 * `/var/runtime/node_modules`. A fixed tag, so every deployment runs the same image; it is a multi-arch
 * index, so both CPU architectures find their variant.
 */
export const DEFAULT_REFRESH_IMAGE = 'public.ecr.aws/lambda/nodejs:22.2025.08.04.11';
/** Where the default image keeps the AWS SDK, which the bootstrap and the refresh bundle load. */
export const DEFAULT_IMAGE_NODE_PATH = '/var/runtime/node_modules';

export interface LambdaSettings {
  readonly kind: 'lambda';
  readonly memorySize: number;
  readonly timeout: Duration;
}

export interface FargateSettings {
  readonly kind: 'fargate';
  readonly cpu: number;
  readonly memoryLimitMiB: number;
  readonly cluster?: ecs.ICluster;
  readonly runTimeout: Duration;
  readonly heartbeatTimeout: Duration;
  readonly assignPublicIp: boolean;
  /** Undefined: the default image. */
  readonly image?: ecs.ContainerImage;
  readonly cpuArchitecture: ecs.CpuArchitecture;
}

export type RefreshComputeSettings = LambdaSettings | FargateSettings;

/** The refresh compute the props ask for, with every default applied. */
export function refreshComputeSettings(props: ItcOrchestratorProps): RefreshComputeSettings {
  const fargate = props.refreshCompute?._fargate;
  if (fargate) {
    return {
      kind: 'fargate',
      cpu: fargate.cpu ?? 256,
      memoryLimitMiB: fargate.memoryLimitMiB ?? 512,
      cluster: fargate.cluster,
      runTimeout: fargate.runTimeout ?? DEFAULT_RUN_TIMEOUT,
      heartbeatTimeout: fargate.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT,
      assignPublicIp: fargate.assignPublicIp ?? false,
      image: fargate.image,
      cpuArchitecture: fargate.cpuArchitecture ?? ecs.CpuArchitecture.ARM64,
    };
  }
  const lambda = props.refreshCompute?._lambda;
  return {
    kind: 'lambda',
    memorySize: lambda?.memorySize ?? props.refreshMemorySize ?? DEFAULT_MEMORY_SIZE,
    timeout: lambda?.timeout ?? props.refreshTimeout ?? DEFAULT_REFRESH_TIMEOUT,
  };
}

/**
 * Checks the refresh compute props and returns the time a run has, with the name of the prop that sets it,
 * for the checks of the timeouts that must fit inside it.
 */
export function validateRefreshCompute(props: ItcOrchestratorProps): { limitProp: string; limit: Duration } {
  checkInteger('refreshMemorySize', props.refreshMemorySize, 128, 10240, 'MiB');
  checkDuration('refreshTimeout', props.refreshTimeout, { unit: 'seconds', min: Duration.seconds(1), max: MAX_LAMBDA_TIMEOUT });
  const compute = props.refreshCompute;
  if (compute) {
    for (const [name, value] of [['refreshMemorySize', props.refreshMemorySize], ['refreshTimeout', props.refreshTimeout]] as const) {
      if (value !== undefined) {
        const instead = name === 'refreshMemorySize' ? 'memorySize' : 'timeout';
        throw new Error(`\`${name}\` cannot be combined with \`refreshCompute\`: set \`${instead}\` of RefreshCompute.lambda() instead`);
      }
    }
  }
  const fargate = compute?._fargate;
  if (fargate) {
    // What rests on the function's embedded metrics is not there for the task.
    const noMetrics = 'the refresh task on ECS writes its logs through the awslogs driver, from which CloudWatch extracts no embedded metrics';
    const lambdaOnly: Array<[string, unknown, string]> = [
      ['alarmOnRunsSkippedByLock', props.alarmOnRunsSkippedByLock, noMetrics],
      ['freshness', props.freshness, noMetrics],
    ];
    for (const [name, value, why] of lambdaOnly) {
      if (value) {
        throw new Error(`\`${name}\` needs the refresh function (RefreshCompute.lambda()): ${why}`);
      }
    }
    const { cpu } = fargate;
    if (cpu !== undefined && !Token.isUnresolved(cpu) && !FARGATE_CPU.includes(cpu)) {
      throw new Error(`\`refreshCompute.cpu\` must be one of ${FARGATE_CPU.join(', ')} CPU units, got ${cpu}`);
    }
    checkInteger('refreshCompute.memoryLimitMiB', fargate.memoryLimitMiB, 512, 122880, 'MiB');
    for (const [name, value] of [['refreshCompute.runTimeout', fargate.runTimeout], ['refreshCompute.heartbeatTimeout', fargate.heartbeatTimeout]] as const) {
      if (value?.isUnresolved()) {
        throw new Error(`\`${name}\` cannot come from a token: the task's deadline, its state's timeout and the heartbeat interval are computed from it at synth`);
      }
    }
    checkDuration('refreshCompute.runTimeout', fargate.runTimeout, { unit: 'seconds', min: Duration.seconds(1), max: MAX_RUN_TIMEOUT });
    checkDuration('refreshCompute.heartbeatTimeout', fargate.heartbeatTimeout, { unit: 'seconds', min: Duration.seconds(1), max: MAX_RUN_TIMEOUT });
    return { limitProp: 'refreshCompute.runTimeout', limit: fargate.runTimeout ?? DEFAULT_RUN_TIMEOUT };
  }
  const lambda = compute?._lambda;
  checkInteger('refreshCompute.memorySize', lambda?.memorySize, 128, 10240, 'MiB');
  checkDuration('refreshCompute.timeout', lambda?.timeout, { unit: 'seconds', min: Duration.seconds(1), max: MAX_LAMBDA_TIMEOUT });
  if (lambda?.timeout) return { limitProp: 'refreshCompute.timeout', limit: lambda.timeout };
  return { limitProp: 'refreshTimeout', limit: props.refreshTimeout ?? DEFAULT_REFRESH_TIMEOUT };
}
