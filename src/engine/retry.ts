import { MIN_REFRESH_BUDGET_MS } from './budget';
import { acquireConnection, ConnectionSlots, NoConnectionSlot } from './connection-slots';
import { describeError, isCancelledByAdministrator, isStatementTimeout, isTransient, redact } from './errors';
import type { NotRefreshedCause, ViewOutcome } from './outcome';
import { invalidIndexAdvice, PlannedRefresh } from './plan';
import { ReaderWait, refreshOnce } from './refresh-sql';
import type { ExecutionOptions } from './scheduler';

/** The reason of a view that was not started because the run's time was up. */
const NOT_STARTED_FOR_TIME = 'not started: the invocation ran out of time';

/** Refreshes one view, retrying transient errors with backoff while time remains. Never throws. */
export async function refreshView(step: PlannedRefresh, options: ExecutionOptions, slots: ConnectionSlots): Promise<ViewOutcome> {
  const name = step.view.qualifiedName;

  const started = Date.now();
  const result = (status: ViewOutcome['status'], attempts: number, reason?: string, cause?: NotRefreshedCause): ViewOutcome => ({
    view: name,
    status,
    concurrently: status === 'skipped' ? false : step.concurrently,
    startedAt: status === 'skipped' ? undefined : new Date(started).toISOString(),
    durationMs: status === 'skipped' ? 0 : Date.now() - started,
    attempts,
    reason: reason === undefined ? undefined : redact(reason, options.secrets),
    ...(cause ? { cause } : {}),
  });

  let lastError = '';
  const readerWait: ReaderWait = { spentMs: 0 };
  let refusal: string | undefined;
  let slotWaits = 0;
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    const stop = options.stopReason?.();
    if (stop) {
      return attempt === 1
        ? result('skipped', 0, `not started: ${stop}`)
        : result('failed', attempt - 1, `${lastError}; not tried again: ${stop}`);
    }
    const budget = options.deadline - Date.now();
    if (budget < MIN_REFRESH_BUDGET_MS) {
      if (attempt > 1) return result('failed', attempt - 1, `${lastError}; no time left for another attempt`);
      return refusal
        ? result('skipped', 0, `not started: no database connection slot came free before the invocation ran out of time (${refusal})`)
        : result('skipped', 0, NOT_STARTED_FOR_TIME, { kind: 'out-of-time', when: 'not-started' });
    }
    const statementTimeout = Math.min(options.statementTimeoutMs ?? Infinity, budget);
    const lockTimeout = Math.min(options.lockTimeoutMs, budget);

    options.onAttempt?.(step, attempt);
    try {
      const timeouts = { lockTimeoutMs: lockTimeout, statementTimeoutMs: statementTimeout };
      await (options.refresh ? options.refresh(step, timeouts) : refreshOnce(step, () => acquireConnection(options), timeouts, readerWait));
      return result('refreshed', attempt);
    } catch (error) {
      if (error instanceof NoConnectionSlot) {
        // Not an attempt: the refresh never reached the server. Wait for one of the run's own connections.
        refusal = error.message;
        slots.shrink();
        await slots.waitForRelease(Math.min(backoff(++slotWaits, options), Math.max(0, options.deadline - Date.now())));
        attempt--;
        continue;
      }
      lastError = describeError(error);
      if ((error as { code?: string }).code === '23505' && step.view.invalidUniqueIndexes.length > 0) {
        // An invalid unique index is still rebuilt (plain) or maintained (CONCURRENTLY): name it and the fix.
        lastError = `${lastError}: ${invalidIndexAdvice(step.view.invalidUniqueIndexes)}`;
      }
      if (isCancelledByAdministrator(error)) {
        return result('failed', attempt, `cancelled by an administrator (pg_cancel_backend); the view keeps its previous contents (${lastError})`);
      }
      if (isStatementTimeout(error)) {
        // The run's time, not the configured statement_timeout, stopped it: the run reports it ran out of time.
        const forTime = statementTimeout < (options.statementTimeoutMs ?? Infinity);
        const why = forTime
          ? `stopped after ${statementTimeout} ms because the invocation was running out of time`
          : `exceeded statement_timeout of ${statementTimeout} ms`;
        return result('failed', attempt, `${why}; the view keeps its previous contents (${lastError})`,
          forTime ? { kind: 'out-of-time', when: 'stopped' } : undefined);
      }
      if (!isTransient(error) || attempt === options.maxAttempts) {
        return result('failed', attempt, `${lastError}; the view keeps its previous contents`);
      }
      const delay = backoff(attempt, options);
      if (Date.now() + delay + MIN_REFRESH_BUDGET_MS > options.deadline) {
        return result('failed', attempt, `${lastError}; no time left for another attempt; the view keeps its previous contents`);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  /* istanbul ignore next: the loop always returns */
  return result('failed', options.maxAttempts, lastError);
}

/** Backoff before attempt n+1: about `retryBaseDelayMs * 2^(n-1)`, jittered, at most `retryMaxDelayMs`. */
function backoff(attempt: number, options: ExecutionOptions): number {
  const base = options.retryBaseDelayMs ?? 200;
  const max = options.retryMaxDelayMs ?? 5_000;
  const exponential = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(exponential / 2 + (Math.random() * exponential) / 2);
}
