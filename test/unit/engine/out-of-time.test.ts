import { Pool } from 'pg';
import { materializedView as view } from './materialized-view';
import { outOfTimeSummary, viewsOutOfTime } from '../../../src/engine/out-of-time';
import { toViewReport, ViewOutcome } from '../../../src/engine/outcome';
import { planRefresh } from '../../../src/engine/plan';
import { executePlan } from '../../../src/engine/scheduler';
import { ConcurrentRefresh } from '../../../src/shared/contract';

/** The out-of-time analysis reads each view's cause, never its reason. */
describe('views out of time', () => {
  const outcome = (name: string, status: ViewOutcome['status'], cause?: ViewOutcome['cause'], reason = 'any words'): ViewOutcome =>
    ({ view: name, status, concurrently: false, durationMs: 0, attempts: status === 'skipped' ? 0 : 1, reason, ...(cause ? { cause } : {}) });

  test('names the views stopped and never started, and the dependents of either, transitively', () => {
    const outcomes = [
      outcome('stopped', 'failed', { kind: 'out-of-time', when: 'stopped' }),
      outcome('late', 'skipped', { kind: 'out-of-time', when: 'not-started' }),
      outcome('after_stopped', 'skipped', { kind: 'dependency', on: 'stopped' }),
      outcome('after_after', 'skipped', { kind: 'dependency', on: 'after_stopped' }),
      outcome('after_late', 'skipped', { kind: 'dependency', on: 'late' }),
      outcome('broken', 'failed'),
      outcome('after_broken', 'skipped', { kind: 'dependency', on: 'broken' }),
      outcome('fine', 'refreshed', undefined, undefined),
    ];

    expect(viewsOutOfTime(outcomes)).toEqual({ stopped: ['stopped'], notStarted: ['late', 'after_stopped', 'after_after', 'after_late'] });
  });

  test('is linear: a chain of 10,000 views, listed dependents first, takes well under a second', () => {
    const VIEWS = 10_000;
    const outcomes = Array.from({ length: VIEWS }, (_, i) => {
      const index = VIEWS - 1 - i;
      return index === 0
        ? outcome('v0', 'skipped', { kind: 'out-of-time', when: 'not-started' })
        : outcome(`v${index}`, 'skipped', { kind: 'dependency', on: `v${index - 1}` });
    });
    const started = performance.now();
    const { notStarted } = viewsOutOfTime(outcomes);
    const elapsedMs = performance.now() - started;

    expect(notStarted).toHaveLength(VIEWS);
    expect(elapsedMs).toBeLessThan(250);
  });

  test('a reason worded like running out of time does not count without its cause', () => {
    const outcomes = [
      outcome('worded', 'failed', undefined, 'stopped after 10 ms because the invocation was running out of time'),
      outcome('not_started', 'skipped', undefined, 'not started: the invocation ran out of time'),
    ];

    expect(viewsOutOfTime(outcomes)).toEqual({ stopped: [], notStarted: [] });
    expect(outOfTimeSummary(outcomes, 'lambda')).toBe('');
  });

  test('the scheduler gives a view not started for time, and its dependents, their causes', async () => {
    const first = view('first');
    const second = view('second', [first]);
    const pool = new Pool();
    try {
      const outcomes = await executePlan(planRefresh([first, second], ConcurrentRefresh.AUTO), {
        pool, concurrency: 1, deadline: Date.now() + 10, lockTimeoutMs: 1_000, maxAttempts: 1, secrets: [], refresh: async () => undefined,
      });

      expect(outcomes.map((entry) => entry.cause)).toEqual([{ kind: 'out-of-time', when: 'not-started' }, { kind: 'dependency', on: 'mart.first' }]);
      expect(outOfTimeSummary(outcomes, 'fargate')).toBe('. The run ran out of time (never started: mart.first, mart.second). '
        + 'Raise `runTimeout` of RefreshCompute.fargate() so the views fit in one run');
    } finally {
      await pool.end();
    }
  });

  test('the cause stays out of the report', () => {
    const report = toViewReport(outcome('late', 'skipped', { kind: 'out-of-time', when: 'not-started' }));

    expect(report).toEqual({ view: 'late', status: 'skipped', concurrently: false, durationMs: 0, attempts: 0, reason: 'any words' });
    expect(Object.keys(report)).not.toContain('cause');
  });
});
