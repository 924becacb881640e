/**
 * The run's time: what it keeps back from the invocation for reporting, how long it waits for a silent server,
 * and the least time worth starting a run or a refresh with.
 */

/** Below this much time before the reserve, a run does not start: it could not even connect and plan. */
export const MIN_RUN_MS = 250;

/** Below this much time left, a refresh is not started: it could not finish. */
export const MIN_REFRESH_BUDGET_MS = 100;

/**
 * How long the handler waits for a reply past the bound the server enforces itself (statement_timeout, the
 * lock wait) before it decides the server has gone silent and gives up on the connection: 5% of the time left
 * at the start, at least 100 ms and at most 2 s.
 */
export function clientGraceMs(remainingMs: number): number {
  return Math.min(2_000, Math.max(100, Math.round(remainingMs * 0.05)));
}

/**
 * Time kept back from the invocation: the client grace ({@link clientGraceMs}) plus, for reporting, 10% of
 * what is left at the start, at least 250 ms and at most 5 s. Refreshes and lock waits are bounded so they end
 * before this reserve begins; a server that stops answering is given up on within the grace.
 */
export function reserveMs(remainingMs: number): number {
  return Math.min(5_000, Math.max(250, Math.round(remainingMs * 0.1))) + clientGraceMs(remainingMs);
}

/** The run's deadline, in epoch milliseconds, and the time left before it. */
export interface RunBudget {
  /** By when every refresh and wait must have ended, so that the run can still report. */
  readonly deadline: number;
  /** See {@link clientGraceMs}. */
  readonly graceMs: number;
  readonly timeLeft: () => number;
}

export function runBudget(startedAt: number, remainingMs: number): RunBudget {
  const deadline = startedAt + remainingMs - reserveMs(remainingMs);
  return { deadline, graceMs: clientGraceMs(remainingMs), timeLeft: () => deadline - Date.now() };
}

/** Waits for `work` for at most `ms`, leaving it to finish on its own. */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
