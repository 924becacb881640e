import type { PoolClient } from 'pg';
import { queryWithTimeout } from './pg-internals';
import type { PlannedRefresh } from './plan';
import { viewLockKeys } from './run-lock';
import { quoteIdentifier } from '../shared/names';

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

/** If the server goes silent (a lost network), the client gives up shortly after statement_timeout would have. */
function refreshStatement(text: string, statementTimeoutMs: number) {
  return queryWithTimeout(text, Math.ceil(statementTimeoutMs) + CLIENT_TIMEOUT_GRACE_MS);
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
