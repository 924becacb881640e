import type { ClientBase } from 'pg';
import type { ExtraDependency } from './contract';
import { RefreshError } from './errors';
import { formatRelationName, parseRelationName, parseSchemaName, quoteIdentifier } from './names';

/** A materialized view as the catalog describes it. */
export interface MaterializedView {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** `schema.name`, quoted where PostgreSQL needs quotes. */
  readonly qualifiedName: string;
  /** False after `WITH NO DATA`: such a view cannot be refreshed CONCURRENTLY. */
  readonly populated: boolean;
  /** Has a unique index PostgreSQL accepts for REFRESH ... CONCURRENTLY. */
  readonly hasUsableUniqueIndex: boolean;
  /**
   * Unique indexes marked invalid (`indisvalid` false: left by a failed CREATE UNIQUE INDEX CONCURRENTLY),
   * schema-qualified and quoted where needed. REFRESH ... CONCURRENTLY ignores them; a plain REFRESH rebuilds
   * them, and fails while the view's rows repeat their key.
   */
  readonly invalidUniqueIndexes: string[];
  /** The selected materialized views this one reads, directly or through plain views. */
  readonly dependsOn: number[];
}

const RELKIND_NAMES: Record<string, string> = {
  r: 'a table',
  p: 'a partitioned table',
  v: 'a plain view',
  f: 'a foreign table',
  S: 'a sequence',
  i: 'an index',
  I: 'a partitioned index',
  c: 'a composite type',
  t: 'a TOAST table',
};

/**
 * Resolves names (regclass syntax) to materialized view OIDs through the catalog, with the server's
 * `search_path` for unqualified names. Every problem is collected into one error, so nothing runs
 * until the whole selection is valid.
 * @param origin where the names came from, for messages
 */
export async function resolveViewNames(client: ClientBase, names: readonly unknown[], origin: string): Promise<number[]> {
  return [...new Set(await resolveEach(client, names, origin))];
}

/** Like {@link resolveViewNames}, but one OID per name, in the order given. */
async function resolveEach(client: ClientBase, names: readonly unknown[], origin: string): Promise<number[]> {
  // One slot per input, so problems are reported in the order the names were given.
  const problems: Array<string | undefined> = names.map(() => undefined);
  const canonical = names.map((input, index) => {
    try {
      const { schema, name } = parseRelationName(input);
      return schema === undefined ? quoteIdentifier(name) : `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
    } catch (error) {
      problems[index] = (error as Error).message;
      return '';
    }
  });

  // to_regclass reads the canonical text as a name, never as SQL; it returns NULL for a missing relation.
  const { rows } = await client.query<{ ord: string; oid: number | null; relkind: string | null }>(
    `SELECT input.ord, c.oid, c.relkind
       FROM unnest($1::text[]) WITH ORDINALITY AS input(name, ord)
       LEFT JOIN pg_catalog.pg_class c ON input.name <> '' AND c.oid = pg_catalog.to_regclass(input.name)
      ORDER BY input.ord`,
    [canonical],
  );
  const oids: number[] = [];
  rows.forEach((row, index) => {
    const input = names[index];
    if (canonical[index] === '') return;
    if (row.oid === null) {
      problems[index] = `Materialized view ${JSON.stringify(input)} does not exist`;
    } else if (row.relkind !== 'm') {
      problems[index] = `${JSON.stringify(input)} is ${RELKIND_NAMES[row.relkind ?? ''] ?? 'not a relation'}, not a materialized view`;
    } else {
      oids.push(row.oid);
    }
  });
  const found = problems.filter((problem) => problem !== undefined);
  if (found.length > 0) {
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: invalid ${origin}: ${found.join('; ')}`);
  }
  return oids;
}

/**
 * The materialized views in the given schemas, or with no schemas, every one outside the system schemas.
 * @param origin where the schema names came from, for messages
 */
export async function listViews(client: ClientBase, schemas: readonly unknown[] | undefined, origin: string): Promise<number[]> {
  if (schemas === undefined) {
    const { rows } = await client.query<{ oid: number }>(
      `SELECT c.oid
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'm'
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`,
    );
    return rows.map((row) => row.oid);
  }

  const problems: string[] = [];
  const parsed: string[] = [];
  for (const input of schemas) {
    try {
      parsed.push(parseSchemaName(input));
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  const { rows } = await client.query<{ name: string; exists: boolean; oids: number[] | null }>(
    `SELECT s.name,
            n.oid IS NOT NULL AS exists,
            (SELECT array_agg(c.oid) FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid AND c.relkind = 'm') AS oids
       FROM unnest($1::text[]) WITH ORDINALITY AS s(name, ord)
       LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
      ORDER BY s.ord`,
    [parsed],
  );
  const oids = new Set<number>();
  for (const row of rows) {
    if (!row.exists) problems.push(`schema ${JSON.stringify(row.name)} does not exist`);
    for (const oid of row.oids ?? []) oids.add(Number(oid));
  }
  if (problems.length > 0) {
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: invalid ${origin}: ${problems.join('; ')}`);
  }
  return [...oids];
}

/** A declared dependency, resolved: `view` waits for each of `dependsOn`. */
export interface ResolvedDependency {
  readonly view: number;
  readonly dependsOn: readonly number[];
}

/**
 * Resolves declared dependencies to OIDs; every name must be a materialized view, and none may depend on
 * itself. Problems are collected into one error, like {@link resolveViewNames}.
 * @param origin where they came from, for messages
 */
export async function resolveExtraDependencies(
  client: ClientBase,
  declared: readonly ExtraDependency[],
  origin: string,
): Promise<ResolvedDependency[]> {
  if (declared.length === 0) return [];
  const names = declared.flatMap((entry) => [entry.view, ...entry.dependsOn]);
  const oids = await resolveEach(client, names, origin);
  const problems: string[] = [];
  let next = 0;
  const resolved = declared.map((entry) => {
    const view = oids[next++];
    const dependsOn = entry.dependsOn.map(() => oids[next++]);
    if (dependsOn.includes(view)) problems.push(`${entry.view} cannot depend on itself`);
    return { view, dependsOn };
  });
  if (problems.length > 0) {
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: invalid ${origin}: ${problems.join('; ')}`);
  }
  return resolved;
}

/** Adds declared dependencies between selected views to what the catalog records. */
export function withExtraDependencies(views: readonly MaterializedView[], declared: readonly ResolvedDependency[]): MaterializedView[] {
  if (declared.length === 0) return [...views];
  const selected = new Set(views.map((view) => view.oid));
  const extra = new Map<number, Set<number>>();
  for (const entry of declared) {
    const set = extra.get(entry.view) ?? new Set<number>();
    for (const oid of entry.dependsOn) if (selected.has(oid)) set.add(oid);
    extra.set(entry.view, set);
  }
  return views.map((view) => {
    const added = extra.get(view.oid);
    return added ? { ...view, dependsOn: [...new Set([...view.dependsOn, ...added])] } : view;
  });
}

/** A node of the dependency walk: a relation (`r`) or a function (`f`), by OID. */
type NodeKey = `${'r' | 'f'}${number}`;

/**
 * Describes the selected materialized views: CONCURRENTLY eligibility and the dependencies among them.
 *
 * Dependencies are what the catalog records for a view's query: the dependencies of its `_RETURN` rule
 * (pg_rewrite, pg_depend). They are followed through plain views and through functions whose SQL-standard
 * body (`BEGIN ATOMIC`) the catalog records, so `mv_b -> view -> function -> mv_a` makes mv_b wait for mv_a.
 * Other rules of a plain view (`ON INSERT DO INSTEAD ...`) are not part of its query and do not count; a
 * function with a string body (`AS $$ ... $$`) has no recorded dependencies. The walk stops at any
 * materialized view: an unselected one is not refreshed, so the views behind it cannot change what it returns.
 *
 * The catalog returns the edges of the walk once; the dependencies of each view are then found in memory, so
 * the cost grows with the number of edges, not with views times their reach.
 */
export async function describeViews(client: ClientBase, oids: readonly number[]): Promise<MaterializedView[]> {
  const { rows } = await client.query<{
    oid: number;
    schema: string;
    name: string;
    populated: boolean;
    has_usable_unique_index: boolean;
    invalid_unique_indexes: string[] | null;
  }>(
    `SELECT c.oid, n.nspname AS schema, c.relname AS name,
            c.relispopulated AS populated,
            EXISTS (
              -- The rules of REFRESH ... CONCURRENTLY (matview.c, is_usable_unique_index).
              SELECT 1
                FROM pg_catalog.pg_index i
                JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                JOIN pg_catalog.pg_am am ON am.oid = ic.relam
               WHERE i.indrelid = c.oid AND i.indisunique AND i.indimmediate AND i.indisvalid
                 AND i.indpred IS NULL AND i.indnatts > 0 AND am.amname = 'btree'
                 AND 0 < ALL (i.indkey::int2[])
            ) AS has_usable_unique_index,
            (SELECT array_agg(format('%I.%I', n.nspname, ic.relname) ORDER BY ic.relname)
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              WHERE i.indrelid = c.oid AND i.indisunique AND NOT i.indisvalid) AS invalid_unique_indexes
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = ANY($1::oid[])
      ORDER BY n.nspname, c.relname`,
    [oids],
  );
  const edges = await dependencyEdges(client, oids);
  const selected = new Set(rows.map((row) => row.oid));
  return rows.map((row) => ({
    oid: row.oid,
    schema: row.schema,
    name: row.name,
    // Named here rather than by the server's format(), whose keyword list differs between versions: the
    // construct names the views it watches with this same function.
    qualifiedName: formatRelationName(row.schema, row.name),
    populated: row.populated,
    hasUsableUniqueIndex: row.has_usable_unique_index,
    invalidUniqueIndexes: row.invalid_unique_indexes ?? [],
    dependsOn: selectedDependencies(row.oid, edges, selected),
  }));
}

interface Edges {
  /** What each relation or function reads: plain views, materialized views, functions. */
  readonly reads: Map<NodeKey, NodeKey[]>;
  /** Relations among the targets that are materialized views. */
  readonly materialized: Set<number>;
}

/**
 * The edges the walk can take from the selected views: what the `_RETURN` rule of a selected materialized
 * view or of a plain view reads, and what a function's recorded body reads. One recursive query: it expands
 * only selected materialized views, plain views and functions, and keeps only edges to those kinds.
 */
async function dependencyEdges(client: ClientBase, oids: readonly number[]): Promise<Edges> {
  const { rows } = await client.query<{ from_kind: 'r' | 'f'; from_oid: number; to_kind: 'r' | 'f'; to_oid: number; to_relkind: string | null }>(
    `WITH RECURSIVE edge(from_kind, from_oid, to_kind, to_oid, to_relkind) AS (
         -- What a relation's query reads. A rule also depends on its own relation; that is not an edge.
         SELECT 'r'::text, r.ev_class, CASE d.refclassid WHEN 'pg_catalog.pg_proc'::regclass THEN 'f' ELSE 'r' END, d.refobjid, ref.relkind
           FROM pg_catalog.pg_rewrite r
           JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
           LEFT JOIN pg_catalog.pg_class ref ON d.refclassid = 'pg_catalog.pg_class'::regclass AND ref.oid = d.refobjid
          WHERE r.rulename = '_RETURN'
            AND (ref.relkind IN ('v', 'm') OR d.refclassid = 'pg_catalog.pg_proc'::regclass)
            AND NOT (d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = r.ev_class)
       UNION ALL
         -- What a function with a SQL-standard body reads (string bodies record nothing).
         SELECT 'f', d.objid, CASE d.refclassid WHEN 'pg_catalog.pg_proc'::regclass THEN 'f' ELSE 'r' END, d.refobjid, ref.relkind
           FROM pg_catalog.pg_depend d
           LEFT JOIN pg_catalog.pg_class ref ON d.refclassid = 'pg_catalog.pg_class'::regclass AND ref.oid = d.refobjid
          WHERE d.classid = 'pg_catalog.pg_proc'::regclass
            AND (ref.relkind IN ('v', 'm') OR d.refclassid = 'pg_catalog.pg_proc'::regclass)
            AND NOT (d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = d.objid)
     ),
     -- selected: a selected materialized view, where the walk starts. Walks continue from it, from plain views
     -- and from functions, and stop at every other relation.
     walk(kind, oid, relkind, selected) AS (
         SELECT 'r'::text, c.oid, c.relkind::text, true FROM pg_catalog.pg_class c WHERE c.oid = ANY($1::oid[])
       UNION
         SELECT e.to_kind, e.to_oid, e.to_relkind::text, false
           FROM walk w JOIN edge e ON e.from_kind = w.kind AND e.from_oid = w.oid
          WHERE w.selected OR w.kind = 'f' OR w.relkind = 'v'
     )
     SELECT DISTINCT e.from_kind, e.from_oid, e.to_kind, e.to_oid, e.to_relkind
       FROM walk w JOIN edge e ON e.from_kind = w.kind AND e.from_oid = w.oid
      WHERE w.selected OR w.kind = 'f' OR w.relkind = 'v'`,
    [oids],
  );
  const reads = new Map<NodeKey, NodeKey[]>();
  const materialized = new Set<number>();
  for (const row of rows) {
    const from: NodeKey = `${row.from_kind}${Number(row.from_oid)}`;
    const list = reads.get(from) ?? [];
    list.push(`${row.to_kind}${Number(row.to_oid)}`);
    reads.set(from, list);
    if (row.to_relkind === 'm') materialized.add(Number(row.to_oid));
  }
  return { reads, materialized };
}

/**
 * The selected materialized views one view reads: a walk from the view through plain views and functions,
 * stopping at every materialized view. A view that reads itself (possible through CREATE OR REPLACE VIEW)
 * reads its previous contents, which is not a dependency to wait for.
 */
function selectedDependencies(oid: number, edges: Edges, selected: ReadonlySet<number>): number[] {
  const found = new Set<number>();
  const seen = new Set<NodeKey>();
  const stack: NodeKey[] = [...(edges.reads.get(`r${oid}`) ?? [])];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    const target = Number(node.slice(1));
    if (node[0] === 'r' && edges.materialized.has(target)) {
      if (target !== oid && selected.has(target)) found.add(target);
      continue;
    }
    stack.push(...(edges.reads.get(node) ?? []));
  }
  return [...found].sort((a, b) => a - b);
}
