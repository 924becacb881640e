import type { BaselineWrite } from './baselines';
import type { MaterializedView } from './catalog';
import { ConcurrentRefresh } from '../shared/contract';

/** One view's step in a run. */
export interface PlannedRefresh {
  readonly view: MaterializedView;
  /** Whether to use REFRESH ... CONCURRENTLY. */
  readonly concurrently: boolean;
  /** Why the view cannot be refreshed (as configured, or at all: a dependency cycle); it fails without running. */
  readonly blocker?: string;
  /** Qualified names of the selected views it waits for. */
  readonly dependsOn: string[];
  /** Qualified names of the selected views that wait for it. */
  readonly dependents: string[];
  /** Length of the longest chain of dependents: views on the critical path start first. */
  readonly height: number;
  /** With change detection: the baseline the refresh stores in its own transaction. */
  readonly baseline?: BaselineWrite;
}

/**
 * Orders the views into a plan (dependencies first, then by name) and decides CONCURRENTLY per view.
 *
 * CONCURRENTLY needs a populated view with a usable unique index. Under AUTO, any other view gets a plain
 * REFRESH (which also populates a `WITH NO DATA` view); under ALWAYS, it fails without running.
 *
 * Views in a dependency cycle (possible through CREATE OR REPLACE VIEW) have no order: they come last in the
 * plan, after every view that can be ordered, and fail without running, naming the cycle; the views that
 * depend on them come last too and are skipped when their dependencies fail.
 */
export function planRefresh(views: readonly MaterializedView[], policy: ConcurrentRefresh): PlannedRefresh[] {
  const byOid = new Map(views.map((view) => [view.oid, view]));
  const dependents = new Map<number, number[]>(views.map((view) => [view.oid, []]));
  for (const view of views) {
    for (const dependency of view.dependsOn) if (dependency !== view.oid) dependents.get(dependency)?.push(view.oid);
  }

  const { order, unordered } = topologicalOrder(views, byOid);
  const cycles = cyclesThrough(unordered, byOid);
  const height = new Map<number, number>();
  for (const view of [...order].reverse()) {
    const below = (dependents.get(view.oid) ?? []).map((oid) => height.get(oid) ?? 0);
    height.set(view.oid, below.length === 0 ? 0 : 1 + Math.max(...below));
  }

  return [...order, ...unordered].map((view) => {
    const eligibility = concurrentEligibility(view);
    const concurrently = policy === ConcurrentRefresh.ALWAYS || (policy === ConcurrentRefresh.AUTO && eligibility === undefined);
    const cycle = cycles.get(view.oid);
    return {
      view,
      concurrently,
      blocker: cycle
        ? `not refreshed: it is in a dependency cycle: ${cycle.join(' -> ')} (each view reads the next)`
        : policy === ConcurrentRefresh.ALWAYS && eligibility ? `cannot be refreshed CONCURRENTLY: ${eligibility}` : undefined,
      dependsOn: view.dependsOn.filter((oid) => oid !== view.oid).map((oid) => byOid.get(oid)!.qualifiedName),
      dependents: (dependents.get(view.oid) ?? []).map((oid) => byOid.get(oid)!.qualifiedName),
      height: height.get(view.oid) ?? 0,
    };
  });
}

/** Why PostgreSQL would refuse REFRESH ... CONCURRENTLY for the view, or undefined when it accepts it. */
function concurrentEligibility(view: MaterializedView): string | undefined {
  if (!view.populated) return 'it is not populated (created WITH NO DATA)';
  if (!view.hasUsableUniqueIndex && view.invalidUniqueIndexes.length > 0) return invalidIndexAdvice(view.invalidUniqueIndexes);
  if (!view.hasUsableUniqueIndex) return 'it has no unique index on plain columns without a WHERE clause';
  return undefined;
}

/**
 * What an invalid unique index means and how to fix it, naming each index. A plain REFRESH rebuilds the index, and
 * so repairs it when the view's rows fit it; when they repeat its key, every refresh fails with 23505 until the
 * index is dropped or the view's query is fixed.
 */
export function invalidIndexAdvice(indexes: readonly string[]): string {
  const left = '(left by a failed CREATE UNIQUE INDEX CONCURRENTLY)';
  if (indexes.length === 1) {
    const [index] = indexes;
    return `its unique index ${index} is invalid ${left}: rebuild it with REINDEX INDEX ${index} `
      + `once the view's rows are unique on its key, or drop it with DROP INDEX ${index}`;
  }
  return `its unique indexes ${indexes.join(', ')} are invalid ${left}: rebuild each once the view's rows are unique on its key `
    + `(${indexes.map((index) => `REINDEX INDEX ${index}`).join('; ')}), or drop them with DROP INDEX ${indexes.join(', ')}`;
}

/**
 * Kahn's algorithm in rounds: each round takes every view whose dependencies are all ordered, by name, so
 * plans are stable. Linear in views and dependencies, besides sorting each round. The views left unordered
 * are in a dependency cycle or depend on one; they are returned by name.
 */
function topologicalOrder(
  views: readonly MaterializedView[],
  byOid: Map<number, MaterializedView>,
): { order: MaterializedView[]; unordered: MaterializedView[] } {
  const waitingFor = new Map<number, number>();
  const dependents = new Map<number, number[]>();
  for (const view of views) {
    const dependencies = new Set(view.dependsOn.filter((oid) => byOid.has(oid) && oid !== view.oid));
    waitingFor.set(view.oid, dependencies.size);
    for (const oid of dependencies) {
      const list = dependents.get(oid) ?? [];
      list.push(view.oid);
      dependents.set(oid, list);
    }
  }
  // One collator for every comparison: the order of localeCompare, without its per-call set-up.
  const collator = new Intl.Collator();
  const byName = (a: MaterializedView, b: MaterializedView) => collator.compare(a.qualifiedName, b.qualifiedName);
  const order: MaterializedView[] = [];
  let round = views.filter((view) => waitingFor.get(view.oid) === 0).sort(byName);
  while (round.length > 0) {
    const next: MaterializedView[] = [];
    for (const view of round) {
      order.push(view);
      for (const oid of dependents.get(view.oid) ?? []) {
        const left = waitingFor.get(oid)! - 1;
        waitingFor.set(oid, left);
        if (left === 0) next.push(byOid.get(oid)!);
      }
    }
    round = next.sort(byName);
  }
  const ordered = new Set(order.map((view) => view.oid));
  return { order, unordered: views.filter((view) => !ordered.has(view.oid)).sort(byName) };
}

/**
 * For each view in a dependency cycle, a shortest cycle through it, as qualified names from the view back to
 * itself. Only the given views (those Kahn's algorithm could not order) are searched: the strongly connected
 * components among them (Tarjan's algorithm, without recursion) with more than one view are the cycles.
 */
function cyclesThrough(views: readonly MaterializedView[], byOid: Map<number, MaterializedView>): Map<number, string[]> {
  const candidates = new Set(views.map((view) => view.oid));
  const reads = (oid: number) => byOid.get(oid)!.dependsOn.filter((dependency) => candidates.has(dependency) && dependency !== oid);
  const index = new Map<number, number>();
  const lowLink = new Map<number, number>();
  const stack: number[] = [];
  const onStack = new Set<number>();
  const components: number[][] = [];
  const frames: Array<{ oid: number; next: number }> = [];
  const enter = (oid: number) => {
    index.set(oid, index.size);
    lowLink.set(oid, index.get(oid)!);
    stack.push(oid);
    onStack.add(oid);
    frames.push({ oid, next: 0 });
  };
  for (const root of candidates) {
    if (index.has(root)) continue;
    enter(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1];
      const edges = reads(frame.oid);
      if (frame.next < edges.length) {
        const target = edges[frame.next++];
        if (!index.has(target)) {
          enter(target);
        } else if (onStack.has(target)) {
          lowLink.set(frame.oid, Math.min(lowLink.get(frame.oid)!, index.get(target)!));
        }
        continue;
      }
      frames.pop();
      if (frames.length > 0) {
        const parent = frames[frames.length - 1].oid;
        lowLink.set(parent, Math.min(lowLink.get(parent)!, lowLink.get(frame.oid)!));
      }
      if (lowLink.get(frame.oid) === index.get(frame.oid)) {
        const component: number[] = [];
        let member: number;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.oid);
        if (component.length > 1) components.push(component);
      }
    }
  }

  const cycles = new Map<number, string[]>();
  for (const component of components) {
    const members = new Set(component);
    for (const start of component) {
      // Breadth-first from the view along what it reads, inside its component, back to the view.
      const previous = new Map<number, number>();
      const queue = [start];
      let closing: number | undefined;
      while (queue.length > 0 && closing === undefined) {
        const current = queue.shift()!;
        for (const next of reads(current).filter((oid) => members.has(oid))) {
          if (next === start) {
            closing = current;
            break;
          }
          if (!previous.has(next)) {
            previous.set(next, current);
            queue.push(next);
          }
        }
      }
      const path = [start];
      for (let at = closing!; at !== start; at = previous.get(at)!) path.splice(1, 0, at);
      cycles.set(start, [...path, start].map((oid) => byOid.get(oid)!.qualifiedName));
    }
  }
  return cycles;
}
