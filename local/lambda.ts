/**
 * The one way to run a Lambda handler locally, with the Lambda runtime's context and outcome shapes.
 * Three modes, for what each caller needs:
 * - in this process: {@link InProcessFunction} for plain handlers (sample pipelines) and
 *   {@link invokeInProcess} for the bundle (handler tests: the AWS SDK stubs of the test apply);
 * - a worker thread per execution environment: {@link BundledFunction}, for the local Step Functions
 *   runner (own environment variables and module state per environment, warm reuse, timeouts);
 * - a fresh `node` process: {@link BundleProcesses}, for the bench (cold start as Lambda pays it).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { buildSync } from 'esbuild';
import { failed, FunctionConfiguration, InvocationOutcome, lambdaContext, succeeded } from './lambda-context';
import type { EnvironmentReady, EnvironmentSetup, InvocationRequest, InvocationResponse } from './lambda-environment';
import { LOCAL_ACCOUNT } from './template';

export type { FunctionConfiguration, InvocationOutcome } from './lambda-context';

/** The refresh handler exactly as it ships in the Lambda asset: `npx projen bundle` writes it. */
export const REFRESH_BUNDLE = join(__dirname, '..', 'assets', 'engine', 'refresh.lambda', 'index.js');

/** A Lambda handler run in this process, such as a sample pipeline. */
export type LocalHandler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown> | unknown;

/** A function the local runner can invoke in place of a deployed Lambda function. */
export interface LocalFunction {
  readonly configuration: FunctionConfiguration;
  invoke(event: unknown, requestId: string): Promise<InvocationOutcome>;
  /** Stops everything the function keeps running. */
  close(): Promise<void>;
}

/** A function's configuration when no template declares it: a name in {@link LOCAL_ACCOUNT}. */
export function localConfiguration(functionName: string, overrides: Partial<FunctionConfiguration> = {}): FunctionConfiguration {
  const { partition, region, accountId } = LOCAL_ACCOUNT;
  return {
    functionName,
    functionArn: `arn:${partition}:lambda:${region}:${accountId}:function:${functionName}`,
    timeoutSeconds: 900,
    memorySize: 512,
    environment: {},
    ...overrides,
  };
}

/** The variables the Lambda runtime sets for every function. */
export function runtimeEnvironment(configuration: FunctionConfiguration, region: string = LOCAL_ACCOUNT.region): Record<string, string> {
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

/** A request id in the Lambda service's format. */
export function newRequestId(): string {
  return randomUUID();
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
        return succeeded(await this.handler(structuredClone(event), lambdaContext(this.configuration, requestId, deadline)));
      } catch (err) {
        return failed(err);
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

let environmentScript: string | undefined;
/** local/lambda-environment.ts as one plain JavaScript program, compiled once per process. */
function executionEnvironmentScript(): string {
  environmentScript ??= buildSync({
    entryPoints: [join(__dirname, 'lambda-environment.ts')],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'error',
  }).outputFiles[0].text;
  return environmentScript;
}

function environmentSetup(entry: string, configuration: FunctionConfiguration, handlerName = 'handler'): EnvironmentSetup {
  const { functionName, functionArn, memorySize } = configuration;
  return { entry, handlerName, configuration: { functionName, functionArn, memorySize } };
}

export interface BundledFunctionOptions {
  /** Absolute path of the bundled entry point, e.g. {@link REFRESH_BUNDLE}. */
  readonly entry: string;
  /** The exported handler. @default 'handler' */
  readonly handlerName?: string;
  readonly region: string;
  /** Receives every line the function writes (its JSON logs and metrics). */
  readonly onLog?: (line: string) => void;
}

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
    const request: InvocationRequest = {
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
      const onMessage = (message: EnvironmentReady | InvocationResponse) => {
        if (message.type !== 'response' || message.requestId !== requestId) return;
        const { type: _type, requestId: _id, startedAtMs: _started, durationMs: _duration, cpuMs: _cpu, maxRssMiB: _rss, ...outcome } = message;
        settle(outcome as InvocationOutcome, true);
      };
      const onError = (err: Error) => settle({ ...failed(err), errorType: 'Runtime.ExitError' } as InvocationOutcome, false);
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
    const worker = new Worker(executionEnvironmentScript(), {
      eval: true,
      env: { ...runtimeEnvironment(configuration, this.options.region), ...configuration.environment },
      workerData: environmentSetup(this.options.entry, configuration, this.options.handlerName),
      stdout: true,
      stderr: true,
    });
    forwardLines([worker.stdout, worker.stderr], this.options.onLog);
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

export interface ProcessRunOptions {
  /** Absolute path of the bundle exporting `handler`. */
  readonly bundle: string;
  /** The process's entire environment; the runtime's variables ({@link runtimeEnvironment}) are added. */
  readonly environment: Record<string, string | undefined>;
  /** @default - {@link localConfiguration} of `itc-local-refresh` */
  readonly configuration?: FunctionConfiguration;
  /** @default {} */
  readonly event?: unknown;
  /** Invocations in the same process, one after another: the first is cold, the rest warm. @default 1 */
  readonly invocations?: number;
  /** The region the runtime sets (`AWS_REGION`). @default - the region of {@link LOCAL_ACCOUNT} */
  readonly region?: string;
}

export interface ProcessInvocation {
  /** Milliseconds since the process started. */
  readonly startedAtMs: number;
  readonly durationMs: number;
  /** CPU time of the handler's process during the invocation (user and system), in ms. */
  readonly cpuMs: number;
  /** The handler process's peak resident memory up to the end of the invocation, in MiB. */
  readonly maxRssMiB: number;
  readonly outcome: InvocationOutcome;
}

export interface ProcessRun {
  /** When the bundle started loading, in ms since the process started: node's own start-up. */
  readonly loadStartMs: number;
  /** How long loading (require) the bundle took. */
  readonly loadMs: number;
  readonly invocations: ProcessInvocation[];
  /** From spawning the process to its exit, measured by the parent. */
  readonly processMs: number;
}

/**
 * Runs a bundle the way Lambda starts a new execution environment: in a fresh `node` process that
 * loads it and serves the invocations. The process's logs and metrics go to a pipe that is drained
 * and dropped, so they cost what they cost in Lambda. Keeps the live processes, to end on Ctrl-C.
 */
export class BundleProcesses {
  private readonly live = new Set<ChildProcess>();

  public async run(options: ProcessRunOptions): Promise<ProcessRun> {
    const configuration = options.configuration ?? localConfiguration('itc-local-refresh');
    const setup = environmentSetup(options.bundle, configuration);
    const started = performance.now();
    const child = spawn(process.execPath, ['-e', executionEnvironmentScript(), JSON.stringify(setup)], {
      env: { ...options.environment, ...runtimeEnvironment(configuration, options.region) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.live.add(child);
    let errorTail = '';
    child.stdout!.resume();
    child.stderr!.on('data', (chunk: Buffer) => {
      errorTail = (errorTail + chunk.toString()).slice(-4000);
    });
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => resolve(code));
    }).finally(() => this.live.delete(child));

    const messages: Array<EnvironmentReady | InvocationResponse> = [];
    let delivered: (() => void) | undefined;
    child.on('message', (message: EnvironmentReady | InvocationResponse) => {
      messages.push(message);
      delivered?.();
    });
    const next = async <T extends EnvironmentReady | InvocationResponse>(type: T['type']): Promise<T> => {
      for (;;) {
        const index = messages.findIndex((message) => message.type === type);
        if (index >= 0) return messages.splice(index, 1)[0] as T;
        const arrived = new Promise<void>((resolve) => (delivered = resolve));
        const code = await Promise.race([arrived.then(() => undefined), exited]);
        if (code !== undefined) {
          throw new Error(`The handler process exited with code ${code}: ${errorTail.trim() || 'no output'}`);
        }
      }
    };

    try {
      const ready = await next<EnvironmentReady>('ready');
      const invocations: ProcessInvocation[] = [];
      for (let i = 0; i < (options.invocations ?? 1); i++) {
        const requestId = `local-${i + 1}`;
        const request: InvocationRequest = { requestId, event: options.event ?? {}, deadline: Date.now() + configuration.timeoutSeconds * 1000 };
        child.send(request);
        const { type: _type, requestId: _id, startedAtMs, durationMs, cpuMs, maxRssMiB, ...outcome } = await next<InvocationResponse>('response');
        invocations.push({ startedAtMs, durationMs, cpuMs, maxRssMiB, outcome: outcome as InvocationOutcome });
      }
      child.disconnect();
      const code = await exited;
      if (code !== 0) throw new Error(`The handler process exited with code ${code}: ${errorTail.trim() || 'no output'}`);
      return { loadStartMs: ready.loadStartMs, loadMs: ready.loadMs, invocations, processMs: performance.now() - started };
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  /** Ends every process still running (on Ctrl-C). */
  public killAll(): void {
    for (const child of this.live) {
      child.kill('SIGKILL');
    }
    this.live.clear();
  }
}

/** What {@link invokeInProcess} returned. */
export interface InProcessInvocation<T> {
  readonly result?: T;
  readonly error?: Error;
  /** Everything the handler wrote to stdout and stderr: JSON logs and EMF metrics. */
  readonly output: string;
  readonly elapsedMs: number;
}

type BundleHandler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
const loadedBundles = new Map<string, BundleHandler>();

/**
 * Invokes a bundle in this process with exactly the given handler variables set (the process's
 * others stay), capturing its output. The bundle is loaded once (under jest: once per test file,
 * through the test's module registry, so its AWS SDK stubs apply); its module state lives as in a warm
 * container. Invocations may overlap: each sets the environment before its handler reads it, which
 * the handler does synchronously at the start of a run.
 */
export async function invokeInProcess<T>(options: {
  readonly bundle: string;
  readonly event: unknown;
  /** Variables the handler reads; all of them are unset, then `environment` is set. */
  readonly handlerVariables: readonly string[];
  readonly environment: Record<string, string>;
  /** @default 60 seconds */
  readonly remainingMs?: number;
}): Promise<InProcessInvocation<T>> {
  let handle = loadedBundles.get(options.bundle);
  if (!handle) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handle = (require(options.bundle) as { handler: BundleHandler }).handler;
    loadedBundles.set(options.bundle, handle);
  }
  const saved = new Map(options.handlerVariables.map((key) => [key, process.env[key]]));
  for (const key of options.handlerVariables) delete process.env[key];
  Object.assign(process.env, options.environment);
  const capture = captureOutput();
  const started = Date.now();
  const run = handle(options.event, lambdaContext(localConfiguration('refresh'), newRequestId(), started + (options.remainingMs ?? 60_000)));
  for (const [key, value] of saved) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  try {
    const result = (await run) as T;
    return { result, output: capture.text(), elapsedMs: Date.now() - started };
  } catch (error) {
    return { error: error as Error, output: capture.text(), elapsedMs: Date.now() - started };
  } finally {
    capture.release();
  }
}

let captures = 0;
let captured: string[] = [];
let originalStdout: typeof process.stdout.write | undefined;
let originalStderr: typeof process.stderr.write | undefined;

/** Collects stdout and stderr (shared by overlapping invocations) instead of printing them. */
function captureOutput(): { text(): string; release(): void } {
  if (captures++ === 0) {
    captured = [];
    originalStdout = process.stdout.write;
    originalStderr = process.stderr.write;
    const collect = (chunk: string | Uint8Array) => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    };
    process.stdout.write = collect as typeof process.stdout.write;
    process.stderr.write = collect as typeof process.stderr.write;
  }
  const start = captured.length;
  const mine = captured;
  return {
    text: () => mine.slice(start).join(''),
    release: () => {
      if (--captures === 0) {
        process.stdout.write = originalStdout!;
        process.stderr.write = originalStderr!;
      }
    },
  };
}

/** Hands each complete, non-empty line the streams print to `onLog`. */
export function forwardLines(streams: NodeJS.ReadableStream[], onLog: (line: string) => void = () => undefined): void {
  for (const stream of streams) {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      lines.filter((line) => line.length > 0).forEach(onLog);
    });
  }
}
