/**
 * One execution environment of a bundled function, in a worker thread or a fresh `node` process, as
 * the Lambda runtime runs it: loads (require()s) the bundle once, so module state survives across
 * invocations as in a warm container, and serves one invocation at a time. local/lambda.ts compiles
 * this file with esbuild to plain JavaScript, so an environment pays no TypeScript cost.
 *
 * Times are in milliseconds since the environment started (`performance.timeOrigin`).
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import { failed, FunctionConfiguration, InvocationOutcome, lambdaContext, succeeded } from './lambda-context';

/** What the environment is started with: workerData in a worker, the last argument in a process. */
export interface EnvironmentSetup {
  /** Absolute path of the bundled entry point. */
  readonly entry: string;
  readonly handlerName: string;
  readonly configuration: Pick<FunctionConfiguration, 'functionName' | 'functionArn' | 'memorySize'>;
}

export interface InvocationRequest {
  readonly requestId: string;
  readonly event: unknown;
  /** When the invocation times out, in epoch milliseconds. */
  readonly deadline: number;
}

/** Sent once the bundle is loaded. */
export interface EnvironmentReady {
  readonly type: 'ready';
  /** When the bundle started loading: the runtime's own start-up. */
  readonly loadStartMs: number;
  /** How long loading the bundle took. */
  readonly loadMs: number;
}

export type InvocationResponse = InvocationOutcome & {
  readonly type: 'response';
  readonly requestId: string;
  readonly startedAtMs: number;
  readonly durationMs: number;
  /** CPU time of the process (user and system) during the invocation, in ms. */
  readonly cpuMs: number;
  /** The process's peak resident memory so far, in MiB. */
  readonly maxRssMiB: number;
};

type Handler = (event: unknown, context: Context) => unknown;

type Send = (message: EnvironmentReady | InvocationResponse) => void;

function serve(setup: EnvironmentSetup, send: Send): (request: InvocationRequest) => Promise<void> {
  const loadStartMs = performance.now();
  // The Lambda runtime require()s a CommonJS handler; so does this.
  const bundle = createRequire(setup.entry)(setup.entry) as Record<string, unknown>;
  const handler = bundle[setup.handlerName];
  if (typeof handler !== 'function') {
    throw new Error(`${setup.entry} exports no function named ${setup.handlerName}`);
  }
  send({ type: 'ready', loadStartMs, loadMs: performance.now() - loadStartMs });
  return async (request) => {
    const startedAtMs = performance.now();
    const cpuAtStart = process.cpuUsage();
    let outcome: InvocationOutcome;
    try {
      outcome = succeeded(await (handler as Handler)(request.event, lambdaContext(setup.configuration, request.requestId, request.deadline)));
    } catch (err) {
      outcome = failed(err);
    }
    const cpu = process.cpuUsage(cpuAtStart);
    send({
      type: 'response',
      requestId: request.requestId,
      startedAtMs,
      durationMs: performance.now() - startedAtMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      ...outcome,
    });
  };
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const invoke = serve(workerData as EnvironmentSetup, (message) => port.postMessage(message));
  port.on('message', (request: InvocationRequest) => void invoke(request));
} else if (process.send) {
  const setup = JSON.parse(process.argv[process.argv.length - 1]) as EnvironmentSetup;
  const invoke = serve(setup, (message) => process.send!(message));
  process.on('message', (request: InvocationRequest) => void invoke(request));
  // The handler keeps its connections for warm invocations; the process is done when its parent lets go.
  process.on('disconnect', () => process.exit(0));
}
