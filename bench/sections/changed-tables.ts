import { ClientConfig } from 'pg';
import { withClient } from '../../local/pg';
import { RefreshEnv, RefreshEvent, RefreshReport } from '../../src/shared/contract';
import { BenchContext } from '../context';
import { createFactTable, Dag, DagView, generateDag, installDag } from '../dag-schema';
import { successfulReports } from '../handler-process';
import { median, round } from '../stats';

/**
 * Section 6: what refreshing only the views downstream of a changed table saves. The wall-time DAG's shape
 * and view costs, with each chain's first view also reading a small input table of its own; one chain's input
 * changes. The engine refreshes the whole DAG, then only what reads that input (`event.tables`), alternately.
 */
export interface ChangedTablesSettings {
  readonly seed: number;
  readonly factRows: number;
  readonly minRows: number;
  readonly maxRows: number;
  readonly views: number;
  readonly concurrency: number;
  readonly repetitions: number;
}

export interface ChangedTablesResult {
  readonly views: number;
  readonly concurrency: number;
  readonly repetitions: number;
  /** The table that changed. */
  readonly changedTable: string;
  /** Views the changed-only run refreshed. */
  readonly viewsRefreshed: number;
  readonly fullMs: number;
  readonly fullRunsMs: number[];
  readonly changedOnlyMs: number;
  readonly changedOnlyRunsMs: number[];
  /** Database time: the sum of the views' refresh times, median over the runs. */
  readonly fullWorkMs: number;
  readonly changedOnlyWorkMs: number;
  /** When no table changed: the refresh runs, plans and refreshes nothing. */
  readonly nothingChangedMs: number;
  /** 1 - changed-only / full, of the wall time. */
  readonly saving: number;
  /** 1 - changed-only / full, of the database time. */
  readonly workSaving: number;
}

export async function benchmarkChangedTables(context: BenchContext, settings: ChangedTablesSettings): Promise<ChangedTablesResult> {
  const database = await context.server.createDatabase('bench_changed_tables');
  const dag = generateDag(`changed${settings.views}`, settings.views, { seed: settings.seed, minRows: settings.minRows, maxRows: settings.maxRows });
  const inputOf = (view: DagView) => (view.parents.length === 0 ? `${dag.schema}.input_${view.name.split('.')[1].split('_')[0]}` : undefined);
  const head = dag.views.find((view) => view.parents.length === 0)!;
  const changedTable = inputOf(head)!;
  const expected = downstreamOf(dag, head.name);

  await withClient(database, async (client) => {
    context.log(`changed tables: loading ${settings.factRows.toLocaleString('en-US')} fact rows and ${dag.views.length} views`);
    await createFactTable(client, settings.factRows);
    await installDag(client, dag, inputOf);
    await client.query('CHECKPOINT');
  });

  const fullRuns: number[] = [];
  const changedRuns: number[] = [];
  const fullWork: number[] = [];
  const changedWork: number[] = [];
  for (let repetition = 1; repetition <= settings.repetitions; repetition++) {
    const full = await refresh(context, database, dag, settings.concurrency, {});
    check(full.report, new Set(dag.views.map((view) => view.name)), 'full refresh');
    fullRuns.push(full.ms);
    fullWork.push(workOf(full.report));
    await withClient(database, (client) => client.query(`INSERT INTO ${changedTable} VALUES (${repetition})`));
    const changed = await refresh(context, database, dag, settings.concurrency, { tables: [changedTable] });
    check(changed.report, expected, `refresh after ${changedTable} changed`);
    changedRuns.push(changed.ms);
    changedWork.push(workOf(changed.report));
    context.log(`changed tables: run ${repetition}/${settings.repetitions}: full ${full.ms.toFixed(0)} ms, ` +
      `${expected.size} views after one table changed ${changed.ms.toFixed(0)} ms`);
  }
  const nothing = await refresh(context, database, dag, settings.concurrency, { tables: [] });
  check(nothing.report, new Set(), 'refresh when nothing changed');

  const fullMs = median(fullRuns);
  const changedOnlyMs = median(changedRuns);
  return {
    views: dag.views.length,
    concurrency: settings.concurrency,
    repetitions: settings.repetitions,
    changedTable,
    viewsRefreshed: expected.size,
    fullMs: round(fullMs),
    fullRunsMs: fullRuns.map((ms) => round(ms)),
    changedOnlyMs: round(changedOnlyMs),
    changedOnlyRunsMs: changedRuns.map((ms) => round(ms)),
    fullWorkMs: round(median(fullWork)),
    changedOnlyWorkMs: round(median(changedWork)),
    nothingChangedMs: round(nothing.ms),
    saving: round(1 - changedOnlyMs / fullMs, 2),
    workSaving: round(1 - median(changedWork) / median(fullWork), 2),
  };
}

function workOf(report: RefreshReport): number {
  return report.views.reduce((total, view) => total + view.durationMs, 0);
}

/** The view and every view that reads it, directly or transitively. */
export function downstreamOf(dag: Dag, view: string): Set<string> {
  const selected = new Set([view]);
  for (const candidate of dag.views) {
    if (candidate.parents.some((parent) => selected.has(parent))) selected.add(candidate.name);
  }
  return selected;
}

async function refresh(context: BenchContext, database: ClientConfig, dag: Dag, concurrency: number, event: RefreshEvent) {
  const result = await context.handlers.run({
    bundle: context.bundle,
    database,
    event,
    settings: { [RefreshEnv.SCHEMAS]: JSON.stringify([dag.schema]), [RefreshEnv.CONCURRENCY]: String(concurrency) },
  });
  const [report] = successfulReports(result, `changed tables: ${JSON.stringify(event)}`);
  return { report, ms: result.invocations[0].durationMs };
}

/** The run refreshed exactly the expected views. */
function check(report: RefreshReport, expected: ReadonlySet<string>, what: string): void {
  const refreshed = report.views.filter((view) => view.status === 'refreshed').map((view) => view.view);
  if (refreshed.length !== expected.size || refreshed.some((view) => !expected.has(view))) {
    throw new Error(`${what}: refreshed ${refreshed.join(', ') || 'nothing'}; expected ${[...expected].join(', ') || 'nothing'}`);
  }
}
