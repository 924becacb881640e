import type { RefreshConfig } from './config';
import { logger, recordRun } from './observability';
import { outOfTimeSummary } from './out-of-time';
import { toViewReport, ViewOutcome } from './outcome';
import type { PlannedRefresh } from './plan';
import { ChangedTable, RefreshReport, ReportLimits, RunSelection, ViewReport } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

/** The longest message of the failure error; Step Functions keeps up to 32 KB of cause. */
const MAX_FAILURE_MESSAGE = 8_000;

/** What a run did, for its report. */
export interface RunResult {
  readonly startedAt: Date;
  readonly lock: RefreshReport['lock'];
  readonly planningMs: number;
  readonly views: readonly ViewOutcome[];
  readonly selection: RunSelection;
  /** Why the run lock was lost, if it was. */
  readonly lockLost?: string;
  /** Per view, the selected views it waited for: the plan's `dependsOn`. */
  readonly dependencies?: ReadonlyMap<string, readonly string[]>;
}

/** Each planned view's dependencies among the selected views, for the report. */
export function planDependencies(plan: readonly PlannedRefresh[]): ReadonlyMap<string, readonly string[]> {
  return new Map(plan.map((step) => [step.view.qualifiedName, step.dependsOn]));
}

/** The view as the report lists it: with the views it waited for, when there are any. */
function reportView(outcome: ViewOutcome, dependencies: RunResult['dependencies']): ViewReport {
  const dependsOn = dependencies?.get(outcome.view);
  return dependsOn && dependsOn.length > 0 ? { ...toViewReport(outcome), dependsOn: [...dependsOn] } : toViewReport(outcome);
}

/** A view the run did not start, with why. */
export function skippedView(step: PlannedRefresh, reason: string): ViewOutcome {
  return { view: step.view.qualifiedName, status: 'skipped', concurrently: false, durationMs: 0, attempts: 0, reason };
}

/** Reports the run; throws unless every view was refreshed or the run was skipped for the lock. */
export function finishRun(run: RunResult, config: RefreshConfig): RefreshReport {
  const { startedAt, lock, views, lockLost } = run;
  const count = (status: ViewReport['status']) => views.filter((view) => view.status === status).length;
  const listed = reportedViews(views.map((view) => reportView(view, run.dependencies)));
  const report: RefreshReport = {
    status: lock === 'not-acquired' ? 'skipped' : 'succeeded',
    lock,
    concurrency: config.concurrency,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    planningMs: run.planningMs,
    views: listed,
    viewsOmitted: views.length - listed.length,
    totals: { selected: views.length, refreshed: count('refreshed'), failed: count('failed'), skipped: count('skipped') },
    selection: run.selection,
  };
  boundReport(report);
  recordRun(report);
  logger.info('Refresh run finished', { report });

  const notRefreshed = views.filter((view) => view.status !== 'refreshed');
  if (lock !== 'not-acquired' && notRefreshed.length > 0) {
    const details = notRefreshed.map((view) =>
      view.status === 'failed'
        ? `${view.view} failed after ${view.attempts} attempt(s): ${view.reason}`
        : `${view.view} skipped: ${view.reason}`,
    );
    let message = `${notRefreshed.length} of ${views.length} materialized views were not refreshed `
      + `(${report.totals.failed} failed, ${report.totals.skipped} skipped, ${report.totals.refreshed} refreshed)`
      + `${outOfTimeSummary(views, config.compute)}: ${details.join('; ')}`;
    if (lockLost) message = `The run lock was lost (${lockLost}), so the run started no more refreshes. ${message}`;
    if (message.length > MAX_FAILURE_MESSAGE) message = `${message.slice(0, MAX_FAILURE_MESSAGE - 1)}…`;
    throw new RefreshError(lockLost ? 'RUN_LOCK_LOST' : 'VIEWS_FAILED', message);
  }
  if (lockLost) {
    throw new RefreshError('RUN_LOCK_LOST', `The run lock was lost (${lockLost}) after every view was refreshed; `
      + 'another run may have refreshed the same views at the same time, each view one refresh at a time');
  }
  return report;
}

/**
 * The views the report lists: as many as fit in {@link ReportLimits.VIEWS_BYTES} of JSON, failed ones first,
 * then skipped, then refreshed, each kind in plan order; returned in plan order, reasons shortened.
 */
export function reportedViews(views: readonly ViewReport[]): ViewReport[] {
  const rank: Record<ViewReport['status'], number> = { failed: 0, skipped: 1, refreshed: 2 };
  const byPriority = views.map((view, index) => ({ view, index })).sort((a, b) => rank[a.view.status] - rank[b.view.status] || a.index - b.index);
  const chosen: Array<{ view: ViewReport; index: number }> = [];
  let size = 2;
  for (const entry of byPriority) {
    const view = shortenReason(entry.view);
    const entrySize = Buffer.byteLength(JSON.stringify(view)) + 1;
    if (size + entrySize > ReportLimits.VIEWS_BYTES) break;
    size += entrySize;
    chosen.push({ view, index: entry.index });
  }
  return chosen.sort((a, b) => a.index - b.index).map((entry) => entry.view);
}

function shortenReason(view: ViewReport): ViewReport {
  if (view.reason === undefined || view.reason.length <= ReportLimits.REASON_CHARS) return view;
  return { ...view, reason: `${view.reason.slice(0, ReportLimits.REASON_CHARS - 1)}…` };
}

/**
 * Keeps the whole report within {@link ReportLimits.REPORT_BYTES}. Its parts are bounded each (the views, the
 * changed tables, the reason); should they still add up to more, the changed tables go first, counted.
 */
function boundReport(report: { -readonly [K in keyof RefreshReport]: RefreshReport[K] }): void {
  if (Buffer.byteLength(JSON.stringify(report)) <= ReportLimits.REPORT_BYTES) return;
  const tables: ChangedTable[] = report.selection.tables ?? [];
  report.selection = { ...report.selection, tables: [], omittedTables: (report.selection.omittedTables ?? 0) + tables.length };
  while (report.views.length > 0 && Buffer.byteLength(JSON.stringify(report)) > ReportLimits.REPORT_BYTES) {
    const dropped = Math.max(1, Math.ceil(report.views.length / 10));
    report.views = report.views.slice(0, report.views.length - dropped);
    report.viewsOmitted += dropped;
  }
}
