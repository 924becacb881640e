import type { RefreshConfig } from './config';
import type { ViewOutcome } from './outcome';

/** The most view names an out-of-time summary lists in each group; the details name them all. */
const MAX_LISTED_VIEWS = 20;

/**
 * The views a run did not refresh because its time ran out: those stopped mid-refresh, and those never
 * started, directly or because a view they depend on was stopped or never started.
 */
export function viewsOutOfTime(outcomes: readonly ViewOutcome[]): { stopped: string[]; notStarted: string[] } {
  const outOfTime = (when: 'stopped' | 'not-started') => outcomes
    .filter((view) => view.cause?.kind === 'out-of-time' && view.cause.when === when)
    .map((view) => view.view);
  const stopped = outOfTime('stopped');
  const affected = new Set([...stopped, ...outOfTime('not-started')]);
  // Dependents are skipped naming the one view they waited for; follow those links until nothing changes.
  let grew = true;
  while (grew) {
    grew = false;
    for (const view of outcomes) {
      if (view.cause?.kind === 'dependency' && !affected.has(view.view) && affected.has(view.cause.on)) {
        affected.add(view.view);
        grew = true;
      }
    }
  }
  return { stopped, notStarted: outcomes.filter((view) => affected.has(view.view) && !stopped.includes(view.view)).map((view) => view.view) };
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
