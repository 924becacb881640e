import { EventEmitter } from 'node:events';
import type { Pool, PoolClient } from 'pg';
import { createPool } from './connection';
import type { ConnectionSource } from './connection-slots';
import type { ConnectionSettings } from './credentials';

/**
 * The refreshes' connections, up to `max` at a time. After a credential rotation the next connections come from
 * a fresh pool opened with the new credentials; the previous pool closes its idle connections at once and each
 * busy one when its refresh hands it back. Emits the `connect`, `remove` and `release` events of every pool.
 */
export class RefreshPool extends EventEmitter implements ConnectionSource {
  private readonly pools: Pool[] = [];
  private readonly endings: Array<Promise<void>> = [];
  private current: Pool;

  constructor(private readonly max: number, settings: ConnectionSettings, timeoutMs: number) {
    super();
    // Each refresh waiting for a connection slot listens for the next release.
    this.setMaxListeners(max + 10);
    this.current = this.open(settings, timeoutMs);
  }

  /** The connections open or opening, in every pool: they all hold a slot on the server. */
  get totalCount(): number {
    return this.pools.reduce((total, pool) => total + pool.totalCount, 0);
  }

  connect(): Promise<PoolClient> {
    return this.current.connect();
  }

  /** Opens the next connections with other credentials; those open already serve their refresh to its end. */
  useCredentials(settings: ConnectionSettings, timeoutMs: number): void {
    const previous = this.current;
    this.current = this.open(settings, timeoutMs);
    this.close(previous);
  }

  /** Closes every pool; resolves once each has closed its connections. */
  async end(): Promise<void> {
    this.close(this.current);
    await Promise.all(this.endings);
  }

  private open(settings: ConnectionSettings, timeoutMs: number): Pool {
    const pool = createPool(settings, this.max, timeoutMs);
    for (const event of ['connect', 'remove', 'release'] as const) {
      pool.on(event, (...args: unknown[]) => this.emit(event, ...args));
    }
    this.pools.push(pool);
    return pool;
  }

  private close(pool: Pool): void {
    if (pool.ending) return;
    this.endings.push(pool.end().catch(() => undefined));
  }
}
