import type { ClientBase } from 'pg';
import type { StatsEpoch } from './change-signals';
import { RefreshError } from '../shared/refresh-error';

/** The schema the orchestrator owns in the views' database, holding what change detection keeps between runs. */
export const STATE_SCHEMA = 'itc_orchestrator';
/** Per view, the signals read before its last successful refresh, committed with that refresh. */
export const BASELINE_TABLE = `${STATE_SCHEMA}.view_baseline`;

/** What a view's last successful refresh saw. */
export interface Baseline {
  /** `schema.name` of the view then; another name means another view under a reused OID. */
  readonly viewName: string;
  readonly epoch: StatsEpoch;
  /** Per source key (`r<oid>`, `f<oid>`), its signal. */
  readonly sources: Readonly<Record<string, string>>;
}

/**
 * Creates the schema and the baseline table when they are missing, in statements of their own (outside the run
 * lock's transaction, so no run waits on another's catalog locks). Two first runs at once may both try: the
 * loser's error is ignored when the table is there after all.
 */
export async function ensureBaselineTable(client: ClientBase): Promise<void> {
  const { rows: [{ present }] } = await client.query<{ present: boolean }>(`SELECT pg_catalog.to_regclass('${BASELINE_TABLE}') IS NOT NULL AS present`);
  if (present) return;
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${STATE_SCHEMA}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${BASELINE_TABLE} (
      view_oid oid PRIMARY KEY,
      view_name text NOT NULL,
      epoch jsonb NOT NULL,
      sources jsonb NOT NULL,
      refreshed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
    )`);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '42501') {
      throw new RefreshError('PERMISSION_DENIED', `Nothing was refreshed: change detection keeps its state in the schema ${STATE_SCHEMA}, `
        + `which the role may not create (${(error as Error).message}): GRANT CREATE ON DATABASE to the role, or create the schema `
        + `for it (CREATE SCHEMA ${STATE_SCHEMA} AUTHORIZATION <role>)`);
    }
    const { rows: [{ present: now }] } = await client.query<{ present: boolean }>(`SELECT pg_catalog.to_regclass('${BASELINE_TABLE}') IS NOT NULL AS present`);
    if (!now) throw error;
  }
}

/** The stored baselines of the given views, as one JSON document: one parse rather than two per view. */
export async function readBaselines(client: ClientBase, views: readonly number[]): Promise<Map<number, Baseline>> {
  const { rows: [{ baselines }] } = await client.query<{ baselines: Record<string, [string, StatsEpoch, Record<string, string>]> | null }>(
    `SELECT pg_catalog.json_object_agg(view_oid, pg_catalog.json_build_array(view_name, epoch, sources)) AS baselines
       FROM ${BASELINE_TABLE} WHERE view_oid = ANY($1::oid[])`, [views]);
  return new Map(Object.entries(baselines ?? {}).map(([oid, [viewName, epoch, sources]]) => [Number(oid), { viewName, epoch, sources }]));
}

/** A statement storing a view's baseline; run in the refresh's own transaction, so both commit or neither. */
export interface BaselineWrite {
  readonly text: string;
  readonly values: unknown[];
}

export function baselineWrite(viewOid: number, baseline: Baseline): BaselineWrite {
  return {
    text: `INSERT INTO ${BASELINE_TABLE} (view_oid, view_name, epoch, sources, refreshed_at)
           VALUES ($1, $2, $3, $4, pg_catalog.now())
           ON CONFLICT (view_oid) DO UPDATE
             SET view_name = EXCLUDED.view_name, epoch = EXCLUDED.epoch, sources = EXCLUDED.sources, refreshed_at = EXCLUDED.refreshed_at`,
    values: [viewOid, baseline.viewName, JSON.stringify(baseline.epoch), JSON.stringify(baseline.sources)],
  };
}
