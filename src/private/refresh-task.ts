import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { checkFargateSize, checkHeartbeatCoversStart, leastFargateMemory } from './fargate-checks';
import type { BoundRefreshCompute, DatabaseLogin, RefreshComputeContext, RefreshComputeStrategy } from './refresh-compute-binding';
import { checkRefreshSubnets } from './subnet-checks';
import { createTaskMetricFilters, taskMetricDimensions } from './task-metric-filters';
import { checkDuration, checkInteger } from './validation';
import type { FargateRefreshComputeOptions } from '../refresh-compute';
import { RDS_SIGNER_FILE, RefreshEnv, RefreshTaskEnv } from '../shared/contract';
import { taskRefreshState } from '../state-machine/refresh-step';

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

/** The refresh bundle, the same file the refresh function runs. */
export const REFRESH_BUNDLE_PATH = join(__dirname, '..', '..', 'assets', 'engine', 'refresh.lambda', 'index.js');
/** The RDS signer the refresh bundle loads with IAM authentication, from the file beside it. */
export const RDS_SIGNER_PATH = join(__dirname, '..', '..', 'assets', 'engine', 'refresh.lambda', RDS_SIGNER_FILE);
/** The task's entry point, which the container runs inline. */
export const REFRESH_BOOTSTRAP_PATH = join(__dirname, '..', '..', 'assets', 'task-bootstrap', 'bootstrap', 'index.js');
export const REFRESH_CONTAINER_NAME = 'refresh';

/** The task's options with every default applied. */
export interface FargateSettings {
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

/** The refresh as an ECS Fargate task, which the refresh state starts and waits for through a task token. */
export class FargateRefreshStrategy implements RefreshComputeStrategy {
  constructor(private readonly options: FargateRefreshComputeOptions) {}

  public bind(scope: Construct, context: RefreshComputeContext): BoundRefreshCompute {
    const settings = this.settings();
    checkHeartbeatCoversStart(scope, this.options.heartbeatTimeout);
    // A task with a public IP address reaches the internet from public subnets; without one, it cannot.
    if (!settings.assignPublicIp) {
      checkRefreshSubnets(context.vpc, context.vpcSubnets, 'task');
    }
    context.checkFit({
      runLimit: { prop: 'refreshCompute.runTimeout', limit: settings.runTimeout },
      runLimitReason: 'or the refresh run times out first',
    });
    const task = createRefreshTask(scope, {
      settings,
      vpc: context.vpc,
      vpcSubnets: context.vpcSubnets,
      securityGroups: context.securityGroups,
      resourcePrefix: context.resourcePrefix,
      taskRole: context.role,
      logGroup: context.logGroup ?? context.newLogGroup('RefreshTaskLogGroup', '/ecs'),
      environment: context.environment,
      bindCredentials: context.bindDatabase,
    });
    return {
      connections: new ec2.Connections({ securityGroups: task.securityGroups }),
      grantPrincipal: task.taskRole,
      taskDefinition: task.taskDefinition,
      logGroup: task.logGroup,
      metricDimensions: taskMetricDimensions(task.taskDefinition.family),
      refreshState: (stateScope, eventFromState, keptWithoutTables) => taskRefreshState(stateScope, task, eventFromState, keptWithoutTables),
      grantRun: (stateMachine: sfn.StateMachine) => {
        grantRunRefreshTask(stateMachine.role, task);
        // The task answers the state machine; nothing else may.
        stateMachine.grantTaskResponse(task.taskRole);
        if (context.encryptionKey) {
          grantAnswerEncryption(task.taskRole, context.encryptionKey, stateMachine);
        }
      },
    };
  }

  /** The options checked, with every default applied. */
  private settings(): FargateSettings {
    const options = this.options;
    const { cpu } = options;
    if (cpu !== undefined && !Token.isUnresolved(cpu) && !FARGATE_CPU.includes(cpu)) {
      throw new Error(`\`refreshCompute.cpu\` must be one of ${FARGATE_CPU.join(', ')} CPU units, got ${cpu}`);
    }
    checkInteger('refreshCompute.memoryLimitMiB', options.memoryLimitMiB, 512, 122880, 'MiB');
    for (const [name, value] of [['refreshCompute.runTimeout', options.runTimeout], ['refreshCompute.heartbeatTimeout', options.heartbeatTimeout]] as const) {
      if (value?.isUnresolved()) {
        throw new Error(`\`${name}\` cannot come from a token: the task's deadline, its state's timeout and the heartbeat interval are computed from it at synth`);
      }
    }
    checkDuration('refreshCompute.runTimeout', options.runTimeout, { unit: 'seconds', min: Duration.seconds(1), max: MAX_RUN_TIMEOUT });
    checkDuration('refreshCompute.heartbeatTimeout', options.heartbeatTimeout, { unit: 'seconds', min: Duration.seconds(1), max: MAX_RUN_TIMEOUT });
    const memoryLimitMiB = options.memoryLimitMiB ?? leastFargateMemory(cpu ?? 256) ?? 512;
    checkFargateSize(cpu ?? 256, memoryLimitMiB);
    return {
      cpu: cpu ?? 256,
      memoryLimitMiB,
      cluster: options.cluster,
      runTimeout: options.runTimeout ?? DEFAULT_RUN_TIMEOUT,
      heartbeatTimeout: options.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT,
      assignPublicIp: options.assignPublicIp ?? false,
      image: options.image,
      cpuArchitecture: options.cpuArchitecture ?? ecs.CpuArchitecture.ARM64,
    };
  }
}

interface RefreshTaskOptions {
  readonly settings: FargateSettings;
  readonly vpc: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly securityGroups?: ec2.ISecurityGroup[];
  readonly resourcePrefix?: string;
  /** The task role passed in (`refreshRole`); undefined: a new one. */
  readonly taskRole?: iam.IRole;
  readonly logGroup: logs.ILogGroup;
  /** The handler's environment: the database and refresh settings, as the function gets them. */
  readonly environment: Record<string, string>;
  /** Grants the task role what the credentials need and returns their environment. */
  readonly bindCredentials: (grantee: iam.IGrantable) => DatabaseLogin;
}

/** The refresh as an ECS Fargate task: what the state machine's refresh step starts. */
export interface RefreshTask {
  readonly cluster: ecs.ICluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly taskRole: iam.IRole;
  readonly executionRole: iam.Role;
  readonly securityGroups: ec2.ISecurityGroup[];
  /** The subnets the task runs in. */
  readonly subnetIds: string[];
  readonly logGroup: logs.ILogGroup;
  readonly settings: FargateSettings;
}

/**
 * The task definition that runs the refresh bundle on Fargate, its two roles, log group, security group and
 * (unless given) cluster. The container runs the bootstrap inline on a stock image, so nothing is built.
 */
function createRefreshTask(scope: Construct, props: RefreshTaskOptions): RefreshTask {
  const { settings } = props;
  const prefix = props.resourcePrefix;
  const ecsTasks = new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
    conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
  });
  const logGroup = props.logGroup;
  // ECS pulls the image and writes the container's output with this role; a public image needs no pull permission.
  const executionRole = new iam.Role(scope, 'RefreshTaskExecutionRole', {
    assumedBy: ecsTasks,
    description: 'Starts the refresh task of the ITC orchestrator: pulls its image and writes its log group',
  });
  // The refresh itself: reads the bundle and the credentials, answers the state machine.
  const taskRole = props.taskRole ?? new iam.Role(scope, 'RefreshTaskRole', {
    assumedBy: ecsTasks,
    description: 'Refreshes materialized views for the ITC orchestrator as an ECS task',
  });

  const taskDefinition = new ecs.FargateTaskDefinition(scope, 'RefreshTaskDefinition', {
    family: prefix ? `${prefix}-refresh` : undefined,
    cpu: settings.cpu,
    memoryLimitMiB: settings.memoryLimitMiB,
    taskRole,
    executionRole,
    runtimePlatform: { cpuArchitecture: settings.cpuArchitecture, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
  });

  const login = props.bindCredentials(taskRole);
  const bundle = new s3assets.Asset(scope, 'RefreshBundle', { path: REFRESH_BUNDLE_PATH });
  // IAM authentication signs its tokens with the signer the bundle loads from beside it; the task fetches it too.
  const signer = login.signsIamTokens ? new s3assets.Asset(scope, 'RdsSigner', { path: RDS_SIGNER_PATH }) : undefined;
  // The objects, not the whole asset bucket.
  taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['s3:GetObject'],
    resources: [bundle, ...(signer ? [signer] : [])].map((asset) => asset.bucket.arnForObjects(asset.s3ObjectKey)),
  }));

  const heartbeatIntervalMs = Math.max(1000, Math.floor(settings.heartbeatTimeout.toMilliseconds() / 5));
  const container = taskDefinition.addContainer('Refresh', {
    containerName: REFRESH_CONTAINER_NAME,
    image: settings.image ?? ecs.ContainerImage.fromRegistry(DEFAULT_REFRESH_IMAGE),
    entryPoint: ['node', '-e', readBootstrap()],
    essential: true,
    logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'refresh' }),
    environment: {
      ...login.environment,
      ...props.environment,
      [RefreshEnv.COMPUTE]: 'fargate',
      [RefreshEnv.TASK_FAMILY]: taskDefinition.family,
      [RefreshTaskEnv.BUNDLE_BUCKET]: bundle.s3BucketName,
      [RefreshTaskEnv.BUNDLE_KEY]: bundle.s3ObjectKey,
      // The task runs only code with the digests read here, at synth: not whatever the asset bucket holds later.
      [RefreshTaskEnv.BUNDLE_SHA256]: fileSha256(REFRESH_BUNDLE_PATH),
      ...(signer ? {
        [RefreshTaskEnv.SIGNER_BUCKET]: signer.s3BucketName,
        [RefreshTaskEnv.SIGNER_KEY]: signer.s3ObjectKey,
        [RefreshTaskEnv.SIGNER_SHA256]: fileSha256(RDS_SIGNER_PATH),
      } : {}),
      [RefreshTaskEnv.RUN_TIMEOUT_MS]: settings.runTimeout.toMilliseconds().toString(),
      [RefreshTaskEnv.HEARTBEAT_INTERVAL_MS]: heartbeatIntervalMs.toString(),
      [RefreshTaskEnv.EVENT]: '{}',
      ...(settings.image ? {} : { NODE_PATH: DEFAULT_IMAGE_NODE_PATH }),
    },
  });

  const securityGroups = props.securityGroups ?? [
    new ec2.SecurityGroup(scope, 'RefreshTaskSecurityGroup', {
      vpc: props.vpc,
      description: 'The refresh task of the ITC orchestrator',
      allowAllOutbound: true,
    }),
  ];
  const cluster = settings.cluster ?? new ecs.Cluster(scope, 'RefreshCluster', {
    vpc: props.vpc,
    clusterName: prefix ? `${prefix}-refresh` : undefined,
    containerInsightsV2: ecs.ContainerInsights.ENABLED,
  });

  createTaskMetricFilters(scope, logGroup, taskDefinition.family, props.environment[RefreshEnv.LINEAGE_TRANSPORT] !== undefined);

  const subnetIds = props.vpc.selectSubnets(props.vpcSubnets).subnetIds;
  return { cluster, taskDefinition, container, taskRole, executionRole, securityGroups, subnetIds, logGroup, settings };
}

/**
 * Lets the state machine start exactly this task definition revision in its cluster and hand it exactly its two
 * roles. Its answers come back through the task token, so the state machine needs no ECS events or DescribeTasks.
 */
function grantRunRefreshTask(role: iam.IRole, task: RefreshTask): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['ecs:RunTask'],
    resources: [task.taskDefinition.taskDefinitionArn],
    conditions: { ArnEquals: { 'ecs:cluster': task.cluster.clusterArn } },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['iam:PassRole'],
    resources: [task.taskRole.roleArn, task.executionRole.roleArn],
    conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
  }));
}

/** The SHA-256 of a file of the package's assets, in hex. */
function fileSha256(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch (err) {
    throw new Error(`The refresh task's code ${path} could not be read (${(err as Error).message}): run \`npx projen bundle\``);
  }
}

function readBootstrap(): string {
  try {
    return readFileSync(REFRESH_BOOTSTRAP_PATH, 'utf8').trim();
  } catch (err) {
    throw new Error(`The refresh task's bootstrap ${REFRESH_BOOTSTRAP_PATH} could not be read (${(err as Error).message}): run \`npx projen bundle\``);
  }
}

/**
 * With a customer-managed key, Step Functions encrypts the task's answer (the report, or the error and cause) with
 * the caller's permissions: without these, SendTaskSuccess fails with KmsAccessDeniedException and the execution
 * waits for the heartbeat timeout. Scoped, like the state machine role's own grant, to this state machine.
 */
function grantAnswerEncryption(taskRole: iam.IRole, key: kms.IKey, stateMachine: sfn.StateMachine): void {
  taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
    resources: [key.keyArn],
    conditions: { StringEquals: { 'kms:EncryptionContext:aws:states:stateMachineArn': stateMachine.stateMachineArn } },
  }));
}
