import type { RefreshConfig } from './config';
import type { ViewOutcome } from './outcome';

/** The most view names an out-of-time summary lists in each group; the details name them all. */
const MAX_LISTED_VIEWS = 20;

/**
 * The views a run did not refresh because its time ran out: those stopped mid-refresh, and those never
 * started, directly or because a view they depend on was stopped or never started.
 */
export function viewsOutOfTime(outcomes: readonly ViewOutcome[]): { stopped: string[]; notStarted: string[] } {
  // Dependents are skipped naming the one view they waited for: a forest of links, walked once from its roots.
  const skippedFor = new Map<string, string[]>();
  for (const view of outcomes) {
    if (view.cause?.kind !== 'dependency') continue;
    const list = skippedFor.get(view.cause.on);
    if (list) list.push(view.view);
    else skippedFor.set(view.cause.on, [view.view]);
  }
  const stopped = new Set<string>();
  const affected = new Set<string>();
  const stack: string[] = [];
  for (const view of outcomes) {
    if (view.cause?.kind !== 'out-of-time') continue;
    if (view.cause.when === 'stopped') stopped.add(view.view);
    if (!affected.has(view.view)) {
      affected.add(view.view);
      stack.push(view.view);
    }
  }
  while (stack.length > 0) {
    for (const dependent of skippedFor.get(stack.pop()!) ?? []) {
      if (affected.has(dependent)) continue;
      affected.add(dependent);
      stack.push(dependent);
    }
  }
  return {
    stopped: outcomes.filter((view) => stopped.has(view.view)).map((view) => view.view),
    notStarted: outcomes.filter((view) => affected.has(view.view) && !stopped.has(view.view)).map((view) => view.view),
  };
}

/**
 * Names the views the run did not refresh because its time ran out, and what to change so the next run has
 * the time it needs. Empty when the time did not run out.
 */
export function outOfTimeSummary(outcomes: readonly ViewOutcome[], compute: RefreshConfig['compute']): string {
  const { stopped, notStarted } = viewsOutOfTime(outcomes);
  if (stopped.length === 0 && notStarted.length === 0) return '';
  const list = (names: string[]) => names.length <= MAX_LISTED_VIEWS
    ? names.join(', ')
    : `${names.slice(0, MAX_LISTED_VIEWS).join(', ')} and ${names.length - MAX_LISTED_VIEWS} more`;
  const groups = [
    stopped.length > 0 && `stopped: ${list(stopped)}`,
    notStarted.length > 0 && `never started: ${list(notStarted)}`,
  ].filter(Boolean).join('; ');
  const advice = compute === 'fargate'
    ? 'Raise `runTimeout` of RefreshCompute.fargate() so the views fit in one run'
    : 'A Lambda invocation lasts at most 15 minutes: run the refresh as an ECS Fargate task with '
      + 'RefreshCompute.fargate(), which has no such limit (see "Long refreshes" in the README)';
  return `. The run ran out of time (${groups}). ${advice}`;
}
