import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { Client, ClientConfig } from 'pg';
import type { RefreshEvent, RefreshReport } from '../../src/refresh/contract';
import { RefreshEnv } from '../../src/refresh/contract';
import { runSql } from '../support/test-database';

/** The bundled handler, exactly as it ships in the Lambda asset. */
export const BUNDLE = join(__dirname, '..', '..', 'assets', 'refresh.lambda', 'index.js');

type Handler = (event: RefreshEvent, context: Context) => Promise<RefreshReport>;

let handler: Handler | undefined;
/** Loads the bundle once per test file; its module state (the cached secret) lives as in a warm container. */
export async function bundledHandler(): Promise<Handler> {
  handler ??= jest.requireActual<{ handler: Handler }>(BUNDLE).handler;
  return handler;
}

export function fakeContext(remainingMs = 60_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    functionName: 'refresh',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:refresh',
    memoryLimitInMB: '256',
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: '/aws/lambda/refresh',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The libpq variables of local mode, pointing at a test database, with TLS off. */
export function localModeEnv(db: ClientConfig): Record<string, string> {
  return {
    PGHOST: String(db.host),
    PGPORT: String(db.port),
    PGDATABASE: String(db.database),
    PGUSER: String(db.user),
    PGPASSWORD: String(db.password),
    PGSSLMODE: 'disable',
  };
}

/** Every variable the handler reads, so one test's settings never leak into the next. */
const HANDLER_ENV = [...Object.values(RefreshEnv), 'PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'PGSSLMODE'];

export interface Invocation {
  readonly report?: RefreshReport;
  readonly error?: Error;
  /** Everything the handler wrote to stdout and stderr: JSON logs and EMF metrics. */
  readonly output: string;
  readonly elapsedMs: number;
}

/**
 * Invokes the bundled handler with exactly the given environment variables set (besides the process's own),
 * capturing its output. Invocations may overlap: each sets the environment before its handler reads it.
 */
export async function invoke(event: RefreshEvent | unknown, env: Record<string, string>, remainingMs?: number): Promise<Invocation> {
  const handle = await bundledHandler();
  const saved = new Map(HANDLER_ENV.map((key) => [key, process.env[key]]));
  for (const key of HANDLER_ENV) delete process.env[key];
  Object.assign(process.env, env);
  const capture = captureOutput();
  const started = Date.now();
  const run = handle(event as RefreshEvent, fakeContext(remainingMs));
  // The handler reads the environment synchronously at the start of the run, so it can be restored now.
  for (const [key, value] of saved) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  try {
    const report = await run;
    return { report, output: capture.text(), elapsedMs: Date.now() - started };
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

/** The JSON log lines of an invocation's output. */
export function logLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function viewOf(report: RefreshReport, name: string) {
  const view = report.views.find((entry) => entry.view === name);
  if (!view) throw new Error(`${name} is not in the report: ${report.views.map((entry) => entry.view).join(', ')}`);
  return view;
}

/** When the view's refresh ended, in epoch milliseconds. */
export function endOf(report: RefreshReport, name: string): number {
  const view = viewOf(report, name);
  return Date.parse(view.startedAt!) + view.durationMs;
}

export function startOf(report: RefreshReport, name: string): number {
  return Date.parse(viewOf(report, name).startedAt!);
}

/** A connection for a test's own statements (readers, lock holders), closed with `end()`. */
export async function connect(db: ClientConfig): Promise<Client> {
  const client = new Client(db);
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * SQL for a function that sleeps for the seconds set in `knobs` under a tag, then returns 0; views call it
 * to make a refresh slow on demand. Views are created while every knob is 0.
 */
export const SLOW_FUNCTION_SQL = `
  CREATE TABLE knobs (tag text PRIMARY KEY, seconds float8 NOT NULL DEFAULT 0, divisor int NOT NULL DEFAULT 1);
  CREATE FUNCTION pause(t text) RETURNS int LANGUAGE plpgsql VOLATILE AS $$
  BEGIN
    PERFORM pg_sleep(coalesce((SELECT seconds FROM public.knobs WHERE tag = t), 0));
    RETURN 0;
  END $$;
  CREATE FUNCTION divisor(t text) RETURNS int LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT divisor FROM public.knobs WHERE tag = t), 1)
  $$;
`;

/** SQL for a canary: a materialized view counting the rows of a table, to show whether a run refreshed it. */
export const CANARY_SQL = `
  CREATE TABLE canary_source (id serial PRIMARY KEY);
  CREATE MATERIALIZED VIEW canary AS SELECT count(*)::int AS n FROM canary_source;
`;

/** Changes the canary's source and returns what the canary shows, which it keeps until a run refreshes it. */
export async function armCanary(db: ClientConfig): Promise<number> {
  await runSql(db, 'INSERT INTO canary_source DEFAULT VALUES');
  const [{ n }] = await runSql<{ n: number }>(db, 'SELECT n FROM canary');
  return n;
}

/** Asserts that the canary was not refreshed since {@link armCanary} returned `before`. */
export async function expectCanaryUnchanged(db: ClientConfig, before: number): Promise<void> {
  expect(await runSql(db, 'SELECT n FROM canary')).toEqual([{ n: before }]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The report a run logged when it finished; also there when the run threw because views were not refreshed. */
export function loggedReport(output: string): RefreshReport {
  const line = logLines(output).find((entry) => entry.message === 'Refresh run finished');
  if (!line) throw new Error(`The run logged no report:\n${output}`);
  return line.report as RefreshReport;
}
