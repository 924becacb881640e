import type { RunEvent } from './events';
import type { LineageTransport } from './transports';
import type { LineageTotals } from '../../shared/contract';

/** Most events waiting to be sent; past it, events are dropped and counted. */
export const MAX_QUEUED_EVENTS = 5_000;
/** Requests in flight at once. */
export const MAX_IN_FLIGHT = 4;
/** Failures in a row after which the run sends no more events: the receiver is down or refuses them. */
export const MAX_FAILURES_IN_A_ROW = 3;

/**
 * Sends a run's events in the background, never in the refresh's way: {@link emit} only queues. Each run's events
 * go out in the order they were emitted (its START before its end), a few requests at once, each bounded by the
 * transport's request timeout. {@link drain} waits for what is left for at most its budget, then gives up on it.
 * Nothing here throws: every failure is counted.
 */
export class LineageEmitter {
  private sent = 0;
  private failed = 0;
  private dropped = 0;
  private reason?: string;
  private lastError?: string;
  private failuresInARow = 0;
  private pending = 0;
  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private readonly lastOfRun = new Map<string, Promise<void>>();
  private readonly unsettled = new Set<Promise<void>>();
  private readonly stop = new AbortController();
  /** Set once the drain's budget is spent: later outcomes no longer change the totals. */
  private totals?: LineageTotals;

  constructor(private readonly transport: LineageTransport) {
    // The transport may never be ready (an unreadable secret): that turns lineage off for the run, counted.
    transport.ready.catch((error: Error) => { this.reason ??= error.message; });
  }

  /** Queues an event of run `runId`; `build` makes it when its turn comes. */
  emit(runId: string, build: () => RunEvent | Promise<RunEvent>): void {
    if (this.totals) return;
    if (this.pending >= MAX_QUEUED_EVENTS) {
      this.dropped++;
      this.reason ??= `more than ${MAX_QUEUED_EVENTS} events were waiting to be sent`;
      return;
    }
    this.pending++;
    const previous = this.lastOfRun.get(runId) ?? Promise.resolve();
    const job = previous.then(() => this.deliver(build));
    this.lastOfRun.set(runId, job);
    this.unsettled.add(job);
    void job.finally(() => this.unsettled.delete(job));
  }

  private async deliver(build: () => RunEvent | Promise<RunEvent>): Promise<void> {
    const count = (outcome: 'sent' | 'failed' | 'dropped') => {
      this.pending--;
      if (!this.totals) this[outcome]++;
    };
    try {
      await this.transport.ready;
    } catch {
      return count('dropped');
    }
    if (this.reason || this.stop.signal.aborted) return count('dropped');
    await this.slot();
    try {
      if (this.reason || this.stop.signal.aborted) return count('dropped');
      const event = await build();
      await this.transport.send(event, AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.transport.requestTimeoutMs)]));
      this.failuresInARow = 0;
      count('sent');
    } catch (error) {
      if (this.stop.signal.aborted) return count('dropped');
      this.lastError = describe(error);
      count('failed');
      if (++this.failuresInARow >= MAX_FAILURES_IN_A_ROW) {
        this.reason ??= `${MAX_FAILURES_IN_A_ROW} events in a row could not be sent, the last: ${this.lastError}`;
      }
    } finally {
      this.inFlight--;
      this.slotWaiters.shift()?.();
    }
  }

  private async slot(): Promise<void> {
    if (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.inFlight++;
  }

  /**
   * Waits up to `budgetMs` for the queued events, then stops: requests still open are abandoned, events not sent
   * are counted as dropped. Returns the run's totals.
   */
  async drain(budgetMs: number): Promise<LineageTotals & { lastError?: string }> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.unsettled]),
      new Promise((resolve) => (timer = setTimeout(resolve, budgetMs))),
    ]);
    clearTimeout(timer);
    if (this.pending > 0) this.reason ??= `the time budget of ${budgetMs} ms ran out`;
    this.totals = {
      sent: this.sent,
      failed: this.failed,
      dropped: this.dropped + this.pending,
      ...this.reason ? { reason: this.reason } : {},
    };
    this.stop.abort();
    return { ...this.totals, ...this.lastError ? { lastError: this.lastError } : {} };
  }
}

function describe(error: unknown): string {
  const { name, message } = error as Error;
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  return `${name}: ${message}${cause ? ` (${cause})` : ''}`;
}
