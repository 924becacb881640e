import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SFNClient, SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { DEFAULT_FETCH_TIMEOUT_MS, RDS_SIGNER_FILE, REFRESH_TASK_FAILED, RefreshErrors, RefreshTaskEnv } from '../shared/contract';

type Env = Record<string, string | undefined>;
type Handler = (event: unknown, context: Context) => Promise<unknown>;

/** Step Functions keeps at most 256 characters of an error name and 32,768 of a cause. */
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;

/** The errors of a heartbeat that mean the state machine no longer waits for this task. */
const ABANDONED = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

export interface TaskOutcome {
  /** Whether the handler returned a report; the process exits 0 then, else 1. */
  readonly succeeded: boolean;
}

/**
 * One refresh task: fetches the refresh bundle from S3, runs its handler with a deadline taken from the run
 * timeout, sends heartbeats while it runs, and answers the task token with the handler's report or error,
 * exactly as Step Functions reports a Lambda function's: the error name is the handler's, the cause the JSON
 * of `errorType`, `errorMessage` and `trace`.
 */
export async function runTask(env: Env, log: (entry: Record<string, unknown>) => void): Promise<TaskOutcome> {
  const startedAt = Date.now();
  const taskToken = required(env, RefreshTaskEnv.TASK_TOKEN);
  const sfn = new SFNClient({});
  let heartbeats: { stop(): void } | undefined;
  try {
    let outcome: { ok: true; result: unknown } | { ok: false; error: Error };
    try {
      heartbeats = startHeartbeats(sfn, taskToken, positiveInteger(env, RefreshTaskEnv.HEARTBEAT_INTERVAL_MS), log);
      const runTimeoutMs = positiveInteger(env, RefreshTaskEnv.RUN_TIMEOUT_MS);
      const event = readEvent(env);
      const handler = await loadHandler(env);
      const result = await handler(event, taskContext(startedAt + runTimeoutMs));
      outcome = { ok: true, result };
    } catch (err) {
      outcome = { ok: false, error: asError(err) };
    }
    heartbeats?.stop();
    if (outcome.ok) {
      await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(outcome.result ?? null) }));
      log({ level: 'INFO', message: 'Refresh task succeeded' });
      return { succeeded: true };
    }
    const { error } = outcome;
    const cause = JSON.stringify({ errorType: error.name, errorMessage: error.message, trace: (error.stack ?? '').split('\n') });
    const shortCause = () => JSON.stringify({ errorType: error.name, errorMessage: error.message.slice(0, MAX_CAUSE / 2), trace: [] });
    await sfn.send(new SendTaskFailureCommand({
      taskToken,
      error: error.name.slice(0, MAX_ERROR),
      cause: cause.length <= MAX_CAUSE ? cause : shortCause(),
    }));
    log({ level: 'ERROR', message: 'Refresh task failed', errorName: error.name });
    return { succeeded: false };
  } finally {
    heartbeats?.stop();
    sfn.destroy();
  }
}

/**
 * Downloads the refresh bundle named by the environment, and the RDS signer when the environment names one (IAM
 * authentication), into one directory, where the bundle finds the signer as it does in the function's asset; then
 * loads the bundle's `handler`. Each must have the SHA-256 the construct read at synth, or none of it runs; the
 * downloads together have {@link RefreshTaskEnv.FETCH_TIMEOUT_MS}.
 */
async function loadHandler(env: Env): Promise<Handler> {
  const bundle: CodeObject = {
    what: 'the refresh bundle',
    Bucket: required(env, RefreshTaskEnv.BUNDLE_BUCKET),
    Key: required(env, RefreshTaskEnv.BUNDLE_KEY),
    sha256: digest(env, RefreshTaskEnv.BUNDLE_SHA256),
  };
  const signerKey = env[RefreshTaskEnv.SIGNER_KEY];
  const signer: CodeObject | undefined = signerKey
    ? { what: 'the RDS signer', Bucket: required(env, RefreshTaskEnv.SIGNER_BUCKET), Key: signerKey, sha256: digest(env, RefreshTaskEnv.SIGNER_SHA256) }
    : undefined;
  const timeoutMs = env[RefreshTaskEnv.FETCH_TIMEOUT_MS] ? positiveInteger(env, RefreshTaskEnv.FETCH_TIMEOUT_MS) : DEFAULT_FETCH_TIMEOUT_MS;
  const s3 = new S3Client({});
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let code: string;
  let signerCode: string | undefined;
  try {
    [code, signerCode] = await Promise.all([
      fetchObject(s3, bundle, abort.signal, timeoutMs),
      signer && fetchObject(s3, signer, abort.signal, timeoutMs),
    ]);
  } finally {
    clearTimeout(timer);
    s3.destroy();
  }
  const dir = mkdtempSync(join(tmpdir(), 'itc-refresh-'));
  if (signerCode !== undefined) writeFileSync(join(dir, RDS_SIGNER_FILE), signerCode);
  const file = join(dir, 'index.js');
  writeFileSync(file, code);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const handler = (require(file) as { handler?: unknown }).handler;
  if (typeof handler !== 'function') {
    throw taskError(`The refresh bundle s3://${bundle.Bucket}/${bundle.Key} exports no function named handler`);
  }
  return handler as Handler;
}

interface CodeObject {
  readonly what: string;
  readonly Bucket: string;
  readonly Key: string;
  /** The SHA-256 it must have, lower-case hex. */
  readonly sha256: string;
}

/** Fetches code and checks its digest; it is text, and the digest is of the UTF-8 text that will run. */
async function fetchObject(s3: S3Client, { what, Bucket, Key, sha256 }: CodeObject, signal: AbortSignal, timeoutMs: number): Promise<string> {
  let code: string;
  try {
    // The body's stream is not bound to the request's signal once the headers came: the race bounds it too.
    const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    aborted.catch(() => undefined);
    code = await Promise.race([
      (async () => {
        const object = await s3.send(new GetObjectCommand({ Bucket, Key }), { abortSignal: signal });
        return object.Body!.transformToString('utf8');
      })(),
      aborted,
    ]);
  } catch (err) {
    if (signal.aborted) throw taskError(`Could not fetch ${what} s3://${Bucket}/${Key}: no complete answer within ${timeoutMs} ms`);
    throw taskError(`Could not fetch ${what} s3://${Bucket}/${Key}: ${asError(err).name}: ${asError(err).message}`);
  }
  const actual = createHash('sha256').update(code, 'utf8').digest('hex');
  if (actual !== sha256) {
    throw taskError(`Refusing to run ${what} s3://${Bucket}/${Key}: its SHA-256 is ${actual}, not the ${sha256} it had when the `
      + 'stack was synthesized; the object was changed after deployment');
  }
  return code;
}

/** A SHA-256 digest from the environment, 64 hex digits. */
function digest(env: Env, name: string): string {
  const value = required(env, name).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(value)) {
    throw taskError(`Invalid environment variable ${name}=${JSON.stringify(value.slice(0, 100))}: expected a SHA-256 digest as 64 hexadecimal digits`);
  }
  return value;
}

/**
 * What the handler reads of a Lambda context. The remaining time counts down to the run's deadline, so the
 * handler stops its refreshes and reports before the run timeout, as it does before a function's timeout.
 */
function taskContext(deadline: number): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'itc-orchestrator-refresh-task',
    functionVersion: '$LATEST',
    invokedFunctionArn: '',
    memoryLimitInMB: '',
    awsRequestId: randomUUID(),
    logGroupName: '',
    logStreamName: '',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Sends a heartbeat at once and then every interval, so the state machine's heartbeat timeout catches a task
 * that died. When the state machine no longer waits for this task (it timed out or was stopped), the process
 * ends: nobody would read its result.
 */
function startHeartbeats(sfn: SFNClient, taskToken: string, intervalMs: number, log: (entry: Record<string, unknown>) => void): { stop(): void } {
  let stopped = false;
  const beat = () => {
    if (stopped) return;
    sfn.send(new SendTaskHeartbeatCommand({ taskToken })).catch((err: unknown) => {
      const error = asError(err);
      if (stopped) return;
      if (ABANDONED.has(error.name)) {
        log({ level: 'ERROR', message: 'The state machine no longer waits for this task; stopping', errorName: error.name });
        process.exit(1);
      }
      log({ level: 'WARN', message: 'Heartbeat failed', errorName: error.name, errorMessage: error.message });
    });
  };
  beat();
  const timer = setInterval(beat, intervalMs);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/**
 * The handler's event: the JSON the state machine put into the environment (the changed tables with
 * `refresh.onlyChangedTables`), else `{}`, which the function gets too. Text that is not JSON is bad input, as
 * the handler judges an event it cannot read: `InvalidRefreshRequest`, never retried.
 */
function readEvent(env: Env): unknown {
  const raw = env[RefreshTaskEnv.EVENT] || '{}';
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    const error = new Error(`Nothing was refreshed: invalid environment variable ${RefreshTaskEnv.EVENT}=${JSON.stringify(raw.slice(0, 1_000))}: `
      + `expected the refresh event as JSON, such as {"tables": ["schema.table"]} (${asError(err).message})`);
    error.name = RefreshErrors.INVALID_REQUEST;
    throw error;
  }
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw taskError(`The environment variable ${name} must be set`);
  return value;
}

function positiveInteger(env: Env, name: string): number {
  const raw = required(env, name);
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw taskError(`Invalid environment variable ${name}=${JSON.stringify(raw)}: expected a whole number of milliseconds, at least 1`);
  }
  return value;
}

function taskError(message: string): Error {
  const error = new Error(message);
  error.name = REFRESH_TASK_FAILED;
  return error;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
