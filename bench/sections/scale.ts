import { performance } from 'node:perf_hooks';
import { withClient } from '../../local/pg';
import { viewsOutOfTime } from '../../src/engine/out-of-time';
import type { ViewOutcome } from '../../src/engine/outcome';
import { RefreshEnv } from '../../src/shared/contract';
import { BenchContext } from '../context';
import { successfulReports } from '../handler-process';
import { median, round } from '../stats';

/**
 * Section 5: a large selection. Thousands of trivial materialized views in a dependency tree, some
 * edges through plain views, so that planning (the catalog's dependency walk, the topological
 * order) and scheduling (the ready queue) show what they cost per view, and the report's size can
 * be checked against the 256 KiB Step Functions allows a task's output.
 */
export interface ScaleSettings {
  readonly views: number;
  /** Warm invocations measured, after one cold invocation. */
  readonly repetitions: number;
}

export interface ScaleResult {
  readonly views: number;
  readonly repetitions: number;
  /** Median planning time of the warm invocations, as the report states it. */
  readonly planningMs: number;
  /** One connection, one REFRESH after another, in dependency order: the statements alone. Fastest run. */
  readonly rawSequentialMs: number;
  /** Fastest warm invocation at concurrency 1. */
  readonly engineMs: number;
  /**
   * Engine time minus the raw REFRESH time, per view, each the fastest of its runs: the least disturbed by
   * other work on the machine, which otherwise moves both by more than the difference.
   */
  readonly overheadPerViewMs: number;
  /** The handler process's own CPU time (median warm invocation), per view: what the engine itself costs. */
  readonly engineCpuPerViewMs: number;
  /** The report as JSON, in bytes (UTF-8). */
  readonly reportBytes: number;
  /** The handler process's peak resident memory over its invocations, in MiB. */
  readonly peakMemoryMiB: number;
  /**
   * The out-of-time analysis (`viewsOutOfTime`) of a run of this DAG whose first view ran out of time, so that
   * every other view is skipped as its dependent: its worst case. Median of five, in ms.
   */
  readonly viewsOutOfTimeMs: number;
}

const SCHEMA = 'wide';

/** View i reads view (i - 1) / 2, every third one through a plain view, and every fifth one also reads view i - 1. */
export function scaleViewSql(index: number): string[] {
  const name = (i: number) => `${SCHEMA}.view_${String(i).padStart(5, '0')}`;
  if (index === 0) return [`CREATE MATERIALIZED VIEW ${name(0)} AS SELECT 1 AS one`];
  const parent = Math.floor((index - 1) / 2);
  const statements: string[] = [];
  let source = name(parent);
  if (index % 3 === 0) {
    const plain = `${SCHEMA}.plain_${String(index).padStart(5, '0')}`;
    statements.push(`CREATE VIEW ${plain} AS SELECT one FROM ${source}`);
    source = plain;
  }
  const extra = index % 5 === 0 ? ` UNION ALL SELECT one FROM ${name(index - 1)}` : '';
  statements.push(`CREATE MATERIALIZED VIEW ${name(index)} AS SELECT one FROM ${source}${extra} LIMIT 1`);
  return statements;
}

export async function benchmarkScale(context: BenchContext, settings: ScaleSettings): Promise<ScaleResult> {
  const database = await context.server.createDatabase('bench_scale');
  await withClient(database, async (client) => {
    context.log(`scale: creating ${settings.views} materialized views`);
    // Commits do not wait for the WAL flush, here and in the engine's sessions: each REFRESH of a trivial
    // view is then cheap, so that what the engine adds per view is not lost in the disk's latency.
    await client.query(`ALTER DATABASE "${database.database}" SET synchronous_commit = off`);
    await client.query('SET synchronous_commit = off');
    await client.query(`CREATE SCHEMA ${SCHEMA}`);
    const statements = Array.from({ length: settings.views }, (_, i) => scaleViewSql(i)).flat();
    for (let i = 0; i < statements.length; i += 200) {
      await client.query(statements.slice(i, i + 200).join(';\n'));
    }
    await client.query('CHECKPOINT');
  });
  const rawRuns: number[] = [];
  const rawRun = () => withClient(database, async (client) => {
    await client.query('SET synchronous_commit = off');
    const started = performance.now();
    for (let i = 0; i < settings.views; i++) {
      await client.query(`REFRESH MATERIALIZED VIEW ${SCHEMA}.view_${String(i).padStart(5, '0')}`);
    }
    rawRuns.push(performance.now() - started);
  });

  // Raw runs before and after the engine's, so that a change in the machine's load shows in both.
  await rawRun();
  const result = await context.handlers.run({
    bundle: context.bundle,
    database,
    settings: { [RefreshEnv.SCHEMAS]: JSON.stringify([SCHEMA]), [RefreshEnv.CONCURRENCY]: '1' },
    invocations: 1 + settings.repetitions,
  });
  await rawRun();
  const reports = successfulReports(result, 'scale');
  const incomplete = reports.find((report) => report.totals.refreshed !== settings.views);
  if (incomplete) {
    throw new Error(`scale: the engine refreshed ${incomplete.totals.refreshed} of ${settings.views} views`);
  }
  const [, ...warm] = result.invocations.map((invocation) => invocation.durationMs);
  const warmCpu = result.invocations.slice(1).map((invocation) => invocation.cpuMs);
  const warmReports = reports.slice(1);
  const rawSequentialMs = Math.min(...rawRuns);
  const engineMs = Math.min(...warm);
  const planningMs = median(warmReports.map((report) => report.planningMs));
  const reportBytes = Math.max(...reports.map((report) => Buffer.byteLength(JSON.stringify(report))));
  const peakMemoryMiB = Math.max(...result.invocations.map((invocation) => invocation.maxRssMiB));
  const viewsOutOfTimeMs = timeViewsOutOfTime(settings.views);
  context.log(`scale: planning ${planningMs.toFixed(0)} ms, raw ${rawRuns.map((ms) => ms.toFixed(0)).join(' / ')} ms, `
    + `engine ${warm.map((ms) => ms.toFixed(0)).join(' / ')} ms (CPU ${warmCpu.map((ms) => ms.toFixed(0)).join(' / ')} ms), report ${reportBytes} B, `
    + `peak memory ${peakMemoryMiB.toFixed(0)} MiB, viewsOutOfTime ${viewsOutOfTimeMs.toFixed(1)} ms`);
  return {
    views: settings.views,
    repetitions: settings.repetitions,
    planningMs: round(planningMs),
    rawSequentialMs: round(rawSequentialMs),
    engineMs: round(engineMs),
    overheadPerViewMs: round((engineMs - rawSequentialMs) / settings.views, 2),
    engineCpuPerViewMs: round(median(warmCpu) / settings.views, 2),
    reportBytes,
    peakMemoryMiB: round(peakMemoryMiB),
    viewsOutOfTimeMs: round(viewsOutOfTimeMs, 1),
  };
}

/**
 * Times `viewsOutOfTime` on the outcomes of this DAG with its root out of time: every other view skipped as the
 * dependent of the first dependency it reads, listed last view first, the order the quadratic version paid most for.
 */
function timeViewsOutOfTime(views: number): number {
  const name = (i: number) => `${SCHEMA}.view_${String(i).padStart(5, '0')}`;
  const outcomes: ViewOutcome[] = Array.from({ length: views }, (_, k) => {
    const i = views - 1 - k;
    const base = { view: name(i), status: 'skipped' as const, concurrently: false, durationMs: 0, attempts: 0, reason: '' };
    return i === 0
      ? { ...base, cause: { kind: 'out-of-time', when: 'not-started' } }
      : { ...base, cause: { kind: 'dependency', on: name(Math.floor((i - 1) / 2)) } };
  });
  const runs = Array.from({ length: 5 }, () => {
    const started = performance.now();
    const { notStarted } = viewsOutOfTime(outcomes);
    if (notStarted.length !== views) throw new Error(`scale: viewsOutOfTime found ${notStarted.length} of ${views} views`);
    return performance.now() - started;
  });
  return median(runs);
}
