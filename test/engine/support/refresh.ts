import type { ClientConfig } from 'pg';
import { invokeInProcess, REFRESH_BUNDLE } from '../../../local/lambda';
import { libpqEnvironment, runSql } from '../../../local/pg';
import type { RefreshEvent, RefreshReport } from '../../../src/shared/contract';
import { RefreshEnv } from '../../../src/shared/contract';

/** The libpq variables of local mode, pointing at a test database, with TLS off. */
export function localModeEnv(db: ClientConfig): Record<string, string> {
  return libpqEnvironment(db);
}

/** Every variable the handler reads, so one test's settings never leak into the next. */
const HANDLER_ENV = [...Object.values(RefreshEnv), 'PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'PGSSLMODE', 'NODE_EXTRA_CA_CERTS'];

export interface Invocation {
  readonly report?: RefreshReport;
  readonly error?: Error;
  /** Everything the handler wrote to stdout and stderr: JSON logs and EMF metrics. */
  readonly output: string;
  readonly elapsedMs: number;
}

/**
 * Invokes the bundled handler in this process with exactly the given environment variables set
 * (besides the process's own), capturing its output. Invocations may overlap.
 */
export async function invoke(event: RefreshEvent | unknown, env: Record<string, string>, remainingMs?: number): Promise<Invocation> {
  const { result, ...rest } = await invokeInProcess<RefreshReport>({
    bundle: REFRESH_BUNDLE,
    event,
    handlerVariables: HANDLER_ENV,
    environment: env,
    remainingMs,
  });
  return { report: result, ...rest };
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

/**
 * The backend running the REFRESH of a view (matched by `view` in the statement's text), polled until it shows
 * or `timeoutMs` has passed.
 */
export async function refreshingBackend(db: ClientConfig, view: string, timeoutMs = 4_000): Promise<number | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const rows = await runSql<{ pid: number }>(db, `
      SELECT pid FROM pg_catalog.pg_stat_activity
       WHERE datname = current_database() AND query LIKE $1 AND state = 'active'`, [`REFRESH MATERIALIZED VIEW %${view}%`]);
    if (rows.length > 0 || Date.now() > until) return rows[0]?.pid;
    await sleep(20);
  }
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
