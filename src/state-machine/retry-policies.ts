import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { RefreshErrors } from '../shared/contract';

/**
 * Errors of the Lambda service itself (not of the function's code), including throttling. The
 * invocation never ran or its result was lost, so invoking again is safe and usually succeeds.
 */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
];

/** Backs off exponentially with full jitter, so throttled invocations spread out instead of colliding again. */
export const LAMBDA_SERVICE_RETRY: sfn.RetryProps = {
  errors: LAMBDA_SERVICE_ERRORS,
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 6,
  maxDelay: Duration.minutes(1),
  jitterStrategy: sfn.JitterType.FULL,
};

/**
 * Errors of the ECS service when it could not start the refresh task (throttling, no capacity for the moment).
 * The task never ran, so starting it again is safe.
 */
export const ECS_SERVICE_RETRY: sfn.RetryProps = {
  errors: ['ECS.AmazonECSException', 'ECS.ServerException', 'ECS.ThrottlingException'],
  interval: Duration.seconds(5),
  backoffRate: 2,
  maxAttempts: 4,
  maxDelay: Duration.minutes(1),
  jitterStrategy: sfn.JitterType.FULL,
};

/**
 * The refresh handler throws `TransientDatabaseError` when the database failed in a way a later
 * attempt may not meet (failover, connection reset, serialization failure). Bad input
 * (`InvalidRefreshRequest`) and failed views are never retried: another attempt would fail the same way.
 */
export const TRANSIENT_DATABASE_RETRY: sfn.RetryProps = {
  errors: [RefreshErrors.TRANSIENT],
  interval: Duration.seconds(15),
  backoffRate: 2,
  maxAttempts: 2,
};

/**
 * The refresh handler throws `RunLockLost` when the session holding the run lock ended or stopped answering
 * mid-run: a failover, a restart, a reset connection, a terminated session. The views it refreshed stay
 * refreshed; another attempt takes the lock again and refreshes the rest. The intervals outlast a Multi-AZ failover.
 */
export const RUN_LOCK_LOST_RETRY: sfn.RetryProps = {
  errors: [RefreshErrors.RUN_LOCK_LOST],
  interval: Duration.seconds(30),
  backoffRate: 2,
  maxAttempts: 3,
};

/** Listing executions is read-only, so any failure of the call may be retried. */
export const OVERLAP_CHECK_RETRY = {
  ErrorEquals: ['States.ALL'],
  IntervalSeconds: 1,
  BackoffRate: 2,
  MaxAttempts: 3,
};
