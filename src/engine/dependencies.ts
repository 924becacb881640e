import type { ClientBase } from 'pg';
import { formatRelationName } from '../shared/names';

/** A node of the dependency graph: a relation (`r`) or a function (`f`), by OID. */
export type NodeKey = `${'r' | 'f'}${number}`;

/** A declared dependency, resolved: `view` waits for each of `dependsOn`. */
export interface ResolvedDependency {
  readonly view: number;
  readonly dependsOn: readonly number[];
}

/**
 * What reads what, as the refresh order and the selection by changed tables both follow it. An edge
 * `reader -> read` is one of:
 * - what a view's query reads: the dependencies of the `_RETURN` rule of a plain or materialized view
 *   (pg_rewrite, pg_depend); a view's other rules (`ON INSERT DO INSTEAD ...`) are not part of its query;
 * - what a function with a SQL-standard body (`BEGIN ATOMIC`) reads, as the catalog records it; a function
 *   with a string body (`AS $$ ... $$`, any plpgsql) records nothing, and neither does dynamic SQL;
 * - a declared dependency (`extraDependencies`) of one materialized view on another;
 * - for the selection by changed tables, a changed table's ancestors and descendants (partitions, sub-partitions,
 *   inheritance parents and children) reading it, and it reading them: a query of a partitioned table or an
 *   inheritance parent reads its descendants' rows, and a change to a parent's rows is a change to a descendant.
 *
 * Edges to plain views, materialized views and functions are kept, and edges to the changed relations; edges
 * to any other table lead nowhere either walk goes.
 */
export interface DependencyGraph {
  /** What each relation or function reads. */
  readonly reads: ReadonlyMap<NodeKey, readonly NodeKey[]>;
  /** What reads each relation or function: {@link reads} reversed. */
  readonly readBy: ReadonlyMap<NodeKey, readonly NodeKey[]>;
  /** The kind (`pg_class.relkind`) of each relation in the graph. */
  readonly relkinds: ReadonlyMap<number, string>;
  /** `schema.name` ({@link formatRelationName}) of each materialized view that reads something. */
  readonly names: ReadonlyMap<number, string>;
  /** The ancestors and descendants of the changed relations, which the walks pass through. */
  readonly kin: ReadonlySet<number>;
}

/**
 * Reads the {@link DependencyGraph} in one query, with the declared dependencies and, for a selection by
 * changed tables, the changed relations. The query reads each catalog row once, so its cost grows with the
 * number of dependencies in the database, not with views times their reach; the walks then run in memory.
 */
export async function readDependencyGraph(client: ClientBase, changed: readonly number[], declared: readonly ResolvedDependency[])
  : Promise<DependencyGraph> {
  const pairs = declared.flatMap((entry) => entry.dependsOn.map((dependency) => [entry.view, dependency] as const));
  const { rows } = await client.query<{
    from_kind: 'r' | 'f';
    from_oid: number;
    from_relkind: string | null;
    from_schema: string | null;
    from_name: string | null;
    to_kind: 'r' | 'f';
    to_oid: number;
    to_relkind: string | null;
    kin: boolean;
  }>(
    // The comment names the catalogs read within the first bytes of the text, which pg_stat_activity shows.
    `-- the dependency graph, from pg_rewrite, pg_depend and pg_inherits
     WITH RECURSIVE ancestor(origin, rel) AS (
         SELECT t.oid, t.oid FROM unnest($1::oid[]) AS t(oid)
       UNION
         SELECT a.origin, i.inhparent FROM ancestor a JOIN pg_catalog.pg_inherits i ON i.inhrelid = a.rel
     ),
     descendant(origin, rel) AS (
         SELECT t.oid, t.oid FROM unnest($1::oid[]) AS t(oid)
       UNION
         SELECT d.origin, i.inhrelid FROM descendant d JOIN pg_catalog.pg_inherits i ON i.inhparent = d.rel
     ),
     -- Each changed relation with its ancestors and descendants; pg_inherits holds partitions and inheritance alike.
     kin(origin, rel) AS (SELECT origin, rel FROM ancestor UNION SELECT origin, rel FROM descendant),
     changed(rel) AS (SELECT DISTINCT rel FROM kin),
     edge(from_kind, from_oid, to_kind, to_oid, kin) AS (
         -- What a view's query reads. A rule also depends on its own relation; that is not an edge.
         SELECT 'r', r.ev_class, CASE d.refclassid WHEN 'pg_catalog.pg_proc'::regclass THEN 'f' ELSE 'r' END, d.refobjid, false
           FROM pg_catalog.pg_rewrite r
           JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
           LEFT JOIN pg_catalog.pg_class ref ON d.refclassid = 'pg_catalog.pg_class'::regclass AND ref.oid = d.refobjid
          WHERE r.rulename = '_RETURN'
            AND (ref.relkind IN ('v', 'm') OR ref.oid IN (SELECT rel FROM changed) OR d.refclassid = 'pg_catalog.pg_proc'::regclass)
            AND NOT (d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = r.ev_class)
       UNION ALL
         -- What a function with a SQL-standard body reads (string bodies record nothing).
         SELECT 'f', d.objid, CASE d.refclassid WHEN 'pg_catalog.pg_proc'::regclass THEN 'f' ELSE 'r' END, d.refobjid, false
           FROM pg_catalog.pg_depend d
           LEFT JOIN pg_catalog.pg_class ref ON d.refclassid = 'pg_catalog.pg_class'::regclass AND ref.oid = d.refobjid
          WHERE d.classid = 'pg_catalog.pg_proc'::regclass
            AND (ref.relkind IN ('v', 'm') OR ref.oid IN (SELECT rel FROM changed) OR d.refclassid = 'pg_catalog.pg_proc'::regclass)
            AND NOT (d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = d.objid)
       UNION ALL
         -- A changed relation's kin read it: its ancestors hold its rows, and its descendants' rows change with a
         -- change made through it. Walks pass through these relations (see passesThrough).
         SELECT 'r', k.rel, 'r', k.origin, true FROM kin k WHERE k.rel <> k.origin
       UNION ALL
         -- Declared dependencies.
         SELECT 'r', x.view, 'r', x.dependency, false FROM unnest($2::oid[], $3::oid[]) AS x(view, dependency)
     )
     SELECT DISTINCT e.from_kind, e.from_oid, e.kin, reader.relkind::text AS from_relkind,
            CASE reader.relkind WHEN 'm' THEN n.nspname END AS from_schema,
            CASE reader.relkind WHEN 'm' THEN reader.relname END AS from_name,
            e.to_kind, e.to_oid, target.relkind::text AS to_relkind
       FROM edge e
       LEFT JOIN pg_catalog.pg_class reader ON e.from_kind = 'r' AND reader.oid = e.from_oid
       LEFT JOIN pg_catalog.pg_namespace n ON n.oid = reader.relnamespace
       LEFT JOIN pg_catalog.pg_class target ON e.to_kind = 'r' AND target.oid = e.to_oid`,
    [changed, pairs.map(([view]) => view), pairs.map(([, dependency]) => dependency)],
  );

  const reads = new Map<NodeKey, NodeKey[]>();
  const readBy = new Map<NodeKey, NodeKey[]>();
  const relkinds = new Map<number, string>();
  const names = new Map<number, string>();
  const add = (map: Map<NodeKey, NodeKey[]>, key: NodeKey, value: NodeKey) => {
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  };
  const kin = new Set<number>();
  for (const row of rows) {
    if (row.kin) kin.add(Number(row.from_oid));
    const from: NodeKey = `${row.from_kind}${Number(row.from_oid)}`;
    const to: NodeKey = `${row.to_kind}${Number(row.to_oid)}`;
    add(reads, from, to);
    add(readBy, to, from);
    if (row.from_relkind !== null) relkinds.set(Number(row.from_oid), row.from_relkind);
    if (row.to_relkind !== null) relkinds.set(Number(row.to_oid), row.to_relkind);
    if (row.from_name !== null) names.set(Number(row.from_oid), formatRelationName(row.from_schema!, row.from_name));
  }
  return { reads, readBy, relkinds, names, kin };
}

/**
 * Whether a walk goes on through a node it reached: through functions, plain views, partitioned tables (whose
 * rows are their partitions') and the kin of a changed relation. It stops at other tables and at materialized
 * views, which the walks decide on.
 */
export function passesThrough(graph: DependencyGraph, node: NodeKey): boolean {
  if (node[0] === 'f') return true;
  const oid = Number(node.slice(1));
  const relkind = graph.relkinds.get(oid);
  return relkind === 'v' || relkind === 'p' || (relkind !== 'm' && graph.kin.has(oid));
}
