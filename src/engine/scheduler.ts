import { connectionSlots, SlotOptions } from './connection-slots';
import { Heap } from './heap';
import type { ViewOutcome } from './outcome';
import type { PlannedRefresh } from './plan';
import type { RefreshTimeouts } from './refresh-sql';
import { refreshView } from './retry';

export type { RefreshTimeouts } from './refresh-sql';

export interface ExecutionOptions extends SlotOptions {
  readonly lockTimeoutMs: number;
  /** Undefined: bounded only by the deadline. */
  readonly statementTimeoutMs?: number;
  readonly maxAttempts: number;
  /** Backoff before attempt n+1 is about `retryBaseDelayMs * 2^(n-1)`, jittered, at most `retryMaxDelayMs`. */
  readonly retryBaseDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  /** Values never to repeat in a reason, e.g. the password. */
  readonly secrets: readonly string[];
  /** Why no refresh may start any more (e.g. the run lock was lost); undefined while refreshes may start. */
  readonly stopReason?: () => string | undefined;
  /** Called when a refresh attempt starts and when a view's outcome is known. */
  readonly onAttempt?: (step: PlannedRefresh, attempt: number) => void;
  readonly onDone?: (step: PlannedRefresh, outcome: ViewOutcome) => void;
  /**
   * Runs one attempt at refreshing a view within the given timeouts, throwing what the database threw.
   * @default - REFRESH MATERIALIZED VIEW on a connection of `pool`
   */
  readonly refresh?: (step: PlannedRefresh, timeouts: RefreshTimeouts) => Promise<void>;
}

/**
 * Runs the plan with a ready queue: up to `concurrency` refreshes at once, each on its own connection. A view
 * starts as soon as every view it depends on has been refreshed, not when a whole level is done; among ready
 * views, those with the longest chain of dependents go first. A view that fails takes all its dependents with
 * it (skipped, never refreshed on stale input); independent views go on.
 *
 * @returns one outcome per planned view, in plan order
 */
export async function executePlan(plan: readonly PlannedRefresh[], options: ExecutionOptions): Promise<ViewOutcome[]> {
  const byName = new Map(plan.map((step) => [step.view.qualifiedName, step]));
  const position = new Map(plan.map((step, index) => [step, index]));
  const outcomes = new Map<string, ViewOutcome>();
  const pendingDeps = new Map(plan.map((step) => [step.view.qualifiedName, step.dependsOn.length]));
  // Longest chain of dependents first, then plan order.
  const ready = new Heap<PlannedRefresh>((a, b) => b.height - a.height || position.get(a)! - position.get(b)!);
  const slots = connectionSlots(options);
  let running = 0;

  // Iterative, not recursive: a failure at the head of a chain thousands of views deep skips the whole chain.
  const finish = (first: PlannedRefresh, firstOutcome: ViewOutcome) => {
    const work: Array<[PlannedRefresh, ViewOutcome]> = [[first, firstOutcome]];
    while (work.length > 0) {
      const [step, outcome] = work.pop()!;
      outcomes.set(step.view.qualifiedName, outcome);
      options.onDone?.(step, outcome);
      for (const name of step.dependents) {
        if (outcome.status === 'refreshed') {
          const left = pendingDeps.get(name)! - 1;
          pendingDeps.set(name, left);
          if (left === 0 && !outcomes.has(name)) ready.push(byName.get(name)!);
          continue;
        }
        const dependent = byName.get(name)!;
        // A view that cannot be refreshed fails with its own reason, not as a dependent.
        if (outcomes.has(name) || dependent.blocker) continue;
        const on = step.view.qualifiedName;
        const skipped: ViewOutcome = {
          view: name,
          status: 'skipped',
          concurrently: false,
          durationMs: 0,
          attempts: 0,
          reason: `depends on ${on}, which was not refreshed`,
          cause: { kind: 'dependency', on },
        };
        // Claimed now, so that a view reached twice is skipped once, naming the first view it was reached from.
        outcomes.set(name, skipped);
        work.push([dependent, skipped]);
      }
    }
  };

  // Views that cannot be refreshed fail first, without waiting for their dependencies, and take their
  // dependents with them.
  for (const step of plan) {
    if (step.blocker) {
      finish(step, { view: step.view.qualifiedName, status: 'failed', concurrently: false, durationMs: 0, attempts: 0, reason: step.blocker });
    }
  }

  for (const step of plan) if (step.dependsOn.length === 0 && !outcomes.has(step.view.qualifiedName)) ready.push(step);

  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (running < slots.limit() && ready.size > 0) {
        const step = ready.pop()!;
        running++;
        refreshView(step, options, slots).then((outcome) => {
          running--;
          finish(step, outcome);
          pump();
        }, reject);
      }
      if (running === 0 && ready.size === 0) resolve();
    };
    pump();
  });

  return plan.map((step) => outcomes.get(step.view.qualifiedName)!);
}
