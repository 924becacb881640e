import { materializedView } from './materialized-view';
import { planRefresh } from '../../../src/engine/plan';
import { ConcurrentRefresh } from '../../../src/shared/contract';

const view = materializedView;

const names = (plan: ReturnType<typeof planRefresh>) => plan.map((step) => step.view.name);

describe('planRefresh', () => {
  test('orders every view after the views it depends on, and otherwise by name', () => {
    const base = view('zeta_base');
    const middle = view('alpha_middle', [base]);
    const other = view('beta_other');
    const top = view('aaa_top', [middle, other]);

    const plan = planRefresh([top, middle, other, base], ConcurrentRefresh.AUTO);

    expect(names(plan)).toEqual(['beta_other', 'zeta_base', 'alpha_middle', 'aaa_top']);
  });

  test('names each step\'s dependencies and dependents, and the height of its longest chain of dependents', () => {
    const a = view('a');
    const b = view('b', [a]);
    const c = view('c', [b]);
    const d = view('d', [a]);
    const lone = view('lone');

    const plan = planRefresh([a, b, c, d, lone], ConcurrentRefresh.AUTO);
    const step = (name: string) => plan.find((entry) => entry.view.name === name)!;

    expect(step('a')).toMatchObject({ dependsOn: [], dependents: ['mart.b', 'mart.d'], height: 2 });
    expect(step('b')).toMatchObject({ dependsOn: ['mart.a'], dependents: ['mart.c'], height: 1 });
    expect(step('c')).toMatchObject({ dependsOn: ['mart.b'], dependents: [], height: 0 });
    expect(step('d')).toMatchObject({ dependsOn: ['mart.a'], dependents: [], height: 0 });
    expect(step('lone')).toMatchObject({ dependsOn: [], dependents: [], height: 0 });
  });

  test('AUTO refreshes CONCURRENTLY only the populated views with a usable unique index', () => {
    const eligible = view('eligible');
    const unpopulated = view('unpopulated', [], { populated: false });
    const noIndex = view('no_index', [], { hasUsableUniqueIndex: false });

    const plan = planRefresh([eligible, unpopulated, noIndex], ConcurrentRefresh.AUTO);

    expect(plan.map(({ view: { name }, concurrently, blocker }) => ({ name, concurrently, blocker }))).toEqual([
      { name: 'eligible', concurrently: true, blocker: undefined },
      { name: 'no_index', concurrently: false, blocker: undefined },
      { name: 'unpopulated', concurrently: false, blocker: undefined },
    ]);
  });

  test('ALWAYS blocks the views PostgreSQL would refuse CONCURRENTLY for, saying why', () => {
    const eligible = view('eligible');
    const unpopulated = view('unpopulated', [], { populated: false });
    const noIndex = view('no_index', [], { hasUsableUniqueIndex: false });

    const plan = planRefresh([eligible, unpopulated, noIndex], ConcurrentRefresh.ALWAYS);

    expect(plan.map(({ view: { name }, concurrently, blocker }) => ({ name, concurrently, blocker }))).toEqual([
      { name: 'eligible', concurrently: true, blocker: undefined },
      { name: 'no_index', concurrently: true, blocker: 'cannot be refreshed CONCURRENTLY: it has no unique index on plain columns without a WHERE clause' },
      { name: 'unpopulated', concurrently: true, blocker: 'cannot be refreshed CONCURRENTLY: it is not populated (created WITH NO DATA)' },
    ]);
  });

  test('NEVER refreshes no view CONCURRENTLY and blocks none', () => {
    const plan = planRefresh([view('eligible'), view('unpopulated', [], { populated: false })], ConcurrentRefresh.NEVER);

    expect(plan.map(({ concurrently, blocker }) => ({ concurrently, blocker }))).toEqual([
      { concurrently: false, blocker: undefined },
      { concurrently: false, blocker: undefined },
    ]);
  });

  test('views in a cycle fail without running, naming a shortest cycle through each; views outside it are ordered first', () => {
    // c1 -> c2 -> c3 -> c1 is a cycle; between reads c3 and is read by the cycle d1 <-> d2; free stands alone.
    const [c1, c2, c3] = [view('c1'), view('c2'), view('c3')];
    (c1.dependsOn as number[]).push(c2.oid);
    (c2.dependsOn as number[]).push(c3.oid);
    (c3.dependsOn as number[]).push(c1.oid);
    const between = view('between', [c3]);
    const [d1, d2] = [view('d1', [between]), view('d2')];
    (d1.dependsOn as number[]).push(d2.oid);
    (d2.dependsOn as number[]).push(d1.oid);
    const free = view('free');

    const plan = planRefresh([c1, c2, c3, between, d1, d2, free], ConcurrentRefresh.AUTO);
    const cycle = (...path: string[]) => `not refreshed: it is in a dependency cycle: ${path.map((name) => `mart.${name}`).join(' -> ')} (each view reads the next)`;
    expect(Object.fromEntries(plan.map((step) => [step.view.name, step.blocker]))).toEqual({
      c1: cycle('c1', 'c2', 'c3', 'c1'),
      c2: cycle('c2', 'c3', 'c1', 'c2'),
      c3: cycle('c3', 'c1', 'c2', 'c3'),
      between: undefined,
      d1: cycle('d1', 'd2', 'd1'),
      d2: cycle('d2', 'd1', 'd2'),
      free: undefined,
    });
    expect(names(plan)[0]).toBe('free');
  });

  test('a view that reads its own previous contents is not a cycle', () => {
    const self = view('self');
    (self.dependsOn as number[]).push(self.oid);
    const reader = view('reader', [self]);

    const plan = planRefresh([reader, self], ConcurrentRefresh.AUTO);
    expect(plan.map((step) => [step.view.name, step.blocker, step.dependsOn])).toEqual([['self', undefined, []], ['reader', undefined, ['mart.self']]]);
  });

});
