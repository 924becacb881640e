import { Duration } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Construct } from 'constructs';
import { LambdaRefreshStrategy } from './private/lambda-refresh';
import type { BoundRefreshCompute, RefreshComputeContext, RefreshComputeStrategy } from './private/refresh-compute-binding';
import { FargateRefreshStrategy } from './private/refresh-task';

/** Options of {@link RefreshCompute.lambda}. */
export interface LambdaRefreshComputeOptions {
  /**
   * Memory of the refresh function, in MiB (128 to 10240).
   *
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * Timeout of the refresh function (1 second to 15 minutes): all the views of a refresh run must be
   * refreshed within it.
   *
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
}

/** Options of {@link RefreshCompute.fargate}. */
export interface FargateRefreshComputeOptions {
  /**
   * CPU units of the task: 256, 512, 1024, 2048, 4096, 8192 or 16384 (1024 is one vCPU). The
   * refresh itself runs in PostgreSQL; the task only waits for it.
   *
   * @default 256
   */
  readonly cpu?: number;

  /**
   * Memory of the task, in MiB; it must suit `cpu` as Fargate's task size table lists (512 to 2048 for 256 CPU
   * units, 1024 to 4096 for 512, ...), which synth checks.
   *
   * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
   * @default - the least memory `cpu` allows: 512 for 256 CPU units, 1024 for 512, 2048 for 1024, ...
   */
  readonly memoryLimitMiB?: number;

  /**
   * The ECS cluster the task runs in.
   *
   * @default - a new cluster in the orchestrator's VPC
   */
  readonly cluster?: ecs.ICluster;

  /**
   * How long one refresh run may take, in whole seconds, counted from the task's start. Refreshes still
   * running then are stopped, and the refresh run fails naming them; views not started are reported as such.
   *
   * @default Duration.hours(4)
   */
  readonly runTimeout?: Duration;

  /**
   * How long the state machine waits for a heartbeat of the task before it fails the execution with
   * `States.HeartbeatTimeout`, in whole seconds. The task sends one at start and then five per
   * heartbeat timeout, so a task that died is found within this time. The first heartbeat comes
   * once the task has started, so this must also cover starting it (pulling the image): under 2 minutes, synth
   * warns.
   *
   * @default Duration.minutes(5)
   */
  readonly heartbeatTimeout?: Duration;

  /**
   * Whether the task gets a public IP address. Needed only in public subnets without NAT, where it
   * is the task's way out to ECR Public, S3, Secrets Manager, Step Functions and CloudWatch Logs.
   *
   * @default false
   */
  readonly assignPublicIp?: boolean;

  /**
   * The container image: any image with Node.js 22 or later as `node` on the PATH and the AWS SDK
   * for JavaScript v3 (`@aws-sdk/client-s3`, `client-sfn`, `client-secrets-manager`, and `client-datazone` for
   * `LineageTransport.dataZone`) that Node.js resolves. The construct replaces its entry point.
   *
   * @default - the AWS Lambda Node.js 22 base image from ECR Public, pinned to a fixed tag
   */
  readonly image?: ecs.ContainerImage;

  /**
   * The CPU architecture of the task; the image must have a variant for it.
   *
   * @default ecs.CpuArchitecture.ARM64
   */
  readonly cpuArchitecture?: ecs.CpuArchitecture;
}

/**
 * What runs the refresh: a Lambda function (the default), or an ECS Fargate task for refresh runs longer
 * than Lambda's 15 minutes. Both run the same refresh code with the same settings, report and
 * error names, so the state machine's retries, catches and alarms apply to both.
 *
 * Only the factories create a `RefreshCompute`; the class cannot be subclassed.
 *
 * @example
 * declare const vpc: ec2.IVpc;
 * declare const instance: rds.DatabaseInstance;
 * declare const demand: lambda.IFunction;
 *
 * new ItcOrchestrator(this, 'Orchestrator', {
 *   vpc,
 *   database: OrchestratorDatabase.fromInstance(instance, { databaseName: 'warehouse' }),
 *   pipelines: [Pipeline.fromFunction('Demand', demand)],
 *   refreshCompute: RefreshCompute.fargate({ runTimeout: Duration.hours(3) }),
 * });
 */
export class RefreshCompute {
  /** The refresh runs in a Lambda function, at most 15 minutes per refresh run. */
  public static lambda(options: LambdaRefreshComputeOptions = {}): RefreshCompute {
    return new RefreshCompute(new LambdaRefreshStrategy(options));
  }

  /**
   * The refresh runs as an ECS Fargate task that the state machine starts and waits for, as long
   * as `runTimeout` allows. No Docker is needed to synthesize or deploy it.
   */
  public static fargate(options: FargateRefreshComputeOptions = {}): RefreshCompute {
    return new RefreshCompute(new FargateRefreshStrategy(options));
  }

  private constructor(private readonly strategy: RefreshComputeStrategy) {}

  /**
   * Checks the options, creates the function or the task definition under `scope`, and returns what the
   * orchestrator needs of it.
   *
   * @internal
   */
  public _bind(scope: Construct, context: RefreshComputeContext): BoundRefreshCompute {
    return this.strategy.bind(scope, context);
  }
}
