import { performance } from 'node:perf_hooks';
import { Client, ClientConfig } from 'pg';
import { connect, withClient } from '../../local/pg';
import { RefreshEnv } from '../../src/shared/contract';
import { BenchContext } from '../context';
import { createFactTable, criticalPathMs, Dag, generateDag, installDag, totalWorkMs } from '../dag-schema';
import { successfulReports } from '../handler-process';
import { median, round } from '../stats';

/**
 * Section 1: how long the engine takes to refresh a DAG of materialized views, against what a
 * fixed list does (each view refreshed in turn) and against the lower bound no schedule can beat.
 */
export interface WallTimeSettings {
  readonly seed: number;
  readonly factRows: number;
  /** Bounds of the fact rows one view aggregates: its refresh cost. */
  readonly minRows: number;
  readonly maxRows: number;
  readonly repetitions: number;
  readonly dags: ReadonlyArray<{ readonly views: number; readonly concurrencies: readonly number[] }>;
}

export interface EngineRun {
  readonly concurrency: number;
  /** Median over the repetitions, of the handler invocation (connect, plan, lock, refresh, report). */
  readonly wallMs: number;
  readonly runsMs: number[];
  readonly speedUp: number;
  /** `max(critical path, total work / min(concurrency, cores))`. */
  readonly boundMs: number;
  readonly boundRatio: number;
}

export interface DagResult {
  readonly schema: string;
  readonly views: number;
  readonly chains: number;
  readonly fanIn: number;
  /** Each view's refresh time alone: median over the baseline runs. */
  readonly singleRefreshMs: { readonly min: number; readonly median: number; readonly max: number };
  readonly totalWorkMs: number;
  readonly criticalPathMs: number;
  readonly baseline: { readonly wallMs: number; readonly runsMs: number[] };
  /**
   * What this machine gave at the time: independent views refreshed at once on `cores` connections,
   * against one after another (ideal: `cores`). Well below that, other load shared the cores.
   */
  readonly parallelCapacity: { readonly views: string[]; readonly speedUp: number; readonly runs: number[] };
  readonly engine: EngineRun[];
}

export interface WallTimeResult {
  readonly factRows: number;
  readonly repetitions: number;
  readonly cores: number;
  readonly dags: DagResult[];
}

export async function benchmarkWallTime(context: BenchContext, settings: WallTimeSettings): Promise<WallTimeResult> {
  const database = await context.server.createDatabase('bench_wall_time');
  const dags = settings.dags.map((plan) => ({
    plan,
    dag: generateDag(`dag${plan.views}`, plan.views, { seed: settings.seed, minRows: settings.minRows, maxRows: settings.maxRows }),
  }));

  return withClient(database, async (client) => {
    context.log(`wall time: loading ${settings.factRows.toLocaleString('en-US')} fact rows`);
    await createFactTable(client, settings.factRows);
    for (const { dag } of dags) {
      context.log(`wall time: creating ${dag.views.length} materialized views in ${dag.schema}`);
      await installDag(client, dag);
    }
    // Loading wrote hundreds of MB of WAL: flush it now, not during the measurements.
    await client.query('CHECKPOINT');

    const results: DagResult[] = [];
    for (const { dag, plan } of dags) {
      const baselineRuns: number[] = [];
      const viewSamples = new Map<string, number[]>(dag.views.map((view) => [view.name, []]));
      const engineRuns = new Map<number, number[]>(plan.concurrencies.map((concurrency) => [concurrency, []]));
      const heads = dag.views.filter((view) => view.parents.length === 0).slice(0, context.cores).map((view) => view.name);
      const capacityRuns: number[] = [];

      // Baseline and engine runs alternate, so drifting background load spreads over all of them.
      for (let repetition = 1; repetition <= settings.repetitions; repetition++) {
        const baseline = await refreshSequentially(client, dag, viewSamples);
        baselineRuns.push(baseline);
        const capacity = await parallelCapacity(client, database, heads);
        capacityRuns.push(capacity);
        context.log(
          `wall time: ${dag.schema} run ${repetition}/${settings.repetitions}: baseline ${baseline.toFixed(0)} ms; ` +
          `${heads.length} raw REFRESHes at once ${capacity.toFixed(2)}× faster than in turn`,
        );
        for (const concurrency of plan.concurrencies) {
          const wall = await refreshWithEngine(context, database, dag, concurrency);
          engineRuns.get(concurrency)!.push(wall);
          context.log(`wall time: ${dag.schema} run ${repetition}/${settings.repetitions}: engine at concurrency ${concurrency} ${wall.toFixed(0)} ms`);
        }
      }

      const single = new Map([...viewSamples].map(([name, samples]) => [name, median(samples)]));
      const work = totalWorkMs(dag, single);
      const criticalPath = criticalPathMs(dag, single);
      const baselineMs = median(baselineRuns);
      results.push({
        schema: dag.schema,
        views: dag.views.length,
        chains: dag.chains,
        fanIn: dag.fanIn,
        singleRefreshMs: {
          min: round(Math.min(...single.values())),
          median: round(median([...single.values()])),
          max: round(Math.max(...single.values())),
        },
        totalWorkMs: round(work),
        criticalPathMs: round(criticalPath),
        baseline: { wallMs: round(baselineMs), runsMs: baselineRuns.map((ms) => round(ms)) },
        parallelCapacity: { views: heads, speedUp: round(median(capacityRuns), 2), runs: capacityRuns.map((ratio) => round(ratio, 2)) },
        engine: [...engineRuns].map(([concurrency, runs]) => {
          const wallMs = median(runs);
          const boundMs = Math.max(criticalPath, work / Math.min(concurrency, context.cores));
          return {
            concurrency,
            wallMs: round(wallMs),
            runsMs: runs.map((ms) => round(ms)),
            speedUp: round(baselineMs / wallMs, 2),
            boundMs: round(boundMs),
            boundRatio: round(wallMs / boundMs, 2),
          };
        }),
      });
    }
    return { factRows: settings.factRows, repetitions: settings.repetitions, cores: context.cores, dags: results };
  });
}

/** The baseline: one connection, one REFRESH after another, in dependency order. Records each view's time. */
async function refreshSequentially(client: Client, dag: Dag, samples: Map<string, number[]>): Promise<number> {
  const started = performance.now();
  for (const view of dag.views) {
    const viewStarted = performance.now();
    await client.query(`REFRESH MATERIALIZED VIEW ${view.name}`);
    samples.get(view.name)!.push(performance.now() - viewStarted);
  }
  return performance.now() - started;
}

/** Refreshes independent views one after another, then all at once, each on its own connection; returns the speed-up. */
async function parallelCapacity(client: Client, database: ClientConfig, views: readonly string[]): Promise<number> {
  const others = await Promise.all(views.slice(1).map(() => connect(database)));
  try {
    const sequentialStarted = performance.now();
    for (const view of views) {
      await client.query(`REFRESH MATERIALIZED VIEW ${view}`);
    }
    const sequential = performance.now() - sequentialStarted;
    const parallelStarted = performance.now();
    await Promise.all([client, ...others].map((connection, i) => connection.query(`REFRESH MATERIALIZED VIEW ${views[i]}`)));
    return sequential / (performance.now() - parallelStarted);
  } finally {
    await Promise.all(others.map((other) => other.end().catch(() => undefined)));
  }
}

/** One engine run over the DAG's schema; checks that it refreshed every view with a plain REFRESH, as the baseline does. */
async function refreshWithEngine(context: BenchContext, database: ClientConfig, dag: Dag, concurrency: number): Promise<number> {
  const result = await context.handlers.run({
    bundle: context.bundle,
    database,
    settings: { [RefreshEnv.SCHEMAS]: JSON.stringify([dag.schema]), [RefreshEnv.CONCURRENCY]: String(concurrency) },
  });
  const [report] = successfulReports(result, `engine on ${dag.schema} at concurrency ${concurrency}`);
  const refreshed = new Set(report.views.filter((view) => view.status === 'refreshed').map((view) => view.view));
  const missing = dag.views.filter((view) => !refreshed.has(view.name)).map((view) => view.name);
  if (missing.length > 0 || refreshed.size !== dag.views.length) {
    throw new Error(`engine on ${dag.schema}: refreshed ${refreshed.size} of ${dag.views.length} views; missing ${missing.join(', ') || 'none'}`);
  }
  if (report.views.some((view) => view.concurrently)) {
    throw new Error(`engine on ${dag.schema}: used CONCURRENTLY on views without a unique index`);
  }
  return result.invocations[0].durationMs;
}
