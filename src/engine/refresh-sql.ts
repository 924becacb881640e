import type { ClientBase, PoolClient } from 'pg';
import { APPLICATION_NAME } from './credentials';
import { queryWithTimeout } from './pg-internals';
import type { PlannedRefresh } from './plan';
import { viewLockKeys } from './run-lock';
import { formatRelationName, quoteIdentifier } from '../shared/names';

/** The timeouts of one refresh attempt, in milliseconds. */
export interface RefreshTimeouts {
  readonly lockTimeoutMs: number;
  readonly statementTimeoutMs: number;
}

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
export interface ReaderWait {
  spentMs: number;
}

/**
 * One refresh in its own transaction. Its settings are local to the transaction, so they never outlive it on
 * the server connection (which a transaction-mode pooler hands to other clients next). The view's guard, a
 * transaction-level advisory lock, keeps another run's refresh of the same view out until this one commits;
 * waiting for it does not hold up readers of the view.
 */
export async function refreshOnce(
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
    try {
      await client.query([
        'BEGIN',
        localSettings({
          lock_timeout: `${Math.ceil(lockTimeoutMs)}ms`,
          statement_timeout: `${Math.ceil(statementTimeoutMs)}ms`,
          idle_in_transaction_session_timeout: '0',
        }),
        `SELECT pg_catalog.pg_advisory_xact_lock(${namespace}::int4, ${viewKey}::int4)`,
      ].join('; '));
    } catch (error) {
      // Of these statements, only the guard waits for a lock.
      if ((error as { code?: string }).code !== '55P03') throw error;
      throw Object.assign(new Error(`${(error as Error).message}: another refresh run is refreshing ${step.view.qualifiedName} `
        + `(it held the view's guard for the whole lock_timeout of ${Math.ceil(lockTimeoutMs)} ms)`), { code: '55P03' });
    }
    // Identifiers come from the catalog and are always quoted.
    const target = `${quoteIdentifier(step.view.schema)}.${quoteIdentifier(step.view.name)}`;
    if (step.concurrently) {
      // CONCURRENTLY takes an EXCLUSIVE lock, which readers pass.
      try {
        await client.query(refreshStatement(`REFRESH MATERIALIZED VIEW CONCURRENTLY ${target}`, statementTimeoutMs));
      } catch (error) {
        if ((error as { code?: string }).code !== '55P03') throw error;
        await client.query('ROLLBACK').catch(() => undefined);
        const holders = await lockHolders(client, step.view.oid, false);
        throw Object.assign(new Error(`${(error as Error).message}: the refresh waited lock_timeout ${Math.ceil(lockTimeoutMs)} ms for ${holders}`), { code: '55P03' });
      }
    } else {
      await refreshPlain(client, step.view.oid, `REFRESH MATERIALIZED VIEW ${target}`, lockTimeoutMs, statementTimeoutMs, readerWait);
    }
    // The signals read before the refresh, committed with it: a refresh that fails keeps the old baseline.
    if (step.baseline) await client.query(step.baseline.text, step.baseline.values);
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

/** If the server goes silent (a lost network), the client gives up shortly after statement_timeout would have. */
function refreshStatement(text: string, statementTimeoutMs: number) {
  return queryWithTimeout(text, Math.ceil(statementTimeoutMs) + CLIENT_TIMEOUT_GRACE_MS);
}

/** A plain REFRESH in tries that never hold new readers up for long; see {@link PlainRefreshWait}. */
async function refreshPlain(
  client: PoolClient, viewOid: number, text: string, lockTimeoutMs: number, statementTimeoutMs: number, readerWait: ReaderWait,
): Promise<void> {
  const started = Date.now();
  let pause: number = PlainRefreshWait.FIRST_PAUSE_MS;
  for (let attempt = 0; ; attempt++) {
    const left = PlainRefreshWait.READER_WAIT_BUDGET_MS - readerWait.spentMs;
    const queued = attempt % 3 === 2 && left >= PlainRefreshWait.QUEUED_FLOOR_MS;
    const tryMs = queued ? PlainRefreshWait.QUEUED_TRY_MS : PlainRefreshWait.FAST_TRY_MS;
    if (tryMs > left) {
      const holders = await lockHolders(client, viewOid, true);
      throw new Error(`the refresh waited ${Date.now() - started} ms for ${holders}; a plain REFRESH stops trying once its tries `
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
        const holders = await lockHolders(client, viewOid, true);
        throw Object.assign(new Error(`${(error as Error).message}: the refresh waited ${waited} ms of lock_timeout ${lockTimeoutMs} ms `
          + `for ${holders}, which a plain REFRESH waits out in short tries so as not to lock new readers out`), { code: '55P03' });
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(PlainRefreshWait.MAX_PAUSE_MS, Math.round(pause * 1.5));
    }
  }
}

interface LockHolder {
  readonly pid: number;
  readonly schema: string;
  readonly name: string;
  readonly mode: string;
  readonly application: string | null;
  readonly state: string | null;
  readonly on_view: boolean;
}

/** How long naming the holders of a lock may take; it only adds to a message. */
const LOCK_HOLDERS_TIMEOUT_MS = 2_000;

/**
 * Who holds the locks a refresh of the view waits for, as a phrase for its message: locks on the view that its
 * refresh's lock conflicts with (any, for a plain REFRESH's ACCESS EXCLUSIVE; all but readers' ACCESS SHARE, for
 * CONCURRENTLY's EXCLUSIVE), and ACCESS EXCLUSIVE locks on what the view's query reads (directly or through plain
 * views), such as a migration's. Each names the relation, the mode and the process. Read just after the wait
 * gave up, when the holder usually still holds its lock; never throws.
 */
async function lockHolders(client: ClientBase, viewOid: number, plain: boolean): Promise<string> {
  try {
    const { rows } = await client.query<LockHolder>({
      ...queryWithTimeout(`
        WITH RECURSIVE reads(rel) AS (
            SELECT d.refobjid FROM pg_catalog.pg_rewrite r
              JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
             WHERE r.ev_class = $1 AND r.rulename = '_RETURN' AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> $1
          UNION
            SELECT d.refobjid FROM reads
              JOIN pg_catalog.pg_class c ON c.oid = reads.rel AND c.relkind = 'v'
              JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN'
              JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                         AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> c.oid
        )
        SELECT l.pid, n.nspname AS schema, c.relname AS name, l.mode, a.application_name AS application, a.state, l.relation = $1 AS on_view
          FROM pg_catalog.pg_locks l
          JOIN pg_catalog.pg_class c ON c.oid = l.relation
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
           AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
           AND ((l.relation = $1 AND ($2 OR l.mode <> 'AccessShareLock'))
                OR (l.relation IN (SELECT rel FROM reads) AND l.mode = 'AccessExclusiveLock'))
         ORDER BY on_view, l.pid
         LIMIT 6`, LOCK_HOLDERS_TIMEOUT_MS),
      values: [viewOid, plain],
    });
    if (rows.length === 0) return 'a lock that was released before its holder could be named';
    const described = rows.slice(0, 5).map((row) => {
      const relation = formatRelationName(row.schema, row.name);
      const who = row.application === APPLICATION_NAME
        ? `another refresh run (pid ${row.pid})`
        : `pid ${row.pid}${row.application ? ` (application ${JSON.stringify(row.application.slice(0, 64))}${row.state ? `, ${row.state}` : ''})` : ''}`;
      const what = row.on_view && row.mode === 'AccessShareLock' ? `a reader of ${relation}` : `${lockModeName(row.mode)} on ${relation}`;
      return `${what} held by ${who}`;
    });
    return `${described.join(', ')}${rows.length > 5 ? ' and more' : ''}`;
  } catch {
    return 'a lock whose holder could not be read';
  }
}

/** `AccessExclusiveLock` as PostgreSQL's documentation writes it: ACCESS EXCLUSIVE. */
function lockModeName(mode: string): string {
  return mode.replace(/Lock$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}
