import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { BoundRefreshCompute, RefreshComputeContext, RefreshComputeStrategy } from './refresh-compute-binding';
import { RefreshFunction } from './refresh-function';
import { addRefreshFunctionStatements, createRefreshRole } from './refresh-role';
import { checkRefreshSubnets } from './subnet-checks';
import { checkDuration, checkInteger } from './validation';
import type { LambdaRefreshComputeOptions } from '../refresh-compute';
import { RefreshMetric } from '../shared/contract';
import { lambdaRefreshState } from '../state-machine/refresh-step';

export const DEFAULT_MEMORY_SIZE = 256;
export const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);

/** The refresh as a Lambda function in the VPC, which the refresh state invokes. */
export class LambdaRefreshStrategy implements RefreshComputeStrategy {
  constructor(private readonly options: LambdaRefreshComputeOptions) {}

  public bind(scope: Construct, context: RefreshComputeContext): BoundRefreshCompute {
    const { memorySize = DEFAULT_MEMORY_SIZE, timeout = MAX_LAMBDA_TIMEOUT } = this.options;
    checkInteger('refreshCompute.memorySize', memorySize, 128, 10240, 'MiB');
    checkDuration('refreshCompute.timeout', timeout, { unit: 'seconds', min: Duration.seconds(1), max: MAX_LAMBDA_TIMEOUT });
    context.checkFit({ runLimit: { prop: 'refreshCompute.timeout', limit: timeout }, runLimitReason: 'or the function times out first' });

    // Before aws-lambda's own check, whose advice (`allowPublicSubnet`) the orchestrator does not offer.
    checkRefreshSubnets(context.vpc, context.vpcSubnets, 'function');

    const prefix = context.resourcePrefix;
    const logGroup = context.logGroup ?? context.newLogGroup('RefreshLogGroup', '/aws/lambda');
    const role = context.role
      ? addRefreshFunctionStatements(context.role, logGroup)
      : createRefreshRole(scope, 'RefreshFunctionRole', logGroup);
    // The function's bundle holds the RDS signer, whichever way it logs in.
    const login = context.bindDatabase(role);
    const refreshFunction = new RefreshFunction(scope, 'RefreshFunction', {
      functionName: prefix ? `${prefix}-refresh` : undefined,
      description: 'Refreshes the PostgreSQL materialized views after the pipelines ran',
      role,
      vpc: context.vpc,
      vpcSubnets: context.vpcSubnets,
      securityGroups: context.securityGroups,
      memorySize,
      timeout,
      architecture: lambda.Architecture.ARM_64,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: context.tracingEnabled ? lambda.Tracing.ACTIVE : undefined,
      // Lambda decrypts the environment through a grant it creates when the function is deployed.
      environmentEncryption: context.encryptionKey,
      environment: { ...login.environment, ...context.environment },
    });

    return {
      connections: refreshFunction.connections,
      grantPrincipal: refreshFunction.grantPrincipal,
      refreshFunction,
      logGroup,
      metricDimensions: {
        [RefreshMetric.SERVICE_DIMENSION]: RefreshMetric.SERVICE,
        [RefreshMetric.FUNCTION_DIMENSION]: refreshFunction.functionName,
      },
      refreshState: (stateScope, eventFromState) => lambdaRefreshState(stateScope, refreshFunction, eventFromState),
      // The refresh state's LambdaInvoke grants the invocation.
      grantRun: () => undefined,
    };
  }
}
