import type { Baseline } from './baselines';
import type { ChangeSignals, SourceSignal, StatsEpoch } from './change-signals';
import type { DetectedView, DetectionDecision } from '../shared/contract';

/** How many changed sources a view's entry names; the count covers the rest. */
export const MAX_SOURCES_NAMED = 10;

/** What a baseline stores of a source: its signal, marked when no signal covers what it returns. */
export function storedSignal(source: SourceSignal): string | undefined {
  if (source.signal === undefined) return undefined;
  return source.untrackable === undefined ? source.signal : `untrackable:${source.signal}`;
}

/** A candidate view as detection needs it. */
export interface DetectionCandidate {
  readonly oid: number;
  readonly name: string;
  readonly populated: boolean;
}

/**
 * One view's decision, its sources by key: naming them takes a catalog read, done only for what the report lists
 * ({@link nameDecisions}).
 */
export interface ViewDecision {
  readonly oid: number;
  readonly view: string;
  readonly decision: DetectionDecision;
  /** With `changed`: the sources whose signal moved, by key. */
  readonly moved?: readonly string[];
  /** With `changed`: how many sources it read before no longer reach it. */
  readonly gone?: number;
  /** With `untrackable`: what no signal covers, by key, and why. */
  readonly untrackable?: ReadonlyArray<{ readonly key: string; readonly reason: string }>;
  /** With `upstream`: the view it reads that this run refreshes. */
  readonly upstream?: string;
  /** With `full-refresh`: why. */
  readonly reason?: string;
}

/** Per candidate view, whether to refresh it and why, and the baseline to store with its refresh. */
export interface Detection {
  /** Every candidate, in the order given, with its decision. */
  readonly views: readonly ViewDecision[];
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
  const decided = new Map<number, ViewDecision>();
  const candidateOids = new Set(candidates.map((view) => view.oid));
  for (const view of candidates) {
    const sources = signals.sources.get(view.oid) ?? [];
    const current: Record<string, string> = {};
    // An untrackable source is stored as such: its definition is never taken for one found trackable before.
    for (const source of sources) {
      const signal = storedSignal(source);
      if (signal !== undefined) current[source.key] = signal;
    }
    baselines.set(view.oid, { viewName: view.name, epoch: signals.epoch, sources: current });
    const untrackable = sources.filter((source) => source.untrackable !== undefined)
      .map((source) => ({ key: source.key, reason: source.untrackable! }));
    decided.set(view.oid, decide(view, signals, stored.get(view.oid), current, untrackable));
  }

  // A view reading a candidate this run refreshes changes with it; the walk is transitive, so one pass does.
  for (const view of candidates) {
    if (decided.get(view.oid)!.decision !== 'unchanged') continue;
    const upstream = (signals.sources.get(view.oid) ?? [])
      .map((source) => Number(source.key.slice(1)))
      .find((oid) => oid !== view.oid && candidateOids.has(oid) && decided.get(oid)!.decision !== 'unchanged');
    if (upstream !== undefined) decided.set(view.oid, { oid: view.oid, view: view.name, decision: 'upstream', upstream: decided.get(upstream)!.view });
  }

  const reasons = new Set([...decided.values()].filter((view) => view.decision === 'full-refresh').map((view) => view.reason!));
  const allFull = candidates.length > 0 && [...decided.values()].every((view) => view.decision === 'full-refresh');
  return {
    views: candidates.map((view) => decided.get(view.oid)!),
    ...(allFull ? { fullRefreshReason: [...reasons].join('; ') } : {}),
    baselines,
  };
}

/** One view's decision, before the views it reads from this run are taken into account. */
function decide(
  view: DetectionCandidate, signals: ChangeSignals, baseline: Baseline | undefined, current: Record<string, string>,
  untrackable: ReadonlyArray<{ key: string; reason: string }>,
): ViewDecision {
  const at = { oid: view.oid, view: view.name };
  const epoch = baseline && epochChange(baseline.epoch, signals.epoch);
  if (signals.uncounted) return { ...at, decision: 'full-refresh', reason: signals.uncounted };
  if (!baseline || baseline.viewName !== view.name) return { ...at, decision: 'no-baseline' };
  if (epoch) return { ...at, decision: 'full-refresh', reason: epoch };
  if (untrackable.length > 0) return { ...at, decision: 'untrackable', untrackable };
  if (!view.populated) return { ...at, decision: 'not-populated' };
  const moved = Object.keys(current).filter((key) => baseline.sources[key] !== current[key]);
  const gone = Object.keys(baseline.sources).filter((key) => !(key in current)).length;
  if (moved.length === 0 && gone === 0) return { ...at, decision: 'unchanged' };
  return { ...at, decision: 'changed', moved, ...(gone > 0 ? { gone } : {}) };
}

/**
 * Every candidate's decision, in the order given: `unchanged` for the views the database proved unchanged
 * (proveUnchanged), the decision made for each of the others.
 */
export function withProvenUnchanged(
  candidates: readonly DetectionCandidate[], proven: ReadonlySet<number>, decided: readonly ViewDecision[],
): ViewDecision[] {
  const byOid = new Map(decided.map((view) => [view.oid, view]));
  return candidates.map((view) => (proven.has(view.oid) ? { oid: view.oid, view: view.name, decision: 'unchanged' } : byOid.get(view.oid)!));
}

/** The sources whose names the decisions' report entries give. */
export function sourcesToName(views: readonly ViewDecision[]): string[] {
  const keys = new Set<string>();
  for (const view of views) {
    for (const key of view.moved ?? []) keys.add(key);
    for (const { key } of view.untrackable ?? []) if (key !== `r${view.oid}`) keys.add(key);
  }
  return [...keys];
}

/** The decisions as the report gives them, their sources named (`names` by key, from readSourceNames). */
export function nameDecisions(views: readonly ViewDecision[], names: ReadonlyMap<string, string>): Array<DetectedView & { oid: number }> {
  const nameOf = (key: string) => names.get(key) ?? key.slice(1);
  return views.map((view): DetectedView & { oid: number } => {
    const at = { oid: view.oid, view: view.view, decision: view.decision };
    switch (view.decision) {
      case 'changed': {
        const moved = (view.moved ?? []).map(nameOf).sort();
        return {
          ...at,
          sources: moved.slice(0, MAX_SOURCES_NAMED),
          ...(moved.length > MAX_SOURCES_NAMED ? { omittedSources: moved.length - MAX_SOURCES_NAMED } : {}),
          ...(view.gone ? { detail: `${view.gone} relation(s) or function(s) it read before no longer reach it` } : {}),
        };
      }
      case 'untrackable':
        return {
          ...at,
          detail: (view.untrackable ?? []).map(({ key, reason }) => (key === `r${view.oid}` ? `the view itself: ${reason}` : `${nameOf(key)}: ${reason}`)).join('; '),
        };
      case 'upstream':
        return { ...at, sources: [view.upstream!] };
      case 'full-refresh':
        return { ...at, detail: view.reason };
      default:
        return at;
    }
  });
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
