import { Pool } from 'pg';
import { materializedView } from './materialized-view';
import type { MaterializedView } from '../../../src/engine/catalog';
import { PlannedRefresh, planRefresh } from '../../../src/engine/plan';
import { ExecutionOptions, executePlan, RefreshTimeouts } from '../../../src/engine/scheduler';
import { ConcurrentRefresh, ViewReport } from '../../../src/shared/contract';

/**
 * The executor's scheduling, with the REFRESH statement replaced by a function that takes a set time
 * and fails on demand: no database, so every interleaving is the executor's own doing.
 */
const view = materializedView;

interface FakeRefresh {
  readonly refresh: NonNullable<ExecutionOptions['refresh']>;
  /** Refresh starts and ends, in the order they happened. */
  readonly events: Array<{ readonly event: 'start' | 'end'; readonly view: string }>;
  /** The views whose refresh started, in that order (once per attempt). */
  readonly started: () => string[];
  /** The most refreshes that ran at once. */
  readonly maxRunning: () => number;
  readonly timeouts: RefreshTimeouts[];
}

/**
 * A refresh that takes `durationMs` (per view name, default 5) and throws the errors queued for a
 * view, one per attempt, before it succeeds.
 */
function fakeRefresh(options: { durationMs?: Record<string, number>; errors?: Record<string, Error[]> } = {}): FakeRefresh {
  const events: FakeRefresh['events'] = [];
  const timeouts: RefreshTimeouts[] = [];
  let running = 0;
  let maxRunning = 0;
  return {
    events,
    timeouts,
    started: () => events.filter((entry) => entry.event === 'start').map((entry) => entry.view),
    maxRunning: () => maxRunning,
    refresh: async (step: PlannedRefresh, attemptTimeouts: RefreshTimeouts) => {
      const name = step.view.name;
      timeouts.push(attemptTimeouts);
      events.push({ event: 'start', view: name });
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        await new Promise((resolve) => setTimeout(resolve, options.durationMs?.[name] ?? 5));
        const error = options.errors?.[name]?.shift();
        if (error) throw error;
      } finally {
        running--;
        events.push({ event: 'end', view: name });
      }
    },
  };
}

/** A database error as `pg` reports it. */
function databaseError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const pool = new Pool();
afterAll(() => pool.end());

function execute(views: MaterializedView[], fake: FakeRefresh, overrides: Partial<ExecutionOptions> = {}): Promise<ViewReport[]> {
  return executePlan(planRefresh(views, ConcurrentRefresh.AUTO), {
    pool,
    concurrency: 4,
    deadline: Date.now() + 60_000,
    lockTimeoutMs: 1_000,
    maxAttempts: 3,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 2,
    secrets: [],
    refresh: fake.refresh,
    ...overrides,
  });
}

const statusOf = (reports: ViewReport[]) => Object.fromEntries(reports.map((report) => [report.view, report.status]));

describe('executePlan', () => {
  test('starts a view only after every view it depends on has been refreshed', async () => {
    const a = view('a');
    const b = view('b');
    const c = view('c', [a, b]);
    const d = view('d', [c]);
    const e = view('e', [a]);
    const fake = fakeRefresh({ durationMs: { a: 20, b: 5 } });

    const reports = await execute([a, b, c, d, e], fake);

    expect(statusOf(reports)).toEqual({ 'mart.a': 'refreshed', 'mart.b': 'refreshed', 'mart.c': 'refreshed', 'mart.d': 'refreshed', 'mart.e': 'refreshed' });
    const at = (event: 'start' | 'end', name: string) => fake.events.findIndex((entry) => entry.event === event && entry.view === name);
    for (const [dependent, dependencies] of [['c', ['a', 'b']], ['d', ['c']], ['e', ['a']]] as const) {
      for (const dependency of dependencies) {
        expect({ dependent, dependency, startedAfterEnd: at('start', dependent) > at('end', dependency) })
          .toEqual({ dependent, dependency, startedAfterEnd: true });
      }
    }
  });

  test('starts a view as soon as its own dependencies are done, not when a whole level is', async () => {
    const slow = view('slow');
    const fast = view('fast');
    const afterFast = view('after_fast', [fast]);
    const fake = fakeRefresh({ durationMs: { slow: 50, fast: 5 } });

    await execute([slow, fast, afterFast], fake);

    const order = fake.events.map((entry) => `${entry.event} ${entry.view}`);
    expect(order.indexOf('start after_fast')).toBeLessThan(order.indexOf('end slow'));
  });

  test.each([1, 2, 3])('never runs more than %i refreshes at once, and uses that many', async (concurrency) => {
    const views = Array.from({ length: 8 }, (_, i) => view(`independent_${i}`));
    const fake = fakeRefresh();

    const reports = await execute(views, fake, { concurrency });

    expect(reports.every((report) => report.status === 'refreshed')).toBe(true);
    expect(fake.maxRunning()).toBe(concurrency);
  });

  test('starts the ready views with the longest chain of dependents first', async () => {
    // Plan order (dependencies first, then by name): a_lone, z1, z2, z3; z1 heads a chain of three.
    const lone = view('a_lone');
    const z1 = view('z1');
    const z2 = view('z2', [z1]);
    const z3 = view('z3', [z2]);
    const fake = fakeRefresh();

    await execute([lone, z1, z2, z3], fake, { concurrency: 1 });

    // z1 (height 2) before a_lone (height 0); then z2 (height 1); then a_lone and z3 (both 0) in plan order.
    expect(fake.started()).toEqual(['z1', 'z2', 'a_lone', 'z3']);
  });

  test('skips every view that depends on a failed one, never refreshing it, and goes on with the others', async () => {
    const failing = view('failing');
    const child = view('child', [failing]);
    const grandchild = view('grandchild', [child]);
    const independent = view('independent');
    const afterIndependent = view('after_independent', [independent]);
    const fake = fakeRefresh({ errors: { failing: [databaseError('42P01', 'relation "gone" does not exist')] } });

    const reports = await execute([failing, child, grandchild, independent, afterIndependent], fake);

    expect(statusOf(reports)).toEqual({
      'mart.failing': 'failed',
      'mart.child': 'skipped',
      'mart.grandchild': 'skipped',
      'mart.independent': 'refreshed',
      'mart.after_independent': 'refreshed',
    });
    const report = (name: string) => reports.find((entry) => entry.view === `mart.${name}`)!;
    expect(report('failing')).toMatchObject({ attempts: 1, reason: '42P01 relation "gone" does not exist; the view keeps its previous contents' });
    expect(report('child')).toMatchObject({ attempts: 0, reason: 'depends on mart.failing, which was not refreshed' });
    expect(report('grandchild')).toMatchObject({ attempts: 0, reason: 'depends on mart.child, which was not refreshed' });
    expect(fake.started()).not.toContain('child');
    expect(fake.started()).not.toContain('grandchild');
  });

  test('retries a view after transient errors, and reports the attempts it took', async () => {
    const flaky = view('flaky');
    const fake = fakeRefresh({
      errors: { flaky: [databaseError('40P01', 'deadlock detected'), Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })] },
    });
    const attempts: number[] = [];

    const [report] = await execute([flaky], fake, { onAttempt: (_step, attempt) => attempts.push(attempt) });

    expect(report).toMatchObject({ status: 'refreshed', attempts: 3 });
    expect(attempts).toEqual([1, 2, 3]);
    expect(fake.started()).toEqual(['flaky', 'flaky', 'flaky']);
  });

  test('gives up after maxAttempts transient errors, naming the last', async () => {
    const flaky = view('flaky');
    const fake = fakeRefresh({ errors: { flaky: [1, 2, 3].map((n) => databaseError('55P03', `lock not available ${n}`)) } });

    const [report] = await execute([flaky], fake, { maxAttempts: 2 });

    expect(report).toMatchObject({ status: 'failed', attempts: 2, reason: '55P03 lock not available 2; the view keeps its previous contents' });
    expect(fake.started()).toEqual(['flaky', 'flaky']);
  });

  test('does not retry an error that another attempt cannot fix', async () => {
    const broken = view('broken');
    const fake = fakeRefresh({ errors: { broken: [databaseError('22012', 'division by zero')] } });

    const [report] = await execute([broken], fake);

    expect(report).toMatchObject({ status: 'failed', attempts: 1, reason: '22012 division by zero; the view keeps its previous contents' });
  });

  test('fails a blocked view without refreshing it, and skips its dependents', async () => {
    const blockedView = view('blocked');
    const dependent = view('dependent', [blockedView]);
    const fake = fakeRefresh();
    const plan = planRefresh([{ ...blockedView, populated: false }, dependent], ConcurrentRefresh.ALWAYS);

    const reports = await executePlan(plan, {
      pool, concurrency: 2, deadline: Date.now() + 60_000, lockTimeoutMs: 1_000, maxAttempts: 1, secrets: [], refresh: fake.refresh,
    });

    expect(statusOf(reports)).toEqual({ 'mart.blocked': 'failed', 'mart.dependent': 'skipped' });
    expect(fake.started()).toEqual([]);
  });

  test('starts nothing when the deadline leaves no time for a refresh', async () => {
    const fake = fakeRefresh();

    const reports = await execute([view('late')], fake, { deadline: Date.now() + 50 });

    expect(reports).toEqual([expect.objectContaining({ status: 'skipped', attempts: 0, reason: 'not started: the invocation ran out of time' })]);
    expect(fake.started()).toEqual([]);
  });

  test('bounds each attempt\'s lock and statement timeouts by the time left', async () => {
    const fake = fakeRefresh();

    await execute([view('bounded')], fake, { deadline: Date.now() + 5_000, lockTimeoutMs: 60_000, statementTimeoutMs: 120_000 });

    expect(fake.timeouts).toHaveLength(1);
    expect(fake.timeouts[0].lockTimeoutMs).toBeLessThanOrEqual(5_000);
    expect(fake.timeouts[0].statementTimeoutMs).toBeLessThanOrEqual(5_000);
    expect(fake.timeouts[0].lockTimeoutMs).toBeGreaterThan(4_000);
  });
});
