import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

/** What the orchestrator gives a refresh compute to bind with. */
export interface RefreshComputeContext {
  readonly vpc: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly securityGroups?: ec2.ISecurityGroup[];
  readonly resourcePrefix?: string;
  readonly retention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly tracingEnabled: boolean;
  /** The role the refresh runs with (`refreshRole`); undefined: the compute creates its own. */
  readonly role?: iam.IRole;
  /** The log group of the refresh (`refreshLogGroup`); undefined: the compute creates one with {@link newLogGroup}. */
  readonly logGroup?: logs.ILogGroup;
  /** The customer-managed key (`encryptionKey`), for what the compute encrypts beyond its log group. */
  readonly encryptionKey?: kms.IKey;
  /**
   * Creates the refresh's log group under `directory` (`/aws/lambda`), with the orchestrator's retention,
   * removal policy, name and key.
   */
  readonly newLogGroup: (id: string, directory: string) => logs.LogGroup;
  /** The refresh settings as the engine reads them from its environment. */
  readonly environment: Record<string, string>;
  /** Grants the compute's principal what logging in to the database needs, and returns how it logs in. */
  readonly bindDatabase: (grantee: iam.IGrantable) => DatabaseLogin;
  /**
   * Checks the orchestrator's props against what the compute allows. The compute calls it once its own options
   * are checked and before it creates any resource, so rejected props leave nothing behind.
   */
  readonly checkFit: (limits: RefreshComputeLimits) => void;
}

/** How the refresh compute logs in to the database, as its authentication bound it. */
export interface DatabaseLogin {
  /** The engine's database environment variables. */
  readonly environment: Record<string, string>;
  /** Whether the engine signs IAM tokens with the RDS signer it loads from beside its bundle, which a task must fetch too. */
  readonly signsIamTokens: boolean;
}

/** What a refresh compute allows the refresh settings and alarms. */
export interface RefreshComputeLimits {
  /** How long a refresh run may take, and the prop that sets it: the refresh timeouts must be shorter. */
  readonly runLimit: { readonly prop: string; readonly limit: Duration };
  /** What ends the refresh run first when a timeout bounded by `runLimit` is too long. */
  readonly runLimitReason: string;
}

/** A refresh compute created in the orchestrator: what the rest of the construct needs of it. */
export interface BoundRefreshCompute {
  readonly connections: ec2.Connections;
  readonly grantPrincipal: iam.IPrincipal;
  /** The refresh function, when the refresh runs as one. */
  readonly refreshFunction?: lambda.Function;
  /** The task definition, when the refresh runs as an ECS task. */
  readonly taskDefinition?: ecs.FargateTaskDefinition;
  /** The log group the refresh engine writes to. */
  readonly logGroup: logs.ILogGroup;
  /** The dimensions of the refresh engine's metrics as CloudWatch receives them from this compute. */
  readonly metricDimensions: Record<string, string>;
  /**
   * The state that runs a refresh run: the event in, the refresh report out. `keptWithoutTables` names the event's
   * fields that a refresh without the changed tables still gets (the task's full-refresh fallback).
   */
  refreshState(scope: Construct, eventFromState: boolean, keptWithoutTables?: readonly string[]): sfn.IChainable;
  /** Gives the state machine what running this compute takes beyond what the refresh state grants. */
  grantRun(stateMachine: sfn.StateMachine): void;
}

/** One kind of refresh compute, behind `RefreshCompute`. */
export interface RefreshComputeStrategy {
  bind(scope: Construct, context: RefreshComputeContext): BoundRefreshCompute;
}
