import { performance } from 'node:perf_hooks';
import { withClient } from '../../local/pg';
import { RefreshEnv } from '../../src/shared/contract';
import { BenchContext } from '../context';
import { successfulReports } from '../handler-process';
import { median, round } from '../stats';

/**
 * Section 4: what the engine adds per view beyond the REFRESH itself (catalog planning, the
 * advisory lock, per-refresh settings, logs and metrics). Trivial views make the REFRESH nearly
 * free, so the engine's own work shows. Warm invocations at concurrency 1, so per-view costs add up.
 */
export interface OverheadSettings {
  readonly views: number;
  /** Warm invocations measured (after one cold invocation) and raw sequential passes. */
  readonly repetitions: number;
}

export interface OverheadResult {
  readonly views: number;
  readonly repetitions: number;
  /** One connection, one REFRESH after another: the statements alone. */
  readonly rawSequentialMs: number;
  /** Median warm invocation of the engine at concurrency 1. */
  readonly engineMs: number;
  readonly coldEngineMs: number;
  /** Engine time per view. */
  readonly enginePerViewMs: number;
  /** Engine time minus the raw REFRESH time, per view. */
  readonly overheadPerViewMs: number;
}

const SCHEMA = 'trivial';

export async function benchmarkOverhead(context: BenchContext, settings: OverheadSettings): Promise<OverheadResult> {
  const database = await context.server.createDatabase('bench_overhead');
  const views = Array.from({ length: settings.views }, (_, i) => `${SCHEMA}.view_${String(i + 1).padStart(3, '0')}`);
  const rawRuns = await withClient(database, async (client) => {
    context.log(`overhead: creating ${settings.views} trivial materialized views`);
    await client.query(`CREATE SCHEMA ${SCHEMA}`);
    for (const view of views) {
      await client.query(`CREATE MATERIALIZED VIEW ${view} AS SELECT 1 AS one`);
    }
    await client.query('CHECKPOINT');
    const runs: number[] = [];
    for (let repetition = 0; repetition < settings.repetitions; repetition++) {
      const started = performance.now();
      for (const view of views) {
        await client.query(`REFRESH MATERIALIZED VIEW ${view}`);
      }
      runs.push(performance.now() - started);
    }
    return runs;
  });

  const result = await context.handlers.run({
    bundle: context.bundle,
    database,
    settings: { [RefreshEnv.SCHEMAS]: JSON.stringify([SCHEMA]), [RefreshEnv.CONCURRENCY]: '1' },
    invocations: 1 + settings.repetitions,
  });
  const reports = successfulReports(result, 'overhead');
  const incomplete = reports.find((report) => report.totals.refreshed !== settings.views);
  if (incomplete) {
    throw new Error(`overhead: the engine refreshed ${incomplete.totals.refreshed} of ${settings.views} views`);
  }

  const [cold, ...warm] = result.invocations.map((invocation) => invocation.durationMs);
  const rawSequentialMs = median(rawRuns);
  const engineMs = median(warm);
  context.log(`overhead: raw ${rawSequentialMs.toFixed(0)} ms, engine ${engineMs.toFixed(0)} ms for ${settings.views} views`);
  return {
    views: settings.views,
    repetitions: settings.repetitions,
    rawSequentialMs: round(rawSequentialMs),
    engineMs: round(engineMs),
    coldEngineMs: round(cold),
    enginePerViewMs: round(engineMs / settings.views, 2),
    overheadPerViewMs: round((engineMs - rawSequentialMs) / settings.views, 2),
  };
}
