import { Annotations, Duration, Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** The memory each Fargate CPU size allows, in MiB: from, to, in steps of. */
const FARGATE_MEMORY: Record<number, { from: number; to: number; step: number }> = {
  256: { from: 512, to: 2048, step: 512 },
  512: { from: 1024, to: 4096, step: 1024 },
  1024: { from: 2048, to: 8192, step: 1024 },
  2048: { from: 4096, to: 16384, step: 1024 },
  4096: { from: 8192, to: 30720, step: 1024 },
  8192: { from: 16384, to: 61440, step: 4096 },
  16384: { from: 32768, to: 122880, step: 8192 },
};

/**
 * Fargate starts a task only with a memory size its CPU size allows; any other pair fails when the task definition
 * deploys. 256 CPU units take 512, 1024 or 2048 MiB (512 is listed as 0.5 GB, 1024 and 2048 in whole GB).
 *
 * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
 */
/** The least memory Fargate allows with the CPU size, or undefined for a CPU size from a token or not in the table. */
export function leastFargateMemory(cpu: number): number | undefined {
  return Token.isUnresolved(cpu) ? undefined : FARGATE_MEMORY[cpu]?.from;
}

export function checkFargateSize(cpu: number, memoryLimitMiB: number): void {
  if (Token.isUnresolved(cpu) || Token.isUnresolved(memoryLimitMiB)) {
    return;
  }
  const allowed = FARGATE_MEMORY[cpu];
  if (!allowed) {
    return;
  }
  const { from, to, step } = allowed;
  if (memoryLimitMiB >= from && memoryLimitMiB <= to && (memoryLimitMiB - from) % step === 0) {
    return;
  }
  throw new Error(
    `\`refreshCompute.memoryLimitMiB\` must suit \`refreshCompute.cpu\` (${cpu} CPU units) as Fargate allows: ` +
      `${from} to ${to} MiB in steps of ${step} MiB, got ${memoryLimitMiB} MiB. Change either, as the Fargate task size table lists them`,
  );
}

/**
 * The shortest heartbeat timeout: the first heartbeat comes once ECS has placed the task, pulled its image (the
 * default image is a few hundred MB) and started Node.js, which takes about a minute and more on a cold host.
 */
export const MIN_HEARTBEAT_TIMEOUT = Duration.minutes(2);

/**
 * A warning, not an error: how long a start takes depends on the image and the host, outside the app, and a local
 * run starts its task at once.
 */
export function checkHeartbeatCoversStart(scope: IConstruct, heartbeatTimeout: Duration | undefined): void {
  if (heartbeatTimeout === undefined || heartbeatTimeout.isUnresolved()) {
    return;
  }
  if (heartbeatTimeout.toMilliseconds({ integral: false }) < MIN_HEARTBEAT_TIMEOUT.toMilliseconds()) {
    Annotations.of(scope).addWarningV2('itc-orchestrator:heartbeatShorterThanTaskStart',
      `\`refreshCompute.heartbeatTimeout\` should be at least ${MIN_HEARTBEAT_TIMEOUT.toHumanString()}: the first heartbeat ` +
        'comes only once the task has started (placed, its image pulled, Node.js running), so a shorter timeout fails ' +
        `runs whose task is merely slow to start, got ${heartbeatTimeout.toHumanString()}`);
  }
}
