import type { ViewReport } from '../shared/contract';

/** Why a view was not refreshed, as data the run decides on; the view's `reason` says the same in words. */
export type NotRefreshedCause =
  /** The run's time ran out: the refresh was stopped for it, or never started. */
  | { readonly kind: 'out-of-time'; readonly when: 'stopped' | 'not-started' }
  /** Skipped because the view it waited for (`on`, as the report names it) was not refreshed. */
  | { readonly kind: 'dependency'; readonly on: string };

/** A view's report, with the cause of a view not refreshed where the run decides something on it. */
export interface ViewOutcome extends ViewReport {
  /** Never part of the report: {@link toViewReport} leaves it out. */
  readonly cause?: NotRefreshedCause;
}

/** The view as the report and the logs show it. */
export function toViewReport(outcome: ViewOutcome): ViewReport {
  const { cause: _cause, ...report } = outcome;
  return report;
}
