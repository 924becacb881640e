import { Stack } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { LAMBDA_SERVICE_ERRORS, LAMBDA_SERVICE_RETRY } from './retry-policies';

/*
 * A pipeline's task is retried only for errors of the service that ran it, never for the pipeline's own failure
 * (`States.TaskFailed` of a failed job, a function's error): those errors mean the work did not start or its
 * result was lost, so starting it again is safe. Every integration backs off as the Lambda branches always have.
 */

/** Glue refused to start the run: too many concurrent runs, throttling, or its own fault. */
export const GLUE_TRANSIENT_ERRORS = [
  'Glue.ConcurrentRunsExceededException',
  'Glue.ThrottlingException',
  'Glue.InternalServiceException',
  'Glue.OperationTimeoutException',
];

/** ECS could not place or start the task (no capacity for the moment, throttling, its own fault). */
export const ECS_TRANSIENT_ERRORS = ['ECS.AmazonECSException', 'ECS.ServerException', 'ECS.ThrottlingException'];

/** Step Functions could not start the nested execution: too many open executions, or throttling. */
export const NESTED_EXECUTION_TRANSIENT_ERRORS = [
  'StepFunctions.ExecutionLimitExceededException',
  'StepFunctions.ThrottlingException',
  'StepFunctions.SdkClientException',
];

/** Batch could not take the job for the moment. */
export const BATCH_TRANSIENT_ERRORS = ['Batch.ServerException', 'Batch.TooManyRequestsException'];

/** For any other service, the errors AWS services share for throttling and their own faults, with the service's prefix. */
export function genericTransientErrors(prefix: string): string[] {
  return ['ThrottlingException', 'TooManyRequestsException', 'ServiceUnavailableException', 'InternalServerException', 'SdkClientException']
    .map((error) => `${prefix}.${error}`);
}

/** The integration a task state calls, e.g. `glue:startJobRun.sync` or `aws-sdk:emrserverless:startJobRun`. */
export function integrationOf(task: sfn.TaskStateBase): string {
  const resource = Stack.of(task).resolve(task.toStateJson()).Resource;
  const text = flattenJoin(resource);
  const match = /:states:::(.+)$/.exec(text);
  // A bare function ARN as the resource is a Lambda invocation too.
  return match ? match[1] : /:lambda:/.test(text) ? 'lambda:invoke' : text;
}

/** The errors a pipeline's task is retried for, by the integration it calls. */
export function transientErrorsOf(integration: string): string[] {
  const [service, second] = integration.split(':');
  switch (service) {
    case 'lambda': return LAMBDA_SERVICE_ERRORS;
    case 'glue': return GLUE_TRANSIENT_ERRORS;
    case 'ecs': return ECS_TRANSIENT_ERRORS;
    case 'states': return NESTED_EXECUTION_TRANSIENT_ERRORS;
    case 'batch': return BATCH_TRANSIENT_ERRORS;
    // SDK integrations name their errors after the service, e.g. `Emrserverless.ThrottlingException`.
    case 'aws-sdk': return genericTransientErrors(pascalCase(second ?? ''));
    default: return genericTransientErrors(pascalCase(service));
  }
}

/** Today's backoff with full jitter, for the given errors. */
export function pipelineRetry(errors: string[]): sfn.RetryProps {
  return { ...LAMBDA_SERVICE_RETRY, errors };
}

function pascalCase(service: string): string {
  return service.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('');
}

function flattenJoin(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] } | undefined)?.['Fn::Join'];
  if (join) return join[1].map((part) => (typeof part === 'string' ? part : '')).join(join[0]);
  return '';
}
