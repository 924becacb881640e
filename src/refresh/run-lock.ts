import type { ClientBase } from 'pg';
import { OverlapPolicy, RefreshReport } from './contract';

/**
 * The advisory lock key of refresh runs. Advisory locks are scoped to the current database, so this is one
 * lock per database: runs against different databases never wait for each other.
 * The value spells "itc-refr" in ASCII, out of the way of other applications' keys.
 */
export const RUN_LOCK_KEY = '7598807518124795506';

export type LockOutcome = RefreshReport['lock'];

/**
 * Takes the run lock on the given session; it is held until the session ends or {@link releaseRunLock}.
 * Under WAIT, blocks up to `waitMs` (through lock_timeout, so the wait is the server's and ends exactly);
 * under SKIP, only tries once.
 */
export async function acquireRunLock(client: ClientBase, policy: OverlapPolicy, waitMs: number): Promise<LockOutcome> {
  const { rows } = await client.query<{ locked: boolean }>('SELECT pg_catalog.pg_try_advisory_lock($1::int8) AS locked', [RUN_LOCK_KEY]);
  if (rows[0].locked) return 'acquired';
  if (policy === OverlapPolicy.SKIP || waitMs < 1) return 'not-acquired';

  await client.query("SELECT pg_catalog.set_config('lock_timeout', $1, false)", [`${Math.floor(waitMs)}ms`]);
  try {
    await client.query('SELECT pg_catalog.pg_advisory_lock($1::int8)', [RUN_LOCK_KEY]);
    return 'acquired-after-wait';
  } catch (error) {
    // lock_timeout, or the session's statement_timeout (the invocation's time) if that comes first.
    const code = (error as { code?: string }).code;
    if (code === '55P03' || code === '57014') return 'not-acquired';
    throw error;
  } finally {
    await client.query("SELECT pg_catalog.set_config('lock_timeout', '0', false)");
  }
}

export async function releaseRunLock(client: ClientBase): Promise<void> {
  await client.query('SELECT pg_catalog.pg_advisory_unlock($1::int8)', [RUN_LOCK_KEY]);
}
