import { DependencyGraph, NodeKey } from '../../../src/engine/dependencies';
import { selectByTables } from '../../../src/engine/selection';

/** A graph from `reader -> read` pairs; relations are `r<oid>`, functions `f<oid>`. */
function graph(edges: Array<[NodeKey, NodeKey]>, relkinds: Record<number, string>): DependencyGraph {
  const reads = new Map<NodeKey, NodeKey[]>();
  const readBy = new Map<NodeKey, NodeKey[]>();
  for (const [from, to] of edges) {
    reads.set(from, [...(reads.get(from) ?? []), to]);
    readBy.set(to, [...(readBy.get(to) ?? []), from]);
  }
  const names = new Map(Object.entries(relkinds).filter(([, kind]) => kind === 'm').map(([oid]) => [Number(oid), `s.m${oid}`]));
  return { reads, readBy, relkinds: new Map(Object.entries(relkinds).map(([oid, kind]) => [Number(oid), kind])), names, kin: new Set<number>() };
}

describe('selectByTables', () => {
  // 1 (table) <- f10 (function) <- 11 (view) <- 12 (mv) <- 13 (mv, declared); 2 (table) <- 14 (mv outside the
  // candidates) <- 15 (mv); 3 (partition) <- 4 (partitioned) <- 16 (mv).
  const g = graph(
    [['f10', 'r1'], ['r11', 'f10'], ['r12', 'r11'], ['r13', 'r12'], ['r14', 'r2'], ['r15', 'r14'], ['r4', 'r3'], ['r16', 'r4']],
    { 1: 'r', 2: 'r', 3: 'r', 4: 'p', 11: 'v', 12: 'm', 13: 'm', 14: 'm', 15: 'm', 16: 'm' },
  );
  const candidates = [12, 13, 15, 16];
  const table = (oid: number) => ({ oid, qualifiedName: `s.t${oid}` });

  test('follows functions, plain views, partitioned tables and candidate views, and stops at other views', () => {
    const result = selectByTables(g, [table(1), table(2), table(3)], candidates);

    expect(result.oids.sort()).toEqual([12, 13, 16]);
    expect(result.tables).toEqual([
      { table: 's.t1', selected: 2, views: ['s.m12', 's.m13'] },
      { table: 's.t2', selected: 0, views: [] },
      { table: 's.t3', selected: 1, views: ['s.m16'] },
    ]);
  });

  test('a changed materialized view is selected when another changed relation reaches it', () => {
    expect(selectByTables(g, [table(12)], candidates).oids).toEqual([13]);
    expect(selectByTables(g, [table(12), table(1)], candidates).oids.sort()).toEqual([12, 13]);
  });
});
