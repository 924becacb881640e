import { createHash } from 'node:crypto';
import type { ClientBase } from 'pg';
import { abandon, queryWithTimeout } from './pg-internals';
import { OverlapPolicy, RefreshReport } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

/**
 * First key of the per-view guards (`pg_advisory_xact_lock(int4, int4)`, the second key is the view's OID).
 * The two-key form is a key space apart from the one-key run locks. The value spells "itcr" in ASCII.
 */
export const VIEW_LOCK_NAMESPACE = 0x69746372;

/** How often the session holding the run lock runs a query, so that no idle-session limit or job ends it. */
export const KEEP_ALIVE_INTERVAL_MS = 1_000;
/**
 * How long the lock session may take to answer one of the lock's own statements (begin, settings, keep-alive,
 * release) before it counts as silent: the session is then abandoned and the lock counts as lost. With the
 * keep-alive interval, a silent lock session is noticed within {@link KEEP_ALIVE_INTERVAL_MS} + this.
 */
export const LOCK_SESSION_REPLY_MS = 5_000;

export type LockOutcome = RefreshReport['lock'];

/**
 * The run lock's key: one per selection of views, so only runs of the same views keep each other out.
 * Runs of different selections that share views are kept apart per view by {@link viewLockKeys}.
 * Advisory locks are per database, so runs against different databases never meet.
 */
export function runLockKey(viewOids: readonly number[]): string {
  const digest = createHash('sha256').update(`itc-orchestrator run lock:${[...viewOids].sort((a, b) => a - b).join(',')}`).digest();
  return digest.readBigInt64BE(0).toString();
}

/** The two keys of a view's guard: taken by each refresh in its transaction, released when it commits. */
export function viewLockKeys(viewOid: number): [number, number] {
  // An OID is unsigned 32-bit; the lock functions take signed int4.
  return [VIEW_LOCK_NAMESPACE, viewOid > 0x7fffffff ? viewOid - 0x100000000 : viewOid];
}

/**
 * The run lock, held in an open transaction on the run's first connection: a transaction-level advisory lock
 * works the same directly, through RDS Proxy, and through pgbouncer in session or transaction mode (a pooler
 * keeps a transaction on one server connection), and it ends with the transaction, never left behind on a
 * pooled connection. The transaction runs at READ COMMITTED whatever the server's default, so it holds no
 * snapshot between statements and does not hold back vacuum; `transaction_timeout` (PostgreSQL 17 and later) and
 * the idle-in-transaction timeout are off for it, so neither ends it mid-run.
 *
 * Once the run starts refreshing ({@link keepAlive}), a query every {@link KEEP_ALIVE_INTERVAL_MS} keeps the
 * session from looking idle; each of the lock's own statements must be answered within
 * {@link LOCK_SESSION_REPLY_MS}. If the session ends, or stops answering, {@link lostReason} says why; the run
 * then starts no more refreshes.
 */
export class RunLock {
  /**
   * Begins the lock transaction on `client`. Its settings are local to the transaction: each statement (the
   * catalog queries, not the lock wait) is bounded by `timeLeftMs()`, and the server's idle-in-transaction
   * timeout is off for this transaction only.
   */
  static async begin(client: ClientBase, timeLeftMs: () => number): Promise<RunLock> {
    await client.query(bounded('BEGIN ISOLATION LEVEL READ COMMITTED'));
    const lock = new RunLock(client, timeLeftMs);
    await lock.applyStatementTimeout();
    // transaction_timeout exists from PostgreSQL 17 on; set_config would reject it by name before that.
    await client.query(bounded(`SELECT pg_catalog.set_config('idle_in_transaction_session_timeout', '0', true),
                                       CASE WHEN pg_catalog.current_setting('transaction_timeout', true) IS NOT NULL
                                            THEN pg_catalog.set_config('transaction_timeout', '0', true) END`));
    return lock;
  }

  private outcome: LockOutcome = 'not-acquired';
  private lost?: string;
  private timer?: NodeJS.Timeout;
  private keepingAlive?: Promise<unknown>;
  private ended = false;
  private silent = false;

  private constructor(private readonly client: ClientBase, private readonly timeLeftMs: () => number) {
    const onLost = (why: string) => () => this.markLost(why);
    client.on('error', (error: Error) => this.markLost(`the lock session failed: ${error.message}`));
    client.on('end', onLost('the server ended the lock session'));
  }

  /** Why the lock was lost, once it was; undefined while it is held (or before it is taken). */
  get lostReason(): string | undefined {
    return this.lost;
  }

  /**
   * Takes the lock for `key`. Under WAIT, waits up to `waitMs` (through `lock_timeout`, so the wait is the
   * server's and ends exactly); under SKIP, only tries once. A wait cancelled by an administrator throws.
   */
  async acquire(key: string, policy: OverlapPolicy, waitMs: number): Promise<LockOutcome> {
    const { rows } = await this.client.query<{ locked: boolean }>({ ...bounded('SELECT pg_catalog.pg_try_advisory_xact_lock($1::int8) AS locked'), values: [key] });
    if (rows[0].locked) return this.held('acquired');
    if (policy === OverlapPolicy.SKIP || waitMs < 1) return 'not-acquired';

    // Only lock_timeout bounds the wait, so a cancelled wait (57014) can only come from outside.
    await this.client.query({
      ...bounded("SELECT pg_catalog.set_config('lock_timeout', $1, true), pg_catalog.set_config('statement_timeout', '0', true)"),
      values: [`${Math.floor(waitMs)}ms`],
    });
    try {
      await this.client.query('SELECT pg_catalog.pg_advisory_xact_lock($1::int8)', [key]);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '55P03') return 'not-acquired';
      if (code === '57014') {
        throw new RefreshError('CANCELLED', 'The refresh run was cancelled by an administrator while it waited for the run lock; nothing was refreshed', { cause: error });
      }
      throw error;
    }
    await this.client.query(bounded("SELECT pg_catalog.set_config('lock_timeout', '0', true)"));
    await this.applyStatementTimeout();
    return this.held('acquired-after-wait');
  }

  /**
   * Checks that the lock session still answers, then ends the transaction, which releases the lock.
   * @returns why the lock was lost, if it was
   */
  async release(): Promise<string | undefined> {
    if (this.ended) return this.lost;
    this.stopKeepAlive();
    await this.keepingAlive?.catch(() => undefined);
    if (this.outcome !== 'not-acquired' && !this.lost) await this.ping();
    this.ended = true;
    if (!this.silent) await this.client.query(bounded('ROLLBACK')).catch(() => undefined);
    return this.lost;
  }

  /** Starts the keep-alive queries; the run makes no other query on this session until {@link release}. */
  keepAlive(): void {
    if (this.outcome === 'not-acquired' || this.timer || this.ended) return;
    this.timer = setInterval(() => {
      if (this.keepingAlive || this.lost) return;
      this.keepingAlive = this.ping().finally(() => (this.keepingAlive = undefined));
    }, KEEP_ALIVE_INTERVAL_MS);
    this.timer.unref();
  }

  /** One keep-alive query; no answer within {@link LOCK_SESSION_REPLY_MS} loses the lock and abandons the session. */
  private async ping(): Promise<void> {
    const started = Date.now();
    try {
      await this.client.query(bounded('SELECT 1'));
    } catch (error) {
      if (Date.now() - started >= LOCK_SESSION_REPLY_MS) {
        this.markLost(`the lock session stopped answering: no reply to a keep-alive query within ${LOCK_SESSION_REPLY_MS} ms`);
        this.silent = true;
        abandon(this.client);
      } else {
        this.markLost(`the lock session failed: ${(error as Error).message}`);
      }
    }
  }

  private held(outcome: LockOutcome): LockOutcome {
    this.outcome = outcome;
    return outcome;
  }

  private applyStatementTimeout(): Promise<unknown> {
    return this.client.query({
      ...bounded("SELECT pg_catalog.set_config('statement_timeout', $1, true)"),
      values: [`${Math.max(1, Math.floor(this.timeLeftMs()))}ms`],
    });
  }

  private markLost(why: string): void {
    if (this.ended || this.lost || this.outcome === 'not-acquired') return;
    this.lost = why;
    this.stopKeepAlive();
  }

  private stopKeepAlive(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A statement of the lock's own, which the client gives up on after {@link LOCK_SESSION_REPLY_MS}. */
function bounded(text: string) {
  return queryWithTimeout(text, LOCK_SESSION_REPLY_MS);
}
