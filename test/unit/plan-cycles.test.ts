import type { MaterializedView } from '../../src/refresh/catalog';
import { ConcurrentRefresh } from '../../src/refresh/contract';
import { planRefresh } from '../../src/refresh/plan';

/** Views 1..n named v1..vn; `reads` maps a view to the views it reads. */
function views(count: number, reads: Record<number, number[]>): MaterializedView[] {
  return Array.from({ length: count }, (_, i) => ({
    oid: i + 1,
    schema: 'public',
    name: `v${i + 1}`,
    qualifiedName: `public.v${i + 1}`,
    populated: true,
    hasUsableUniqueIndex: true,
    dependsOn: reads[i + 1] ?? [],
  }));
}

describe('planning with dependency cycles', () => {
  test('only the views in a cycle are blocked, each naming a shortest cycle through itself', () => {
    // v1 -> v2 -> v3 -> v1 is a cycle; v4 reads v3 and is read by the cycle v5 <-> v6; v7 stands alone.
    const plan = planRefresh(views(7, { 1: [2], 2: [3], 3: [1], 4: [3], 5: [4, 6], 6: [5] }), ConcurrentRefresh.AUTO);
    const blockers = Object.fromEntries(plan.map((step) => [step.view.name, step.blocker]));

    expect(blockers).toEqual({
      v1: 'not refreshed: it is in a dependency cycle: public.v1 -> public.v2 -> public.v3 -> public.v1 (each view reads the next)',
      v2: 'not refreshed: it is in a dependency cycle: public.v2 -> public.v3 -> public.v1 -> public.v2 (each view reads the next)',
      v3: 'not refreshed: it is in a dependency cycle: public.v3 -> public.v1 -> public.v2 -> public.v3 (each view reads the next)',
      v4: undefined,
      v5: 'not refreshed: it is in a dependency cycle: public.v5 -> public.v6 -> public.v5 (each view reads the next)',
      v6: 'not refreshed: it is in a dependency cycle: public.v6 -> public.v5 -> public.v6 (each view reads the next)',
      v7: undefined,
    });
    // Views that can be ordered come first.
    expect(plan[0].view.name).toBe('v7');
  });

  test('a view that reads its own previous contents is not a cycle', () => {
    const plan = planRefresh(views(2, { 1: [1], 2: [1] }), ConcurrentRefresh.AUTO);
    expect(plan.map((step) => [step.view.name, step.blocker, step.dependsOn])).toEqual([['v1', undefined, []], ['v2', undefined, ['public.v1']]]);
  });
});
