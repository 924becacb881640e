/**
 * Runs inside a fresh `node` process, as a Lambda runtime would: loads the bundled handler, invokes
 * it with a Lambda-like context, and writes timings and reports to a file. The bench compiles this
 * file to plain JavaScript first, so the process pays no TypeScript cost.
 *
 * Times are in milliseconds since the process started (`performance.timeOrigin`).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Context } from 'aws-lambda';
import type { RefreshEvent, RefreshReport } from '../src/refresh/contract';

/** What the bench passes to the process, as JSON in `BENCH_RUNNER_INPUT`. */
export interface RunnerInput {
  readonly bundle: string;
  readonly resultFile: string;
  readonly event: RefreshEvent;
  readonly invocations: number;
  /** What `getRemainingTimeInMillis()` starts from on each invocation. */
  readonly timeoutMs: number;
}

export interface RunnerInvocation {
  readonly startedAtMs: number;
  readonly durationMs: number;
  readonly report?: RefreshReport;
  readonly error?: { readonly name: string; readonly message: string };
}

export interface RunnerResult {
  /** When the handler module started loading: node's own start-up. */
  readonly loadStartMs: number;
  /** How long loading (require) the bundle took. */
  readonly loadMs: number;
  readonly invocations: RunnerInvocation[];
}

export const RUNNER_INPUT_ENV = 'BENCH_RUNNER_INPUT';

type RefreshHandler = (event: RefreshEvent, context: Context) => Promise<RefreshReport>;

function lambdaContext(requestId: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'itc-bench-refresh';
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function run(input: RunnerInput): Promise<RunnerResult> {
  const loadStartMs = performance.now();
  // Lambda's runtime require()s a CommonJS handler; so does this.
  const { handler } = createRequire(__filename)(input.bundle) as { handler: RefreshHandler };
  const loadMs = performance.now() - loadStartMs;

  const invocations: RunnerInvocation[] = [];
  for (let i = 0; i < input.invocations; i++) {
    const startedAtMs = performance.now();
    try {
      const report = await handler(input.event, lambdaContext(`bench-${i + 1}`, input.timeoutMs));
      invocations.push({ startedAtMs, durationMs: performance.now() - startedAtMs, report });
    } catch (err) {
      const error = err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
      invocations.push({ startedAtMs, durationMs: performance.now() - startedAtMs, error });
    }
  }
  return { loadStartMs, loadMs, invocations };
}

const rawInput = process.env[RUNNER_INPUT_ENV];
if (rawInput) {
  const input = JSON.parse(rawInput) as RunnerInput;
  run(input).then(
    (result) => {
      writeFileSync(input.resultFile, JSON.stringify(result));
      // The handler keeps its connections for warm invocations; this process is done.
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
