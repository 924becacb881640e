import type { Pool, PoolClient, QueryConfig } from 'pg';
import { describeError, isAuthenticationFailure, isCancelledByAdministrator, isStatementTimeout, isTooManyConnections, isTransient, redact } from './errors';
import { invalidIndexAdvice, PlannedRefresh } from './plan';
import { viewLockKeys } from './run-lock';
import type { ViewReport } from '../shared/contract';
import { quoteIdentifier } from '../shared/names';

export interface ExecutionOptions {
  /** Connections for the refreshes; at least `concurrency` of them. */
  readonly pool: Pool;
  readonly concurrency: number;
  /** Epoch milliseconds by which every refresh must have stopped, so the run can still report. */
  readonly deadline: number;
  readonly lockTimeoutMs: number;
  /** Undefined: bounded only by the deadline. */
  readonly statementTimeoutMs?: number;
  readonly maxAttempts: number;
  /** Backoff before attempt n+1 is about `retryBaseDelayMs * 2^(n-1)`, jittered, at most `retryMaxDelayMs`. */
  readonly retryBaseDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  /** Values never to repeat in a reason, e.g. the password. */
  readonly secrets: readonly string[];
  /** Why no refresh may start any more (e.g. the run lock was lost); undefined while refreshes may start. */
  readonly stopReason?: () => string | undefined;
  /** Called when a refresh attempt starts and when a view's outcome is known. */
  readonly onAttempt?: (step: PlannedRefresh, attempt: number) => void;
  readonly onDone?: (step: PlannedRefresh, report: ViewReport) => void;
  /**
   * Runs one attempt at refreshing a view within the given timeouts, throwing what the database threw.
   * @default - REFRESH MATERIALIZED VIEW on a connection of `pool`
   */
  readonly refresh?: (step: PlannedRefresh, timeouts: RefreshTimeouts) => Promise<void>;
  /**
   * Called when the server rejects a refresh's connection with an authentication failure (the password may have
   * rotated). Resolves true when the pool now has other credentials to try once more.
   */
  readonly reauthenticate?: () => Promise<boolean>;
  /** Called when the server refused a connection for lack of slots and the run goes on with `connections`. */
  readonly onConnectionLimit?: (connections: number) => void;
}

/** The timeouts of one refresh attempt, in milliseconds. */
export interface RefreshTimeouts {
  readonly lockTimeoutMs: number;
  readonly statementTimeoutMs: number;
}

/** The reason of a view that was not started because the run's time was up. */
export const NOT_STARTED_FOR_TIME = 'not started: the invocation ran out of time';
/** How the reason of a refresh stopped because the run's time was running out begins. */
export const STOPPED_FOR_TIME = 'stopped after';
/** How the reason of a view skipped because a view it depends on was not refreshed begins. */
export const DEPENDS_ON = 'depends on ';

/** The server refused a refresh's connection for lack of free slots (53300). */
class NoConnectionSlot extends Error {
  constructor(readonly refusal: unknown) {
    super(describeError(refusal));
  }
}

/**
 * How many refreshes may hold a connection at once. It starts at the configured concurrency and shrinks to
 * the connections the run holds when the server refuses another one, so the run never asks for slots that
 * other clients (or its own refreshes) hold.
 */
interface ConnectionSlots {
  readonly limit: () => number;
  /** After a refusal: go on with the connections the run holds now (at least one). */
  readonly shrink: () => void;
  /** Resolves when one of the run's connections is handed back, or after `ms`, whichever comes first. */
  readonly waitForRelease: (ms: number) => Promise<void>;
}

function connectionSlots(options: ExecutionOptions): ConnectionSlots {
  let limit = options.concurrency;
  return {
    limit: () => limit,
    shrink: () => {
      const held = options.pool.totalCount;
      if (held < limit) {
        limit = Math.max(1, held);
        options.onConnectionLimit?.(held);
      }
    },
    waitForRelease: (ms) => new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        options.pool.off('release', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      options.pool.once('release', done);
    }),
  };
}

/** Below this much time left, a refresh is not started: it could not finish. */
const MIN_REFRESH_BUDGET_MS = 100;
/** How long past its statement_timeout a refresh may go silent before the connection is abandoned. */
const CLIENT_TIMEOUT_GRACE_MS = 2_000;

/**
 * How a plain REFRESH waits for its view without locking readers out. Its ACCESS EXCLUSIVE lock request would
 * queue in front of every new reader for as long as an older reader holds the view, so it is tried with a short
 * `lock_timeout` instead, again and again with a growing pause in between, in a savepoint of the refresh's
 * transaction (which keeps the view's guard). Most tries give up at once (`FAST_TRY_MS`); every third try may
 * queue for `QUEUED_TRY_MS`, so that a steady stream of short readers cannot starve it. A new reader thus waits
 * at most `QUEUED_TRY_MS` at a time, and all the tries of one view together hold readers up at most
 * `READER_WAIT_BUDGET_MS`.
 */
export const PlainRefreshWait = {
  FAST_TRY_MS: 2,
  QUEUED_TRY_MS: 100,
  /** Queued tries stop when less than this is left of the budget, which keeps fast tries possible. */
  QUEUED_FLOOR_MS: 400,
  READER_WAIT_BUDGET_MS: 900,
  FIRST_PAUSE_MS: 25,
  MAX_PAUSE_MS: 1_000,
} as const;

/** What a view's tries have held readers up so far, over all its attempts. */
interface ReaderWait {
  spentMs: number;
}

/**
 * Runs the plan with a ready queue: up to `concurrency` refreshes at once, each on its own connection. A view
 * starts as soon as every view it depends on has been refreshed, not when a whole level is done; among ready
 * views, those with the longest chain of dependents go first. A view that fails takes all its dependents with
 * it (skipped, never refreshed on stale input); independent views go on.
 *
 * @returns one report per planned view, in plan order
 */
export async function executePlan(plan: readonly PlannedRefresh[], options: ExecutionOptions): Promise<ViewReport[]> {
  const byName = new Map(plan.map((step) => [step.view.qualifiedName, step]));
  const position = new Map(plan.map((step, index) => [step, index]));
  const reports = new Map<string, ViewReport>();
  const pendingDeps = new Map(plan.map((step) => [step.view.qualifiedName, step.dependsOn.length]));
  // Longest chain of dependents first, then plan order.
  const ready = new Heap<PlannedRefresh>((a, b) => b.height - a.height || position.get(a)! - position.get(b)!);
  const slots = connectionSlots(options);
  let running = 0;

  const finish = (step: PlannedRefresh, report: ViewReport) => {
    reports.set(step.view.qualifiedName, report);
    options.onDone?.(step, report);
    if (report.status === 'refreshed') {
      for (const name of step.dependents) {
        const left = pendingDeps.get(name)! - 1;
        pendingDeps.set(name, left);
        if (left === 0 && !reports.has(name)) ready.push(byName.get(name)!);
      }
    } else {
      for (const name of step.dependents) skipDependent(byName.get(name)!, step.view.qualifiedName);
    }
  };

  const skipDependent = (step: PlannedRefresh, cause: string) => {
    // A view that cannot be refreshed fails with its own reason, not as a dependent.
    if (reports.has(step.view.qualifiedName) || step.blocker) return;
    finish(step, {
      view: step.view.qualifiedName,
      status: 'skipped',
      concurrently: false,
      durationMs: 0,
      attempts: 0,
      reason: `${DEPENDS_ON}${cause}, which was not refreshed`,
    });
  };

  // Views that cannot be refreshed fail first, without waiting for their dependencies, and take their
  // dependents with them.
  for (const step of plan) {
    if (step.blocker) {
      finish(step, { view: step.view.qualifiedName, status: 'failed', concurrently: false, durationMs: 0, attempts: 0, reason: step.blocker });
    }
  }

  for (const step of plan) if (step.dependsOn.length === 0 && !reports.has(step.view.qualifiedName)) ready.push(step);

  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (running < slots.limit() && ready.size > 0) {
        const step = ready.pop()!;
        running++;
        refreshView(step, options, slots).then((report) => {
          running--;
          finish(step, report);
          pump();
        }, reject);
      }
      if (running === 0 && ready.size === 0) resolve();
    };
    pump();
  });

  return plan.map((step) => reports.get(step.view.qualifiedName)!);
}

/** Refreshes one view, retrying transient errors with backoff while time remains. Never throws. */
async function refreshView(step: PlannedRefresh, options: ExecutionOptions, slots: ConnectionSlots): Promise<ViewReport> {
  const name = step.view.qualifiedName;

  const started = Date.now();
  const result = (status: ViewReport['status'], attempts: number, reason?: string): ViewReport => ({
    view: name,
    status,
    concurrently: status === 'skipped' ? false : step.concurrently,
    startedAt: status === 'skipped' ? undefined : new Date(started).toISOString(),
    durationMs: status === 'skipped' ? 0 : Date.now() - started,
    attempts,
    reason: reason === undefined ? undefined : redact(reason, options.secrets),
  });

  let lastError = '';
  const readerWait: ReaderWait = { spentMs: 0 };
  let refusal: string | undefined;
  let slotWaits = 0;
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    const stop = options.stopReason?.();
    if (stop) {
      return attempt === 1
        ? result('skipped', 0, `not started: ${stop}`)
        : result('failed', attempt - 1, `${lastError}; not tried again: ${stop}`);
    }
    const budget = options.deadline - Date.now();
    if (budget < MIN_REFRESH_BUDGET_MS) {
      if (attempt > 1) return result('failed', attempt - 1, `${lastError}; no time left for another attempt`);
      return refusal
        ? result('skipped', 0, `not started: no database connection slot came free before the invocation ran out of time (${refusal})`)
        : result('skipped', 0, NOT_STARTED_FOR_TIME);
    }
    const statementTimeout = Math.min(options.statementTimeoutMs ?? Infinity, budget);
    const lockTimeout = Math.min(options.lockTimeoutMs, budget);

    options.onAttempt?.(step, attempt);
    try {
      const timeouts = { lockTimeoutMs: lockTimeout, statementTimeoutMs: statementTimeout };
      await (options.refresh ? options.refresh(step, timeouts) : refreshOnce(step, () => acquireConnection(options), timeouts, readerWait));
      return result('refreshed', attempt);
    } catch (error) {
      if (error instanceof NoConnectionSlot) {
        // Not an attempt: the refresh never reached the server. Wait for one of the run's own connections.
        refusal = error.message;
        slots.shrink();
        await slots.waitForRelease(Math.min(backoff(++slotWaits, options), Math.max(0, options.deadline - Date.now())));
        attempt--;
        continue;
      }
      lastError = describeError(error);
      if ((error as { code?: string }).code === '23505' && step.view.invalidUniqueIndexes.length > 0) {
        // An invalid unique index is still rebuilt (plain) or maintained (CONCURRENTLY): name it and the fix.
        lastError = `${lastError}: ${invalidIndexAdvice(step.view.invalidUniqueIndexes)}`;
      }
      if (isCancelledByAdministrator(error)) {
        return result('failed', attempt, `cancelled by an administrator (pg_cancel_backend); the view keeps its previous contents (${lastError})`);
      }
      if (isStatementTimeout(error)) {
        const why = statementTimeout < (options.statementTimeoutMs ?? Infinity)
          ? `${STOPPED_FOR_TIME} ${statementTimeout} ms because the invocation was running out of time`
          : `exceeded statement_timeout of ${statementTimeout} ms`;
        return result('failed', attempt, `${why}; the view keeps its previous contents (${lastError})`);
      }
      if (!isTransient(error) || attempt === options.maxAttempts) {
        return result('failed', attempt, `${lastError}; the view keeps its previous contents`);
      }
      const delay = backoff(attempt, options);
      if (Date.now() + delay + MIN_REFRESH_BUDGET_MS > options.deadline) {
        return result('failed', attempt, `${lastError}; no time left for another attempt; the view keeps its previous contents`);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  /* istanbul ignore next: the loop always returns */
  return result('failed', options.maxAttempts, lastError);
}

/**
 * A pool connection for one refresh. An authentication failure asks for fresh credentials once and tries again;
 * a refusal for lack of slots becomes {@link NoConnectionSlot}, so the view waits instead of failing.
 */
async function acquireConnection(options: ExecutionOptions, reauthenticated = false): Promise<PoolClient> {
  try {
    return await connectBefore(options.pool, options.deadline);
  } catch (error) {
    if (!reauthenticated && isAuthenticationFailure(error) && await options.reauthenticate?.()) {
      return acquireConnection(options, true);
    }
    throw isTooManyConnections(error) ? new NoConnectionSlot(error) : error;
  }
}

/**
 * A pool connection, or an error once the deadline has passed: a server that stops answering mid-handshake would
 * otherwise hold the refresh until the pool's own connection timeout, which may end after the deadline. A
 * connection that completes later goes back to the pool.
 */
async function connectBefore(pool: Pool, deadline: number): Promise<PoolClient> {
  const pending = pool.connect();
  const ms = Math.max(MIN_REFRESH_BUDGET_MS, deadline - Date.now());
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the server did not complete a new connection within ${ms} ms, before the invocation's deadline`)), ms);
  });
  try {
    return await Promise.race([pending, late]);
  } catch (error) {
    pending.then((client) => client.release(), () => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One refresh in its own transaction. Its settings are local to the transaction, so they never outlive it on
 * the server connection (which a transaction-mode pooler hands to other clients next). The view's guard, a
 * transaction-level advisory lock, keeps another run's refresh of the same view out until this one commits;
 * waiting for it does not hold up readers of the view.
 */
async function refreshOnce(
  step: PlannedRefresh, acquire: () => Promise<PoolClient>, { lockTimeoutMs, statementTimeoutMs }: RefreshTimeouts, readerWait: ReaderWait,
): Promise<void> {
  const client: PoolClient = await acquire();
  // A connection lost under the refresh also emits 'error' once the query has failed; the query's error counts.
  const ignore = () => undefined;
  client.on('error', ignore);
  let failure: unknown;
  try {
    // The transaction pauses between the tries of a plain REFRESH, so the server's idle timeout is off for it.
    // One round trip: the server runs the statements in turn, each under the settings before it.
    const [namespace, viewKey] = viewLockKeys(step.view.oid);
    await client.query([
      'BEGIN',
      localSettings({
        lock_timeout: `${Math.ceil(lockTimeoutMs)}ms`,
        statement_timeout: `${Math.ceil(statementTimeoutMs)}ms`,
        idle_in_transaction_session_timeout: '0',
      }),
      `SELECT pg_catalog.pg_advisory_xact_lock(${namespace}::int4, ${viewKey}::int4)`,
    ].join('; '));
    // Identifiers come from the catalog and are always quoted.
    const target = `${quoteIdentifier(step.view.schema)}.${quoteIdentifier(step.view.name)}`;
    if (step.concurrently) {
      // CONCURRENTLY takes an EXCLUSIVE lock, which readers pass.
      await client.query(refreshStatement(`REFRESH MATERIALIZED VIEW CONCURRENTLY ${target}`, statementTimeoutMs));
    } else {
      await refreshPlain(client, `REFRESH MATERIALIZED VIEW ${target}`, lockTimeoutMs, statementTimeoutMs, readerWait);
    }
    await client.query('COMMIT');
  } catch (error) {
    failure = error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.off('error', ignore);
    // A connection that saw an error is discarded, not reused.
    client.release(failure ? true : undefined);
  }
}

/**
 * Settings for the current transaction only, as one statement. The values are written into the text, so that it can
 * travel with other statements in one round trip: they are numbers and words of this module, never input.
 */
function localSettings(settings: Record<string, string>): string {
  const calls = Object.entries(settings).map(([name, value]) => `pg_catalog.set_config('${name}', '${value}', true)`);
  return `SELECT ${calls.join(', ')}`;
}

function refreshStatement(text: string, statementTimeoutMs: number): QueryConfig {
  // If the server goes silent (a lost network), give up shortly after statement_timeout would have.
  // pg reads query_timeout per query too; its type declarations only list it for connections.
  const query: QueryConfig & { query_timeout: number } = { text, query_timeout: Math.ceil(statementTimeoutMs) + CLIENT_TIMEOUT_GRACE_MS };
  return query;
}

/** A plain REFRESH in tries that never hold new readers up for long; see {@link PlainRefreshWait}. */
async function refreshPlain(
  client: PoolClient, text: string, lockTimeoutMs: number, statementTimeoutMs: number, readerWait: ReaderWait,
): Promise<void> {
  const started = Date.now();
  let pause: number = PlainRefreshWait.FIRST_PAUSE_MS;
  for (let attempt = 0; ; attempt++) {
    const left = PlainRefreshWait.READER_WAIT_BUDGET_MS - readerWait.spentMs;
    const queued = attempt % 3 === 2 && left >= PlainRefreshWait.QUEUED_FLOOR_MS;
    const tryMs = queued ? PlainRefreshWait.QUEUED_TRY_MS : PlainRefreshWait.FAST_TRY_MS;
    if (tryMs > left) {
      throw new Error(`readers of the view held it for ${Date.now() - started} ms; a plain REFRESH stops trying once its tries `
        + `have held new readers up ${PlainRefreshWait.READER_WAIT_BUDGET_MS} ms in all (use CONCURRENTLY, or refresh when readers are fewer)`);
    }
    const statementMs = Math.max(1, Math.ceil(statementTimeoutMs - (Date.now() - started)));
    await client.query(`${localSettings({ lock_timeout: `${tryMs}ms`, statement_timeout: `${statementMs}ms` })}; SAVEPOINT itc_refresh`);
    const tryStarted = Date.now();
    try {
      // The transaction's COMMIT releases the savepoint with it.
      await client.query(refreshStatement(text, statementMs));
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03') throw error;
      readerWait.spentMs += Date.now() - tryStarted;
      await client.query('ROLLBACK TO SAVEPOINT itc_refresh');
      const waited = Date.now() - started;
      if (waited + pause >= lockTimeoutMs) {
        throw Object.assign(new Error(`${(error as Error).message}: readers held the view for ${waited} ms of lock_timeout `
          + `${lockTimeoutMs} ms, which a plain REFRESH waits out in short tries so as not to lock new readers out`), { code: '55P03' });
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(PlainRefreshWait.MAX_PAUSE_MS, Math.round(pause * 1.5));
    }
  }
}

function backoff(attempt: number, options: ExecutionOptions): number {
  const base = options.retryBaseDelayMs ?? 200;
  const max = options.retryMaxDelayMs ?? 5_000;
  const exponential = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(exponential / 2 + (Math.random() * exponential) / 2);
}

/** A binary min-heap: `pop` returns the item that `compare` orders first. */
class Heap<T> {
  private readonly items: T[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let index = items.length - 1;
    while (index > 0) {
      const parent = Math.floor((index - 1) / 2);
      if (this.compare(items[index], items[parent]) >= 0) break;
      [items[index], items[parent]] = [items[parent], items[index]];
      index = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        const right = left + 1;
        let first = index;
        if (left < items.length && this.compare(items[left], items[first]) < 0) first = left;
        if (right < items.length && this.compare(items[right], items[first]) < 0) first = right;
        if (first === index) break;
        [items[index], items[first]] = [items[first], items[index]];
        index = first;
      }
    }
    return top;
  }
}

/**
 * The views a run did not refresh because its time ran out: those stopped mid-refresh, and those never
 * started, directly or because a view they depend on was stopped or never started.
 */
export function viewsOutOfTime(reports: readonly ViewReport[]): { stopped: string[]; notStarted: string[] } {
  const stopped = reports
    .filter((view) => view.status === 'failed' && view.reason?.startsWith(`${STOPPED_FOR_TIME} `) && view.reason.includes('running out of time'))
    .map((view) => view.view);
  const affected = new Set([...stopped, ...reports.filter((view) => view.reason === NOT_STARTED_FOR_TIME).map((view) => view.view)]);
  // Dependents are skipped naming the one view they waited for; follow those links until nothing changes.
  let grew = true;
  while (grew) {
    grew = false;
    for (const view of reports) {
      if (view.status !== 'skipped' || affected.has(view.view) || !view.reason?.startsWith(DEPENDS_ON)) continue;
      if ([...affected].some((name) => view.reason === `${DEPENDS_ON}${name}, which was not refreshed`)) {
        affected.add(view.view);
        grew = true;
      }
    }
  }
  return { stopped, notStarted: reports.filter((view) => affected.has(view.view) && !stopped.includes(view.view)).map((view) => view.view) };
}
