/**
 * What the Lambda runtime gives a function: its context object and outcome shapes. No imports beyond
 * types, so the execution environment (local/lambda-environment.ts) bundles it as it is.
 */
import type { Context } from 'aws-lambda';

/** The configuration of a function, as the synthesized template declares it. */
export interface FunctionConfiguration {
  readonly functionName: string;
  readonly functionArn: string;
  readonly timeoutSeconds: number;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
}

/** What one invocation returned, in the Lambda service's terms. */
export type InvocationOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly errorType: string; readonly errorMessage: string; readonly trace: string[] };

/** The context object of one invocation, whose remaining time counts down to `deadline` (epoch ms). */
export function lambdaContext(
  configuration: Pick<FunctionConfiguration, 'functionName' | 'functionArn' | 'memorySize'>,
  requestId: string,
  deadline: number,
): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: configuration.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: configuration.functionArn,
    memoryLimitInMB: String(configuration.memorySize),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${configuration.functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A successful outcome: the result goes through JSON, as a real invocation's does. */
export function succeeded(result: unknown): InvocationOutcome {
  return { ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) };
}

/** The outcome of a handler that threw. */
export function failed(err: unknown): InvocationOutcome {
  const error = err instanceof Error ? err : new Error(String(err));
  return { ok: false, errorType: error.name || 'Error', errorMessage: error.message, trace: (error.stack ?? '').split('\n') };
}
