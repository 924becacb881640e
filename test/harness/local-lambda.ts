import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Context } from 'aws-lambda';

/** A Lambda handler run in this process, such as a sample pipeline. */
export type LocalHandler = (event: unknown, context: Context) => Promise<unknown> | unknown;

/** What one invocation returned, in the Lambda service's terms. */
export type InvocationOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly errorType: string; readonly errorMessage: string; readonly trace: string[] };

/** The configuration of a function, as the synthesized template declares it. */
export interface FunctionConfiguration {
  readonly functionName: string;
  readonly functionArn: string;
  readonly timeoutSeconds: number;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
}

/** A function the harness can invoke in place of a deployed Lambda function. */
export interface LocalFunction {
  readonly configuration: FunctionConfiguration;
  invoke(event: unknown, requestId: string): Promise<InvocationOutcome>;
  /** Stops everything the function keeps running. */
  close(): Promise<void>;
}

/** The variables the Lambda runtime sets for every function. */
function runtimeEnvironment(configuration: FunctionConfiguration, region: string): Record<string, string> {
  return {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: configuration.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(configuration.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${configuration.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: 'local',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    _HANDLER: 'index.handler',
    TZ: 'UTC',
  };
}

function lambdaContext(configuration: FunctionConfiguration, requestId: string, deadline: number): Context {
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

function failure(err: unknown): InvocationOutcome {
  const error = err instanceof Error ? err : new Error(String(err));
  return { ok: false, errorType: error.name || 'Error', errorMessage: error.message, trace: (error.stack ?? '').split('\n') };
}

function timedOut(configuration: FunctionConfiguration, requestId: string): InvocationOutcome {
  return {
    ok: false,
    errorType: 'Sandbox.Timedout',
    errorMessage: `RequestId: ${requestId} Error: Task timed out after ${configuration.timeoutSeconds.toFixed(2)} seconds`,
    trace: [],
  };
}

/** A handler that runs in this process; its result goes through JSON like a real invocation's. */
export class InProcessFunction implements LocalFunction {
  constructor(
    public readonly configuration: FunctionConfiguration,
    private readonly handler: LocalHandler,
  ) {}

  public async invoke(event: unknown, requestId: string): Promise<InvocationOutcome> {
    const deadline = Date.now() + this.configuration.timeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<InvocationOutcome>((resolve) => {
      timer = setTimeout(() => resolve(timedOut(this.configuration, requestId)), this.configuration.timeoutSeconds * 1000);
    });
    const run = (async (): Promise<InvocationOutcome> => {
      try {
        const result = await this.handler(structuredClone(event), lambdaContext(this.configuration, requestId, deadline));
        return { ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) };
      } catch (err) {
        return failure(err);
      }
    })();
    try {
      return await Promise.race([run, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  public async close(): Promise<void> {}
}

export interface BundledFunctionOptions {
  /** Absolute path of the bundled entry point, e.g. `assets/refresh.lambda/index.js`. */
  readonly entry: string;
  /** The exported handler. @default 'handler' */
  readonly handlerName?: string;
  readonly region: string;
  /** Receives every line the function writes (its JSON logs and metrics). */
  readonly onLog?: (line: string) => void;
}

interface WorkerRequest {
  readonly requestId: string;
  readonly event: unknown;
  readonly deadline: number;
}

type WorkerResponse = InvocationOutcome & { readonly requestId: string };

/**
 * Runs in each execution environment: loads the bundle once (module state survives across
 * invocations, as in a warm Lambda container) and serves one invocation at a time.
 */
const EXECUTION_ENVIRONMENT = `
const { parentPort, workerData } = require('node:worker_threads');
const bundle = require(workerData.entry);
const handler = bundle[workerData.handlerName];
if (typeof handler !== 'function') {
  throw new Error(workerData.entry + ' exports no function named ' + workerData.handlerName);
}
parentPort.on('message', async (request) => {
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: workerData.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: workerData.functionArn,
    memoryLimitInMB: String(workerData.memorySize),
    awsRequestId: request.requestId,
    logGroupName: '/aws/lambda/' + workerData.functionName,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, request.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  try {
    const result = await handler(request.event, context);
    parentPort.postMessage({ requestId: request.requestId, ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) });
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    parentPort.postMessage({
      requestId: request.requestId,
      ok: false,
      errorType: error.name || 'Error',
      errorMessage: error.message,
      trace: String(error.stack || '').split('\\n'),
    });
  }
});
`;

/**
 * The real bundled handler, run like the Lambda service runs it: each execution environment is a
 * worker thread with its own module state and exactly the environment variables the template
 * gives the function (nothing leaks in from this process). An environment serves one invocation at
 * a time; concurrent invocations get fresh environments (cold starts), idle ones are reused.
 */
export class BundledFunction implements LocalFunction {
  private readonly idle: Worker[] = [];
  private readonly workers = new Set<Worker>();
  private closed = false;

  constructor(
    public readonly configuration: FunctionConfiguration,
    private readonly options: BundledFunctionOptions,
  ) {}

  public async invoke(event: unknown, requestId: string): Promise<InvocationOutcome> {
    if (this.closed) throw new Error(`${this.configuration.functionName} is closed`);
    const worker = this.idle.pop() ?? this.startEnvironment();
    const request: WorkerRequest = {
      requestId,
      event: structuredClone(event),
      deadline: Date.now() + this.configuration.timeoutSeconds * 1000,
    };
    return new Promise<InvocationOutcome>((resolve) => {
      const settle = (outcome: InvocationOutcome, reusable: boolean) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (reusable && !this.closed) {
          this.idle.push(worker);
        } else {
          void this.discard(worker);
        }
        resolve(outcome);
      };
      const onMessage = (response: WorkerResponse) => {
        if (response.requestId !== requestId) return;
        const { requestId: _, ...outcome } = response;
        settle(outcome as InvocationOutcome, true);
      };
      const onError = (err: Error) => settle({ ...failure(err), errorType: 'Runtime.ExitError' } as InvocationOutcome, false);
      const onExit = (code: number) =>
        settle({ ok: false, errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${requestId} Error: Runtime exited with error: exit status ${code}`, trace: [] }, false);
      // The service ends an invocation that outlives the function's timeout and discards its environment.
      const timer = setTimeout(() => settle(timedOut(this.configuration, requestId), false), this.configuration.timeoutSeconds * 1000);
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.postMessage(request);
    });
  }

  public async close(): Promise<void> {
    this.closed = true;
    this.idle.length = 0;
    await Promise.all([...this.workers].map((worker) => this.discard(worker)));
  }

  private startEnvironment(): Worker {
    const { configuration } = this;
    const worker = new Worker(EXECUTION_ENVIRONMENT, {
      eval: true,
      env: { ...runtimeEnvironment(configuration, this.options.region), ...configuration.environment },
      workerData: {
        entry: this.options.entry,
        handlerName: this.options.handlerName ?? 'handler',
        functionName: configuration.functionName,
        functionArn: configuration.functionArn,
        memorySize: configuration.memorySize,
      },
      stdout: true,
      stderr: true,
    });
    const onLog = this.options.onLog ?? (() => undefined);
    for (const stream of [worker.stdout, worker.stderr]) {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        lines.filter((line) => line.length > 0).forEach(onLog);
      });
    }
    // An environment that dies while idle must not be handed out again.
    worker.on('error', () => undefined);
    worker.once('exit', () => {
      this.workers.delete(worker);
      const index = this.idle.indexOf(worker);
      if (index >= 0) this.idle.splice(index, 1);
    });
    this.workers.add(worker);
    return worker;
  }

  private async discard(worker: Worker): Promise<void> {
    this.workers.delete(worker);
    const index = this.idle.indexOf(worker);
    if (index >= 0) this.idle.splice(index, 1);
    await worker.terminate();
  }
}

/** A request id in the Lambda service's format. */
export function newRequestId(): string {
  return randomUUID();
}
