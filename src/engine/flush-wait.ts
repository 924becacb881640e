import type { ClientBase } from 'pg';
import { APPLICATION_NAME } from './credentials';

/**
 * How long after going idle a session has surely flushed its statistics: PostgreSQL flushes at once when its last
 * flush is more than a second old, else arms a 10 s timer (`PGSTAT_IDLE_INTERVAL`), plus a margin for the flush.
 */
export const IDLE_FLUSH_MS = 10_250;

/** What the wait found: how long it waited, and for whom. */
export interface FlushWait {
  readonly waitedMs: number;
  /** Sessions that went idle within {@link IDLE_FLUSH_MS} before the run looked. */
  readonly recentlyIdle: number;
  /** Sessions of other roles whose state this role may not see (without `pg_read_all_stats`). */
  readonly hidden: number;
  /** Set when the run had too little time left to wait the whole time. */
  readonly cutShort?: string;
}

/**
 * Waits until every session of the database that went idle before now has flushed its counts, so that a change
 * committed before the run started by a session still connected and idle (a pooled connection) reaches this run.
 * Sessions idle for longer than {@link IDLE_FLUSH_MS} cost nothing; a session that went idle just before costs up
 * to that long. A session whose state is hidden from this role counts as having just gone idle.
 * @param maxWaitMs the most the run can spend waiting
 */
export async function waitForIdleFlush(client: ClientBase, maxWaitMs: number): Promise<FlushWait> {
  const { rows: [row] } = await client.query<{ wait_ms: number | null; recent: number; hidden: number }>(
    `SELECT max(CASE WHEN a.state IS NULL THEN $2::float8
                     ELSE $2::float8 - extract(epoch FROM pg_catalog.clock_timestamp() - a.state_change) * 1000 END)
              FILTER (WHERE a.state IS NULL OR (a.state = 'idle' AND a.state_change > pg_catalog.clock_timestamp() - $2::float8 * interval '1 ms')) AS wait_ms,
            count(*) FILTER (WHERE a.state = 'idle' AND a.state_change > pg_catalog.clock_timestamp() - $2::float8 * interval '1 ms')::int AS recent,
            count(*) FILTER (WHERE a.state IS NULL)::int AS hidden
       FROM pg_catalog.pg_stat_activity a
      -- A session of a role this one may not see shows no backend_type either: it counts, as hidden.
      WHERE a.datname = pg_catalog.current_database() AND (a.backend_type = 'client backend' OR a.backend_type IS NULL)
        AND a.pid <> pg_catalog.pg_backend_pid() AND a.application_name IS DISTINCT FROM $1`,
    [APPLICATION_NAME, IDLE_FLUSH_MS],
  );
  const needed = Math.max(0, Math.ceil(row.wait_ms ?? 0));
  const waitedMs = Math.min(needed, Math.max(0, maxWaitMs));
  if (waitedMs > 0) await new Promise((resolve) => setTimeout(resolve, waitedMs));
  return {
    waitedMs,
    recentlyIdle: row.recent,
    hidden: row.hidden,
    ...(waitedMs < needed ? { cutShort: `the run had ${Math.max(0, maxWaitMs)} ms to wait of the ${needed} ms idle sessions need to flush their counts` } : {}),
  };
}
