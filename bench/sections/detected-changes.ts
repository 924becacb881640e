import { ClientConfig } from 'pg';
import { withClient } from '../../local/pg';
import { RefreshEnv, RefreshEvent, RefreshReport } from '../../src/shared/contract';
import { BenchContext } from '../context';
import { createFactTable, DagView, generateDag, installDag } from '../dag-schema';
import { successfulReports } from '../handler-process';
import { median, round } from '../stats';
import { downstreamOf } from './changed-tables';

/**
 * Section 7: refresh by the changes the database shows (`ITC_REFRESH_DETECT_CHANGES`). The changed-tables DAG;
 * one chain's input changes through plain SQL, with no report: a detection run against a full refresh. Then the
 * signal read alone, on a database of many tables: a run in which nothing changed.
 */
export interface DetectedChangesSettings {
  readonly seed: number;
  readonly factRows: number;
  readonly minRows: number;
  readonly maxRows: number;
  readonly views: number;
  readonly concurrency: number;
  readonly repetitions: number;
  /** Tables of the signal-read database, read by `signalViews` views, as many tables each. */
  readonly signalTables: number;
  readonly signalViews: number;
}

export interface DetectedChangesResult {
  readonly views: number;
  readonly concurrency: number;
  readonly repetitions: number;
  readonly changedTable: string;
  readonly viewsRefreshed: number;
  readonly fullMs: number;
  readonly fullWorkMs: number;
  readonly detectedMs: number;
  readonly detectedRunsMs: number[];
  readonly detectedWorkMs: number;
  /** The signal read of the detection runs (the report's `readMs`), median. */
  readonly detectedReadMs: number;
  readonly nothingChangedMs: number;
  readonly saving: number;
  readonly workSaving: number;
  readonly signalTables: number;
  readonly signalViews: number;
  /** The report's `readMs` on the signal-read database, per run, and their median. */
  readonly signalReadRunsMs: number[];
  readonly signalReadMs: number;
  /** The same after one of its tables changed, per run, and their median: one view refreshed. */
  readonly signalReadAfterWriteRunsMs: number[];
  readonly signalReadAfterWriteMs: number;
  /** The whole run on that database when nothing changed. */
  readonly signalRunMs: number;
}

export async function benchmarkDetectedChanges(context: BenchContext, settings: DetectedChangesSettings): Promise<DetectedChangesResult> {
  const database = await context.server.createDatabase('bench_detected_changes');
  const dag = generateDag(`detected${settings.views}`, settings.views, { seed: settings.seed, minRows: settings.minRows, maxRows: settings.maxRows });
  const inputOf = (view: DagView) => (view.parents.length === 0 ? `${dag.schema}.input_${view.name.split('.')[1].split('_')[0]}` : undefined);
  const head = dag.views.find((view) => view.parents.length === 0)!;
  const changedTable = inputOf(head)!;
  const expected = downstreamOf(dag, head.name);
  const all = new Set(dag.views.map((view) => view.name));
  await withClient(database, async (client) => {
    context.log(`detected changes: loading ${settings.factRows.toLocaleString('en-US')} fact rows and ${dag.views.length} views`);
    await createFactTable(client, settings.factRows);
    await installDag(client, dag, inputOf);
    await client.query('CHECKPOINT');
  });
  const schemas = { [RefreshEnv.SCHEMAS]: JSON.stringify([dag.schema]), [RefreshEnv.CONCURRENCY]: String(settings.concurrency) };
  const detect = { ...schemas, [RefreshEnv.DETECT_CHANGES]: 'true' };

  // The first detection run has no baselines: it refreshes everything and stores them.
  check((await refresh(context, database, detect, {})).report, all, 'first detection run');
  const full: number[] = [];
  const fullWork: number[] = [];
  const detected: number[] = [];
  const detectedWork: number[] = [];
  const detectedRead: number[] = [];
  for (let repetition = 1; repetition <= settings.repetitions; repetition++) {
    const whole = await refresh(context, database, schemas, {});
    check(whole.report, all, 'full refresh');
    full.push(whole.ms);
    fullWork.push(workOf(whole.report));
    // A plain SQL write from a session that has ended: no pipeline says what changed.
    await withClient(database, (client) => client.query(`INSERT INTO ${changedTable} VALUES (${repetition})`));
    const run = await refresh(context, database, detect, {});
    check(run.report, expected, `detection run after ${changedTable} changed`);
    detected.push(run.ms);
    detectedWork.push(workOf(run.report));
    detectedRead.push(run.report.selection.changes!.readMs);
    context.log(`detected changes: run ${repetition}/${settings.repetitions}: full ${whole.ms.toFixed(0)} ms, ` +
      `${expected.size} views detected ${run.ms.toFixed(0)} ms (signal read ${run.report.selection.changes!.readMs} ms)`);
  }
  const nothing = await refresh(context, database, detect, {});
  check(nothing.report, new Set(), 'detection run when nothing changed');

  const signal = await signalRead(context, settings);
  return {
    views: dag.views.length,
    concurrency: settings.concurrency,
    repetitions: settings.repetitions,
    changedTable,
    viewsRefreshed: expected.size,
    fullMs: round(median(full)),
    fullWorkMs: round(median(fullWork)),
    detectedMs: round(median(detected)),
    detectedRunsMs: detected.map((ms) => round(ms)),
    detectedWorkMs: round(median(detectedWork)),
    detectedReadMs: round(median(detectedRead)),
    nothingChangedMs: round(nothing.ms),
    saving: round(1 - median(detected) / median(full), 2),
    workSaving: round(1 - median(detectedWork) / median(fullWork), 2),
    ...signal,
  };
}

/** Many small tables, each view reading as many of them: the signal read when nothing changed. */
async function signalRead(context: BenchContext, settings: DetectedChangesSettings) {
  const database = await context.server.createDatabase('bench_signal_read');
  const perView = Math.ceil(settings.signalTables / settings.signalViews);
  context.log(`detected changes: creating ${settings.signalTables.toLocaleString('en-US')} tables and ${settings.signalViews} views`);
  await withClient(database, async (client) => {
    await client.query('CREATE SCHEMA signals');
    await client.query(`DO $$ BEGIN
      FOR i IN 0..${settings.signalTables - 1} LOOP
        EXECUTE format('CREATE TABLE signals.t%s (id int)', i);
        IF i % 3 = 0 THEN EXECUTE format('INSERT INTO signals.t%s VALUES (1)', i); END IF;
      END LOOP;
      FOR v IN 0..${settings.signalViews - 1} LOOP
        EXECUTE format('CREATE MATERIALIZED VIEW signals.mv%s AS SELECT count(*)::int AS n FROM (%s) s', v,
          (SELECT string_agg(format('SELECT id FROM signals.t%s', t), ' UNION ALL ')
             FROM generate_series(v * ${perView}, least((v + 1) * ${perView}, ${settings.signalTables}) - 1) t));
      END LOOP;
    END $$`);
  });
  const env = { [RefreshEnv.SCHEMAS]: JSON.stringify(['signals']), [RefreshEnv.DETECT_CHANGES]: 'true' };
  await refresh(context, database, env, {});
  const runs: number[] = [];
  let last = 0;
  for (let run = 0; run < Math.max(3, settings.repetitions); run++) {
    const nothing = await refresh(context, database, env, {});
    check(nothing.report, new Set(), 'signal read');
    runs.push(nothing.report.selection.changes!.readMs);
    last = nothing.ms;
  }
  // One table written by plain SQL: the view reading it is refreshed, and only it.
  const afterWrite: number[] = [];
  for (let run = 0; run < Math.max(3, settings.repetitions); run++) {
    const table = run * perView * 7 % settings.signalTables;
    await withClient(database, (client) => client.query(`INSERT INTO signals.t${table} VALUES (${run})`));
    const one = await refresh(context, database, env, {});
    check(one.report, new Set([`signals.mv${Math.floor(table / perView)}`]), `signal read after signals.t${table} changed`);
    afterWrite.push(one.report.selection.changes!.readMs);
  }
  context.log(`detected changes: signal read at ${settings.signalTables} tables: ${runs.join(', ')} ms; after one write: ${afterWrite.join(', ')} ms`);
  return {
    signalTables: settings.signalTables,
    signalViews: settings.signalViews,
    signalReadRunsMs: runs,
    signalReadMs: round(median(runs)),
    signalReadAfterWriteRunsMs: afterWrite,
    signalReadAfterWriteMs: round(median(afterWrite)),
    signalRunMs: round(last),
  };
}

function workOf(report: RefreshReport): number {
  return report.views.reduce((total, view) => total + view.durationMs, 0);
}

async function refresh(context: BenchContext, database: ClientConfig, settings: Record<string, string>, event: RefreshEvent) {
  const result = await context.handlers.run({ bundle: context.bundle, database, event, settings });
  const [report] = successfulReports(result, `detected changes: ${JSON.stringify(event)}`);
  return { report, ms: result.invocations[0].durationMs };
}

function check(report: RefreshReport, expected: ReadonlySet<string>, what: string): void {
  const refreshed = report.views.filter((view) => view.status === 'refreshed').map((view) => view.view);
  if (refreshed.length !== expected.size || refreshed.some((view) => !expected.has(view))) {
    throw new Error(`${what}: refreshed ${refreshed.join(', ') || 'nothing'}; expected ${[...expected].join(', ') || 'nothing'}`);
  }
}
