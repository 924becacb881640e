import type { Client } from 'pg';
import { abandon } from './pg-internals';
import { RefreshError } from '../shared/refresh-error';

/**
 * Client-side bounds on the run's own session, for a server that stops answering without closing the
 * connection (a blackholed network, a frozen host): there, statement_timeout and lock_timeout never fire.
 * Each phase may take the server's own bound plus the grace; past that, the connection is abandoned and the
 * phase fails with a {@link RefreshError} saying the server went silent.
 */
export class SilenceGuard {
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
