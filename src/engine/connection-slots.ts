import type { PoolClient } from 'pg';
import { MIN_REFRESH_BUDGET_MS } from './budget';
import { describeError, isAuthenticationFailure, isTooManyConnections } from './errors';

/** What the refreshes need of a pool: a pg Pool has it, and so does a pool that changes credentials. */
export interface ConnectionSource {
  /** The connections open or opening. */
  readonly totalCount: number;
  connect(): Promise<PoolClient>;
  once(event: 'release', listener: () => void): unknown;
  off(event: 'release', listener: () => void): unknown;
}

export interface SlotOptions {
  readonly pool: ConnectionSource;
  readonly concurrency: number;
  /** Epoch milliseconds after which no connection is waited for. */
  readonly deadline: number;
  /**
   * Called when the server rejects a refresh's connection with an authentication failure (the password may have
   * rotated). Resolves true when the pool now has other credentials to try once more.
   */
  readonly reauthenticate?: () => Promise<boolean>;
  /** Called when the server refused a connection for lack of slots and the run goes on with `connections`. */
  readonly onConnectionLimit?: (connections: number) => void;
}

/** The server refused a refresh's connection for lack of free slots (53300). */
export class NoConnectionSlot extends Error {
  constructor(readonly refusal: unknown) {
    super(describeError(refusal));
  }
}

/**
 * How many refreshes may hold a connection at once. It starts at the configured concurrency and shrinks to
 * the connections the run holds when the server refuses another one, so the run never asks for slots that
 * other clients (or its own refreshes) hold.
 */
export interface ConnectionSlots {
  readonly limit: () => number;
  /** After a refusal: go on with the connections the run holds now (at least one). */
  readonly shrink: () => void;
  /** Resolves when one of the run's connections is handed back, or after `ms`, whichever comes first. */
  readonly waitForRelease: (ms: number) => Promise<void>;
}

export function connectionSlots(options: SlotOptions): ConnectionSlots {
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

/**
 * A pool connection for one refresh. An authentication failure asks for fresh credentials once and tries again;
 * a refusal for lack of slots becomes {@link NoConnectionSlot}, so the view waits instead of failing.
 */
export async function acquireConnection(options: SlotOptions, reauthenticated = false): Promise<PoolClient> {
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
async function connectBefore(pool: ConnectionSource, deadline: number): Promise<PoolClient> {
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
