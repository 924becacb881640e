import type { MaterializedView } from './catalog';
import { ConcurrentRefresh } from './contract';
import { RefreshError } from './errors';

/** One view's step in a run. */
export interface PlannedRefresh {
  readonly view: MaterializedView;
  /** Whether to use REFRESH ... CONCURRENTLY. */
  readonly concurrently: boolean;
  /** Why the view cannot be refreshed as configured; it fails without running. */
  readonly blocker?: string;
  /** Qualified names of the selected views it waits for. */
  readonly dependsOn: string[];
  /** Qualified names of the selected views that wait for it. */
  readonly dependents: string[];
  /** Length of the longest chain of dependents: views on the critical path start first. */
  readonly height: number;
}

/**
 * Orders the views into a plan (dependencies first, then by name) and decides CONCURRENTLY per view.
 *
 * CONCURRENTLY needs a populated view with a usable unique index. Under AUTO, any other view gets a plain
 * REFRESH (which also populates a `WITH NO DATA` view); under ALWAYS, it fails without running.
 */
export function planRefresh(views: readonly MaterializedView[], policy: ConcurrentRefresh): PlannedRefresh[] {
  const byOid = new Map(views.map((view) => [view.oid, view]));
  const dependents = new Map<number, number[]>(views.map((view) => [view.oid, []]));
  for (const view of views) {
    for (const dependency of view.dependsOn) dependents.get(dependency)?.push(view.oid);
  }

  const order = topologicalOrder(views, byOid);
  const height = new Map<number, number>();
  for (const view of [...order].reverse()) {
    const below = (dependents.get(view.oid) ?? []).map((oid) => height.get(oid) ?? 0);
    height.set(view.oid, below.length === 0 ? 0 : 1 + Math.max(...below));
  }

  return order.map((view) => {
    const eligibility = concurrentEligibility(view);
    const concurrently = policy === ConcurrentRefresh.ALWAYS || (policy === ConcurrentRefresh.AUTO && eligibility === undefined);
    return {
      view,
      concurrently,
      blocker: policy === ConcurrentRefresh.ALWAYS && eligibility ? `cannot be refreshed CONCURRENTLY: ${eligibility}` : undefined,
      dependsOn: view.dependsOn.map((oid) => byOid.get(oid)!.qualifiedName),
      dependents: (dependents.get(view.oid) ?? []).map((oid) => byOid.get(oid)!.qualifiedName),
      height: height.get(view.oid) ?? 0,
    };
  });
}

/** Why PostgreSQL would refuse REFRESH ... CONCURRENTLY for the view, or undefined when it accepts it. */
function concurrentEligibility(view: MaterializedView): string | undefined {
  if (!view.populated) return 'it is not populated (created WITH NO DATA)';
  if (!view.hasUsableUniqueIndex) return 'it has no unique index on plain columns without a WHERE clause';
  return undefined;
}

/**
 * Kahn's algorithm in rounds: each round takes every view whose dependencies are all ordered, by name, so
 * plans are stable. Linear in views and dependencies, besides sorting each round.
 */
function topologicalOrder(views: readonly MaterializedView[], byOid: Map<number, MaterializedView>): MaterializedView[] {
  const waitingFor = new Map<number, number>();
  const dependents = new Map<number, number[]>();
  for (const view of views) {
    const dependencies = new Set(view.dependsOn.filter((oid) => byOid.has(oid)));
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
  if (order.length < views.length) {
    const ordered = new Set(order.map((view) => view.oid));
    const cycle = views.filter((view) => !ordered.has(view.oid)).map((view) => view.qualifiedName).sort().join(', ');
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: the materialized views ${cycle} depend on each other in a cycle`);
  }
  return order;
}
