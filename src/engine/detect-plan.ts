import type { Client } from 'pg';
import { baselineWrite, readBaselines } from './baselines';
import { proveUnchanged, readChangeSignals, readCountersAsTheyAre, readSourceNames, SignalContext } from './change-signals';
import { Detection, detectChanges, knownDefinitions, nameDecisions, sourcesToName, withProvenUnchanged } from './detection';
import { waitForIdleFlush } from './flush-wait';
import { recordViewUnchanged } from './observability';
import type { PlannedRefresh } from './plan';
import type { TableSelectionResult } from './selection';
import { ChangeDetectionReport, DetectedView, ReportLimits, RunSelection } from '../shared/contract';

/** Most sessions in a transaction the report names. */
export const MAX_OPEN_TRANSACTIONS_LISTED = 10;

/** What the run keeps of its time for refreshing when it waits for idle sessions' counts. */
const KEEP_FOR_REFRESH_MS = 5_000;

/** The selection by change detection, made once the run lock is held: what to refresh, and why. */
export interface DetectedPlan {
  readonly plan: PlannedRefresh[];
  readonly selection: RunSelection;
}

/**
 * Reads the change signals (after waiting for sessions that just went idle to flush their counts), decides per
 * view of `candidates` (the configured set, planned) whether the database proves it unchanged, adds the views
 * the pipelines' reported tables select, and returns the plan of the views to refresh, each carrying the
 * baseline its refresh stores.
 * @param reported the selection by the tables the pipelines reported, if they reported any
 * @param fullRefreshReason why the event asked for everything (a pipeline reported no tables): detection replaces it
 */
export async function planByDetectedChanges(
  client: Client, candidates: readonly PlannedRefresh[], reported: TableSelectionResult | undefined,
  fullRefreshReason: string | undefined, timeLeftMs: () => number,
): Promise<DetectedPlan> {
  const started = Date.now();
  const wait = await waitForIdleFlush(client, timeLeftMs() - KEEP_FOR_REFRESH_MS);
  const oids = candidates.map((step) => step.view.oid);
  const byReport = new Set(reported?.oids ?? []);
  const candidateViews = candidates.map((step) => ({ oid: step.view.oid, name: step.view.qualifiedName, populated: step.view.populated }));
  await readCountersAsTheyAre(client);
  // A reported view stores a baseline with its refresh: its signals are read in full.
  const proof = await proveUnchanged(client, oids, candidateViews.filter((view) => view.populated && !byReport.has(view.oid)));
  const rest = candidateViews.filter((view) => !proof.unchanged.has(view.oid));
  let signals: SignalContext = proof;
  let detection: Detection = { views: [], baselines: new Map() };
  if (rest.length > 0) {
    const restOids = rest.map((view) => view.oid);
    const stored = await readBaselines(client, restOids);
    const read = await readChangeSignals(client, oids, {
      roots: restOids,
      known: knownDefinitions(stored),
      storedWalks: new Map([...stored].map(([oid, baseline]) => [oid, baseline.sources])),
    });
    signals = read;
    detection = detectChanges(rest, read, stored);
  }
  const decisions = withProvenUnchanged(candidateViews, proof.unchanged, detection.views);
  const readMs = Date.now() - started;
  const named = nameDecisions(decisions, await readSourceNames(client, sourcesToName(decisions)));

  const decided: Array<DetectedView & { oid: number }> = named.map((view) =>
    (view.decision === 'unchanged' && byReport.has(view.oid) ? { oid: view.oid, view: view.view, decision: 'reported' } : view));
  const selected = new Set(decided.filter((view) => view.decision !== 'unchanged').map((view) => view.view));
  for (const view of decided) if (view.decision === 'unchanged') recordViewUnchanged(view.view);

  const plan = candidates.filter((step) => selected.has(step.view.qualifiedName)).map((step) => ({
    ...step,
    dependsOn: step.dependsOn.filter((name) => selected.has(name)),
    dependents: step.dependents.filter((name) => selected.has(name)),
    baseline: baselineWrite(step.view.oid, detection.baselines.get(step.view.oid)!),
  }));

  const warnings: string[] = [];
  if (signals.uncounted) warnings.push(`${signals.uncounted}: writes may go uncounted, so every run refreshes every view; turn track_counts on`);
  if (wait.cutShort) warnings.push(`${wait.cutShort}: a change they committed may reach the next run only`);
  if (wait.hidden > 0) {
    warnings.push(`${wait.hidden} session(s) of other roles hide their state from this role, so the run waited for their counts in any case; `
      + 'GRANT pg_read_all_stats to the role to wait only when needed');
  }
  if (signals.openTransactions.length > 0) {
    warnings.push(`${signals.openTransactions.length} session(s) were inside a transaction: what they commit reaches the next run`);
  }
  const changes: ChangeDetectionReport = {
    selected: plan.length,
    unchanged: decided.length - plan.length,
    ...(detection.fullRefreshReason ? { fullRefreshReason: detection.fullRefreshReason } : {}),
    ...listedViews(decided),
    readMs,
    flushWaitMs: wait.waitedMs,
    openTransactions: signals.openTransactions.slice(0, MAX_OPEN_TRANSACTIONS_LISTED).map((session) => ({ ...session })),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
  const notes = [
    plan.length === 0 ? 'nothing changed: the database shows no change to what the views read since their last refresh' : undefined,
    fullRefreshReason ? `${fullRefreshReason}; change detection found what changed instead` : undefined,
  ].filter(Boolean);
  const selection: RunSelection = {
    basis: 'changes',
    ...(notes.length > 0 ? { reason: notes.join('; ') } : {}),
    ...(reported ? { tables: reported.tables, ...(reported.omittedTables > 0 ? { omittedTables: reported.omittedTables } : {}) } : {}),
    changes,
  };
  return { plan, selection };
}

/** The decisions the report lists: refreshed views first, then unchanged ones, within the selection's byte bound. */
function listedViews(views: ReadonlyArray<DetectedView & { oid: number }>): { views: DetectedView[]; omittedViews: number } {
  const ordered = [...views.filter((view) => view.decision !== 'unchanged'), ...views.filter((view) => view.decision === 'unchanged')];
  const listed: DetectedView[] = [];
  let size = 2;
  for (const { oid: _oid, ...view } of ordered) {
    const entrySize = Buffer.byteLength(JSON.stringify(view)) + 1;
    if (size + entrySize > ReportLimits.SELECTION_BYTES) break;
    size += entrySize;
    listed.push(view);
  }
  return { views: listed, omittedViews: views.length - listed.length };
}
