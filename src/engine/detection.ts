import type { Baseline } from './baselines';
import type { ChangeSignals, StatsEpoch } from './change-signals';
import type { DetectedView } from '../shared/contract';

/** How many changed sources a view's entry names; the count covers the rest. */
export const MAX_SOURCES_NAMED = 10;

/** A candidate view as detection needs it. */
export interface DetectionCandidate {
  readonly oid: number;
  readonly name: string;
  readonly populated: boolean;
}

/** Per candidate view, whether to refresh it and why, and the baseline to store with its refresh. */
export interface Detection {
  /** Every candidate, in the order given, with its decision. */
  readonly views: ReadonlyArray<DetectedView & { readonly oid: number }>;
  /** Why every view is refreshed, when the whole database's signals cannot be trusted. */
  readonly fullRefreshReason?: string;
  /** Per candidate, what its refresh stores: the signals read before it. */
  readonly baselines: ReadonlyMap<number, Baseline>;
}

const EPOCH_FIELDS: ReadonlyArray<[keyof StatsEpoch, string]> = [
  ['system', 'the database cluster is another one (restored, copied or upgraded: pg_control_system().system_identifier changed)'],
  ['started', 'the server restarted or another server took over (pg_postmaster_start_time() changed)'],
  ['sharedReset', 'the server crashed or its shared statistics were reset (pg_stat_bgwriter.stats_reset changed)'],
  ['databaseReset', 'statistics of this database were reset (pg_stat_database.stats_reset changed)'],
];

/** Why the epoch of a baseline is not the current one, or undefined when it is. */
export function epochChange(stored: StatsEpoch, current: StatsEpoch): string | undefined {
  for (const [field, reason] of EPOCH_FIELDS) {
    if ((stored[field] ?? null) !== (current[field] ?? null)) return reason;
  }
  return undefined;
}

/**
 * Decides, per candidate view, whether the database proves it unchanged since its last successful refresh.
 * A view is refreshed when: writes may go uncounted; it has no baseline (or one of a view of another name);
 * the statistics epoch moved; it is not populated; it reads something no signal covers; a source's signal
 * differs from its baseline, or a source came or went; or it reads a candidate this run refreshes.
 */
export function detectChanges(candidates: readonly DetectionCandidate[], signals: ChangeSignals, stored: ReadonlyMap<number, Baseline>): Detection {
  const baselines = new Map<number, Baseline>();
  const decided = new Map<number, DetectedView>();
  const candidateOids = new Set(candidates.map((view) => view.oid));
  for (const view of candidates) {
    const sources = signals.sources.get(view.oid) ?? [];
    const current: Record<string, string> = {};
    // An untrackable source is stored as such: its definition is never taken for one found trackable before.
    for (const source of sources) {
      if (source.signal !== undefined) current[source.key] = source.untrackable === undefined ? source.signal : `untrackable:${source.signal}`;
    }
    baselines.set(view.oid, { viewName: view.name, epoch: signals.epoch, sources: current });

    const baseline = stored.get(view.oid);
    const untrackable = sources.filter((source) => source.untrackable !== undefined)
      .map((source) => (source.key === `r${view.oid}` ? `the view itself: ${source.untrackable}` : `${source.name}: ${source.untrackable}`));
    decided.set(view.oid, decide(view, signals, baseline, current, untrackable, sources));
  }

  // A view reading a candidate this run refreshes changes with it; the walk is transitive, so one pass does.
  for (const view of candidates) {
    if (decided.get(view.oid)!.decision !== 'unchanged') continue;
    const upstream = (signals.sources.get(view.oid) ?? [])
      .map((source) => Number(source.key.slice(1)))
      .find((oid) => oid !== view.oid && candidateOids.has(oid) && decided.get(oid)!.decision !== 'unchanged');
    if (upstream !== undefined) decided.set(view.oid, { view: view.name, decision: 'upstream', sources: [decided.get(upstream)!.view] });
  }

  const reasons = new Set([...decided.values()].filter((view) => view.decision === 'full-refresh').map((view) => view.detail!));
  const allFull = candidates.length > 0 && [...decided.values()].every((view) => view.decision === 'full-refresh');
  return {
    views: candidates.map((view) => ({ oid: view.oid, ...decided.get(view.oid)! })),
    ...(allFull ? { fullRefreshReason: [...reasons].join('; ') } : {}),
    baselines,
  };
}

/** One view's decision, before the views it reads from this run are taken into account. */
function decide(
  view: DetectionCandidate, signals: ChangeSignals, baseline: Baseline | undefined, current: Record<string, string>,
  untrackable: readonly string[], sources: ReadonlyArray<{ key: string; name: string }>,
): DetectedView {
  const epoch = baseline && epochChange(baseline.epoch, signals.epoch);
  if (signals.uncounted) return { view: view.name, decision: 'full-refresh', detail: signals.uncounted };
  if (!baseline || baseline.viewName !== view.name) return { view: view.name, decision: 'no-baseline' };
  if (epoch) return { view: view.name, decision: 'full-refresh', detail: epoch };
  if (untrackable.length > 0) return { view: view.name, decision: 'untrackable', detail: untrackable.join('; ') };
  if (!view.populated) return { view: view.name, decision: 'not-populated' };
  const byKey = new Map(sources.map((source) => [source.key, source.name]));
  const moved = Object.keys(current).filter((key) => baseline.sources[key] !== current[key]).map((key) => byKey.get(key)!).sort();
  const gone = Object.keys(baseline.sources).filter((key) => !(key in current));
  if (moved.length === 0 && gone.length === 0) return { view: view.name, decision: 'unchanged' };
  return {
    view: view.name,
    decision: 'changed',
    sources: moved.slice(0, MAX_SOURCES_NAMED),
    ...(moved.length > MAX_SOURCES_NAMED ? { omittedSources: moved.length - MAX_SOURCES_NAMED } : {}),
    ...(gone.length > 0 ? { detail: `${gone.length} relation(s) or function(s) it read before no longer reach it` } : {}),
  };
}

/**
 * The definitions the baselines hold as trackable, as `key=signal`: their query trees were scanned when stored, and
 * an edit gives them another signal, so the signal read scans only the others.
 */
export function knownDefinitions(stored: ReadonlyMap<number, Baseline>): string[] {
  const known = new Set<string>();
  for (const baseline of stored.values()) {
    for (const [key, signal] of Object.entries(baseline.sources)) if (signal.startsWith('def:')) known.add(`${key}=${signal}`);
  }
  return [...known];
}
