import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { BoundRefreshCompute, RefreshComputeContext, RefreshComputeStrategy } from './refresh-compute-binding';
import { RefreshFunction } from './refresh-function';
import { createRefreshRole } from './refresh-role';
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

    const prefix = context.resourcePrefix;
    const logGroup = new logs.LogGroup(scope, 'RefreshLogGroup', {
      logGroupName: prefix ? `/aws/lambda/${prefix}-refresh` : undefined,
      retention: context.retention,
      removalPolicy: context.removalPolicy,
    });
    const role = createRefreshRole(scope, 'RefreshFunctionRole', logGroup);
    // The function's bundle holds the RDS signer, whichever way it logs in.
    const login = context.bindDatabase(role);
    // aws-lambda refuses public subnets itself: a function there gets no public IP address.
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
      environment: { ...login.environment, ...context.environment },
    });

    return {
      connections: refreshFunction.connections,
      grantPrincipal: refreshFunction.grantPrincipal,
      refreshFunction,
      metricDimensions: { service: RefreshMetric.SERVICE, [RefreshMetric.FUNCTION_DIMENSION]: refreshFunction.functionName },
      refreshState: (stateScope, eventFromState) => lambdaRefreshState(stateScope, refreshFunction, eventFromState),
      // The refresh state's LambdaInvoke grants the invocation.
      grantRun: () => undefined,
    };
  }
}
