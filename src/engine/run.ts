import type { Client, Pool } from 'pg';
import { describeViews, listViews, resolveExtraDependencies, resolveViewNames } from './catalog';
import { parseExtraDependencies, readConfig, RefreshConfig } from './config';
import { abandon, closeConnection, createPool, openConnection, useCredentials } from './connection';
import { ConnectionSettings, connectionSettings } from './credentials';
import { readDependencyGraph } from './dependencies';
import { describeError, isCancelledByAdministrator, isPermissionDenied, isStatementTimeout, isTransient, redact } from './errors';
import { executePlan, viewsOutOfTime } from './executor';
import { logger, recordRun, recordViewDuration } from './observability';
import { planRefresh, PlannedRefresh } from './plan';
import { RunLock, runLockKey } from './run-lock';
import { resolveTableNames, selectByTables } from './selection';
import { RefreshEnv, RefreshEvent, RefreshReport, ReportLimits, RunSelection, ViewReport } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

export interface RunContext {
  /** Milliseconds left before Lambda stops the invocation. */
  readonly remainingTimeMs: () => number;
}

type Env = Record<string, string | undefined>;

/** The longest message of the failure error; Step Functions keeps up to 32 KB of cause. */
const MAX_FAILURE_MESSAGE = 8_000;

/** Below this much time before the reserve, a run does not start: it could not even connect and plan. */
export const MIN_RUN_MS = 250;

/**
 * How long the handler waits for a reply past the bound the server enforces itself (statement_timeout, the
 * lock wait) before it decides the server has gone silent and gives up on the connection: 5% of the time left
 * at the start, at least 100 ms and at most 2 s.
 */
export function clientGraceMs(remainingMs: number): number {
  return Math.min(2_000, Math.max(100, Math.round(remainingMs * 0.05)));
}

/**
 * Time kept back from the invocation: the client grace ({@link clientGraceMs}) plus, for reporting, 10% of
 * what is left at the start, at least 250 ms and at most 5 s. Refreshes and lock waits are bounded so they end
 * before this reserve begins; a server that stops answering is given up on within the grace.
 */
export function reserveMs(remainingMs: number): number {
  return Math.min(5_000, Math.max(250, Math.round(remainingMs * 0.1))) + clientGraceMs(remainingMs);
}

/**
 * Client-side bounds on the run's own session, for a server that stops answering without closing the
 * connection (a blackholed network, a frozen host): there, statement_timeout and lock_timeout never fire.
 * Each phase may take the server's own bound plus the grace; past that, the connection is abandoned and the
 * phase fails with a {@link RefreshError} saying the server went silent.
 */
class SilenceGuard {
  private silent: string | undefined;

  constructor(private readonly client: Client, private readonly graceMs: number, private readonly target: string) {}

  /** What the server stopped answering, once it did. */
  get silence(): string | undefined {
    return this.silent;
  }

  async bound<T>(what: string, serverBoundMs: number, work: () => Promise<T>): Promise<T> {
    const limit = Math.max(0, Math.ceil(serverBoundMs)) + this.graceMs;
    const timer = setTimeout(() => {
      this.silent = `PostgreSQL stopped answering while ${what}: no reply within ${limit} ms from ${this.target}`;
      abandon(this.client);
    }, limit);
    try {
      return await work();
    } catch (error) {
      if (this.silent !== undefined) {
        throw new RefreshError('TRANSIENT', `${this.silent}; the run gave up on the connection before the invocation's deadline`, { cause: error });
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * One refresh run: validate, connect, resolve and plan the selection, take the selection's run lock, refresh.
 * Returns the report when every view was refreshed or another run held the lock; otherwise throws
 * a {@link RefreshError} whose name the state machine can match.
 */
export async function runRefresh(event: unknown, context: RunContext, env: Env): Promise<RefreshReport> {
  const startedAt = new Date();
  const remaining = context.remainingTimeMs();
  const deadline = startedAt.getTime() + remaining - reserveMs(remaining);
  const timeLeft = () => deadline - Date.now();

  const config = readConfig(env);
  const request = readEvent(event);
  if (timeLeft() < MIN_RUN_MS) {
    throw new RefreshError('OUT_OF_TIME', `Nothing was refreshed: the invocation had ${remaining} ms left, `
      + `too little to connect, plan and refresh after keeping ${reserveMs(remaining)} ms for reporting`);
  }

  const graceMs = clientGraceMs(remaining);
  const { client, settings } = await openConnection(env, config.tlsMode, timeLeft());
  const guard = new SilenceGuard(client, graceMs, settings.target);
  let pool: Pool | undefined;
  let heldLock: RunLock | undefined;
  let poolWatchdog: NodeJS.Timeout | undefined;
  try {
    // The catalog queries and the lock wait on this session cannot outlast the invocation either.
    let planningStarted = Date.now();
    const { lock, plan, selection } = await guard.bound('reading the catalog', timeLeft(), async () => {
      const begun = await RunLock.begin(client, timeLeft);
      heldLock = begun;
      planningStarted = Date.now();
      return { lock: begun, ...await planSelection(client, request, config) };
    });
    let planningMs = Date.now() - planningStarted;
    logInParts('Refresh run planned', plan.map((step) => ({ view: step.view.qualifiedName, concurrently: step.concurrently, dependsOn: step.dependsOn })), {
      planningMs,
      selection,
      concurrency: config.concurrency,
      credentials: settings.source,
    });
    if (plan.length === 0) {
      return finishRun(startedAt, 'not-needed', config, planningMs, [], selection);
    }

    const lockWaitMs = Math.min(config.lockWaitMs, timeLeft());
    const lockKey = runLockKey(plan.map((step) => step.view.oid));
    const outcome = await guard.bound('waiting for the run lock', lockWaitMs, () => lock.acquire(lockKey, config.overlapPolicy, lockWaitMs));
    logger.info('Run lock', { lock: outcome, overlapPolicy: config.overlapPolicy });
    if (outcome === 'not-acquired') {
      const reason = `another refresh run of the same views holds their run lock (overlap policy ${config.overlapPolicy})`;
      return finishRun(startedAt, outcome, config, planningMs, plan.map((step) => skippedView(step, reason)), selection);
    }

    // While this run waited, the other one may have populated views, which changes CONCURRENTLY eligibility.
    let current = plan;
    if (outcome === 'acquired-after-wait') {
      const replanningStarted = Date.now();
      current = await guard.bound('reading the catalog', timeLeft(), async () => (await planSelection(client, request, config)).plan);
      planningMs += Date.now() - replanningStarted;
    }
    lock.keepAlive();
    const refreshPool = createPool(settings, config.concurrency, timeLeft());
    pool = refreshPool;
    // Each refresh is bounded by its statement_timeout and a client timeout; should the server go silent on
    // any other statement of a refresh connection, the connection is abandoned when the grace after the deadline ends.
    const refreshConnections = new Set<Client>();
    refreshPool.on('connect', (connection) => refreshConnections.add(connection));
    refreshPool.on('remove', (connection) => refreshConnections.delete(connection));
    poolWatchdog = setTimeout(() => refreshConnections.forEach(abandon), Math.max(0, timeLeft()) + graceMs);
    // The secret is read again at most once per run, however many connections the server rejects.
    let reauthenticated: Promise<boolean> | undefined;
    const reauthenticate = () => reauthenticated ??= (async () => {
      // Only a secret can have changed; IAM signs a fresh token for every connection anyway.
      if (settings.source !== 'secret' && settings.source !== 'cached-secret') return false;
      try {
        const fresh = await connectionSettings(env, config.tlsMode, true);
        settings.secrets.push(...fresh.secrets);
        useCredentials(refreshPool, fresh);
        logger.warn('The server rejected the credentials of a new connection; the secret was read again', { credentials: fresh.source });
        return true;
      } catch (error) {
        logger.warn('The server rejected the credentials of a new connection, and the secret could not be read again', { error: describeError(error) });
        return false;
      }
    })();
    const views = await executePlan(current, {
      pool,
      concurrency: config.concurrency,
      deadline,
      lockTimeoutMs: config.lockTimeoutMs,
      statementTimeoutMs: config.statementTimeoutMs,
      maxAttempts: config.maxAttempts,
      secrets: settings.secrets,
      stopReason: () => lock.lostReason && `the run lock was lost: ${lock.lostReason}`,
      reauthenticate,
      onAttempt: (step, attempt) => logger.debug('Refresh started', { view: step.view.qualifiedName, attempt, concurrently: step.concurrently }),
      onConnectionLimit: (connections) => logger.warn('Fewer connections than concurrency', {
        concurrency: config.concurrency,
        connections,
        reason: 'the server refused another connection for lack of free slots (53300); the run goes on with the connections it holds',
      }),
      onDone: (_step, view) => {
        recordViewDuration(view);
        if (view.status === 'refreshed') logger.info('View refreshed', { ...view });
        else logger.warn(`View ${view.status}`, { ...view });
      },
    });
    // A lock session that stops answering cannot confirm the lock was held throughout: the lock counts as lost.
    const lost = await guard.bound('releasing the run lock', Math.max(0, timeLeft()), () => lock.release());
    return finishRun(startedAt, outcome, config, planningMs, views, selection, guard.silence ?? lost);
  } catch (error) {
    throw asRefreshError(error, settings);
  } finally {
    clearTimeout(poolWatchdog);
    if (heldLock) await settleWithin(heldLock.release().catch(() => undefined), graceMs);
    // pool.end() also waits for connections still being opened; a silent server would hold it past the deadline.
    if (pool) await settleWithin(pool.end().catch(() => undefined), graceMs);
    await closeConnection(client, graceMs);
  }
}

/** Waits for `work` for at most `ms`, leaving it to finish on its own. */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** What the event asks for. */
interface RefreshRequest {
  readonly views?: unknown[];
  readonly tables?: unknown[];
  readonly extraDependencies?: RefreshEvent['extraDependencies'];
  readonly fullRefreshReason?: string;
}

/**
 * The views to refresh: the event's views and the views of the configured set that read the event's tables;
 * without either, the configured list and schemas, else every materialized view.
 */
async function planSelection(client: Client, request: RefreshRequest, config: RefreshConfig)
  : Promise<{ plan: PlannedRefresh[]; selection: RunSelection }> {
  const requested = request.views ? await resolveViewNames(client, request.views, 'event.views') : [];
  const tables = request.tables ? await resolveTableNames(client, request.tables, 'event.tables') : [];
  const declared = [
    ...await resolveExtraDependencies(client, config.extraDependencies, RefreshEnv.EXTRA_DEPENDENCIES),
    ...await resolveExtraDependencies(client, request.extraDependencies ?? [], 'event.extraDependencies'),
  ];
  // One graph for the selection and the order, so both follow the same dependencies.
  const graph = await readDependencyGraph(client, tables.map((table) => table.oid), declared);
  let oids: number[];
  let selection: RunSelection;
  if (request.tables) {
    const { configured } = await configuredSet(client, config);
    const byTables = tables.length > 0 ? selectByTables(graph, tables, configured) : { oids: [], tables: [], omittedTables: 0 };
    oids = [...new Set([...requested, ...byTables.oids])];
    selection = {
      basis: 'tables',
      reason: oids.length === 0 ? nothingChanged(tables.length) : undefined,
      tables: byTables.tables,
      ...(byTables.omittedTables > 0 ? { omittedTables: byTables.omittedTables } : {}),
    };
    if (oids.length === 0) return { plan: [], selection };
  } else if (request.views) {
    oids = requested;
    selection = { basis: 'views' };
  } else {
    const { configured, described } = await configuredSet(client, config);
    oids = configured;
    selection = { basis: 'configured', reason: request.fullRefreshReason };
    if (oids.length === 0) {
      throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: the selection is empty: ${described} names no materialized views`);
    }
  }
  const plan = planRefresh(await describeViews(client, oids, graph), config.concurrentRefresh);
  return { plan, selection };
}

function nothingChanged(tables: number): string {
  return tables === 0
    ? 'nothing changed: event.tables is empty'
    : 'nothing changed: no selected materialized view reads the changed tables';
}

/** The configured list and schemas, else every materialized view of the database. */
async function configuredSet(client: Client, config: RefreshConfig): Promise<{ configured: number[]; described: string }> {
  if (config.views || config.schemas) {
    const listed = config.views ? await resolveViewNames(client, config.views, RefreshEnv.VIEWS) : [];
    const inSchemas = config.schemas ? await listViews(client, config.schemas, RefreshEnv.SCHEMAS) : [];
    const described = [config.views && `${RefreshEnv.VIEWS}=${JSON.stringify(config.views)}`, config.schemas && `${RefreshEnv.SCHEMAS}=${JSON.stringify(config.schemas)}`]
      .filter(Boolean)
      .join(' and ');
    return { configured: [...new Set([...listed, ...inSchemas])], described };
  }
  return { configured: await listViews(client, undefined, 'database'), described: 'the database (no views or schemas configured)' };
}

const EVENT_EXAMPLE = '{"views": ["schema.view"]} or {"tables": ["schema.table"]}';

function readEvent(event: unknown): RefreshRequest {
  if (event === undefined || event === null) return {};
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new RefreshError('INVALID_REQUEST', `Invalid event ${JSON.stringify(event)}: expected an object such as ${EVENT_EXAMPLE}`);
  }
  const declared = (event as { extraDependencies?: unknown }).extraDependencies;
  const extraDependencies = declared === undefined || declared === null ? undefined : parseExtraDependencies(declared, 'event.extraDependencies');
  return { views: readEventViews(event), tables: readEventTables(event), extraDependencies, fullRefreshReason: readFullRefreshReason(event) };
}

function readEventTables(event: object): unknown[] | undefined {
  const tables = (event as { tables?: unknown }).tables;
  if (tables === undefined || tables === null) return undefined;
  if (!Array.isArray(tables)) {
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: invalid event.tables ${JSON.stringify(tables)}: expected an array of table names`);
  }
  return tables;
}

function readFullRefreshReason(event: object): string | undefined {
  const reason = (event as { fullRefreshReason?: unknown }).fullRefreshReason;
  if (reason === undefined || reason === null) return undefined;
  if (typeof reason !== 'string') {
    throw new RefreshError('INVALID_REQUEST', `Invalid event.fullRefreshReason ${JSON.stringify(reason)}: expected a string`);
  }
  // The state machine joins one note per pipeline; a trailing separator is not part of the reason.
  return reason.replace(/[;\s]+$/, '').slice(0, 1_000);
}

function readEventViews(event: object): unknown[] | undefined {
  const views = (event as { views?: unknown }).views;
  if (views === undefined || views === null) return undefined;
  if (!Array.isArray(views)) {
    throw new RefreshError('INVALID_REQUEST', `Invalid event.views ${JSON.stringify(views)}: expected an array of materialized view names`);
  }
  if (views.length === 0) {
    throw new RefreshError('INVALID_REQUEST', 'Nothing was refreshed: the selection is empty: event.views is an empty array');
  }
  return views;
}

function skippedView(step: PlannedRefresh, reason: string): ViewReport {
  return { view: step.view.qualifiedName, status: 'skipped', concurrently: false, durationMs: 0, attempts: 0, reason };
}

/** Reports the run; throws unless every view was refreshed or the run was skipped for the lock. */
function finishRun(
  startedAt: Date,
  lock: RefreshReport['lock'],
  config: RefreshConfig,
  planningMs: number,
  views: ViewReport[],
  selection: RunSelection,
  lockLost?: string,
): RefreshReport {
  const count = (status: ViewReport['status']) => views.filter((view) => view.status === status).length;
  const listed = reportedViews(views);
  const report: RefreshReport = {
    status: lock === 'not-acquired' ? 'skipped' : 'succeeded',
    lock,
    concurrency: config.concurrency,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    planningMs,
    views: listed,
    viewsOmitted: views.length - listed.length,
    totals: { selected: views.length, refreshed: count('refreshed'), failed: count('failed'), skipped: count('skipped') },
    selection,
  };
  recordRun(report);
  logger.info('Refresh run finished', { report });

  const notRefreshed = views.filter((view) => view.status !== 'refreshed');
  if (lock !== 'not-acquired' && notRefreshed.length > 0) {
    const details = notRefreshed.map((view) =>
      view.status === 'failed'
        ? `${view.view} failed after ${view.attempts} attempt(s): ${view.reason}`
        : `${view.view} skipped: ${view.reason}`,
    );
    let message = `${notRefreshed.length} of ${views.length} materialized views were not refreshed `
      + `(${report.totals.failed} failed, ${report.totals.skipped} skipped, ${report.totals.refreshed} refreshed)`
      + `${outOfTimeSummary(views, config)}: ${details.join('; ')}`;
    if (lockLost) message = `The run lock was lost (${lockLost}), so the run started no more refreshes. ${message}`;
    if (message.length > MAX_FAILURE_MESSAGE) message = `${message.slice(0, MAX_FAILURE_MESSAGE - 1)}…`;
    throw new RefreshError(lockLost ? 'RUN_LOCK_LOST' : 'VIEWS_FAILED', message);
  }
  if (lockLost) {
    throw new RefreshError('RUN_LOCK_LOST', `The run lock was lost (${lockLost}) after every view was refreshed; `
      + 'another run may have refreshed the same views at the same time, each view one refresh at a time');
  }
  return report;
}

/**
 * The views the report lists: as many as fit in {@link ReportLimits.VIEWS_BYTES} of JSON, failed ones first,
 * then skipped, then refreshed, each kind in plan order; returned in plan order, reasons shortened.
 */
export function reportedViews(views: readonly ViewReport[]): ViewReport[] {
  const rank: Record<ViewReport['status'], number> = { failed: 0, skipped: 1, refreshed: 2 };
  const byPriority = views.map((view, index) => ({ view, index })).sort((a, b) => rank[a.view.status] - rank[b.view.status] || a.index - b.index);
  const chosen: Array<{ view: ViewReport; index: number }> = [];
  let size = 2;
  for (const entry of byPriority) {
    const view = shortenReason(entry.view);
    const entrySize = Buffer.byteLength(JSON.stringify(view)) + 1;
    if (size + entrySize > ReportLimits.VIEWS_BYTES) break;
    size += entrySize;
    chosen.push({ view, index: entry.index });
  }
  return chosen.sort((a, b) => a.index - b.index).map((entry) => entry.view);
}

function shortenReason(view: ViewReport): ViewReport {
  if (view.reason === undefined || view.reason.length <= ReportLimits.REASON_CHARS) return view;
  return { ...view, reason: `${view.reason.slice(0, ReportLimits.REASON_CHARS - 1)}…` };
}

/**
 * Logs a list in as many events as it takes to keep each under {@link ReportLimits.LOG_EVENT_BYTES} of JSON,
 * each with `part` and `parts`, so no event nears CloudWatch Logs' 256 KB limit.
 */
function logInParts(message: string, items: readonly object[], attributes: Record<string, unknown>): void {
  const parts: object[][] = [[]];
  let size = 0;
  for (const item of items) {
    const itemSize = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (size + itemSize > ReportLimits.LOG_EVENT_BYTES && parts[parts.length - 1].length > 0) {
      parts.push([]);
      size = 0;
    }
    parts[parts.length - 1].push(item);
    size += itemSize;
  }
  parts.forEach((part, index) => logger.info(message, { ...attributes, views: part, part: index + 1, parts: parts.length }));
}

/** The most view names an out-of-time summary lists in each group; the details name them all. */
const MAX_LISTED_VIEWS = 20;

/**
 * Names the views the run did not refresh because its time ran out, and what to change so the next run has
 * the time it needs. Empty when the time did not run out.
 */
function outOfTimeSummary(views: ViewReport[], config: RefreshConfig): string {
  const { stopped, notStarted } = viewsOutOfTime(views);
  if (stopped.length === 0 && notStarted.length === 0) return '';
  const list = (names: string[]) => names.length <= MAX_LISTED_VIEWS
    ? names.join(', ')
    : `${names.slice(0, MAX_LISTED_VIEWS).join(', ')} and ${names.length - MAX_LISTED_VIEWS} more`;
  const groups = [
    stopped.length > 0 && `stopped: ${list(stopped)}`,
    notStarted.length > 0 && `never started: ${list(notStarted)}`,
  ].filter(Boolean).join('; ');
  const advice = config.compute === 'fargate'
    ? 'Raise `runTimeout` of RefreshCompute.fargate() so the views fit in one run'
    : 'A Lambda invocation lasts at most 15 minutes: run the refresh as an ECS Fargate task with '
      + 'RefreshCompute.fargate(), which has no such limit (see "Long refreshes" in the README)';
  return `. The run ran out of time (${groups}). ${advice}`;
}

/** Gives every error leaving the run a stable name, named for what happened, and a message without credentials. */
function asRefreshError(error: unknown, settings: ConnectionSettings): RefreshError {
  if (error instanceof RefreshError) return error;
  const stopped = (why: string) => redact(`The refresh run stopped: ${why}: ${describeError(error)}`, settings.secrets);
  if (isPermissionDenied(error)) {
    return new RefreshError('PERMISSION_DENIED', stopped(`the database role of ${settings.target} lacks a privilege the run needs`));
  }
  if (isCancelledByAdministrator(error)) {
    return new RefreshError('CANCELLED', stopped('an administrator cancelled its statement (pg_cancel_backend)'));
  }
  // The run's own session carries a statement_timeout of the invocation's time left.
  if (isStatementTimeout(error)) return new RefreshError('OUT_OF_TIME', stopped('the invocation ran out of time'));
  const kind = isTransient(error) ? 'TRANSIENT' : 'CONNECTION_FAILED';
  return new RefreshError(kind, stopped('the database failed'));
}
