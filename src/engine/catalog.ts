import type { ClientBase } from 'pg';
import { DependencyGraph, NodeKey, passesThrough, ResolvedDependency } from './dependencies';
import { listProblems } from './errors';
import { MATERIALIZED_VIEWS, resolveRelations } from './relation-names';
import { formatRelationName, parseSchemaName } from '../shared/names';
import { RefreshError } from '../shared/refresh-error';
import type { ViewDependency } from '../shared/refresh-policies';

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
  /**
   * The selected materialized views this one reads, directly or through plain views and SQL-standard function
   * bodies, and those it is declared to depend on.
   */
  readonly dependsOn: number[];
}

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
  return (await resolveRelations(client, names, origin, MATERIALIZED_VIEWS)).map((view) => view.oid);
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
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: invalid ${origin}: ${listProblems(problems)}`);
  }
  return [...oids];
}

/**
 * Resolves declared dependencies to OIDs; every name must be a materialized view, and none may depend on
 * itself. Problems are collected into one error, like {@link resolveViewNames}.
 * @param origin where they came from, for messages
 */
export async function resolveExtraDependencies(
  client: ClientBase,
  declared: readonly ViewDependency[],
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
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: invalid ${origin}: ${listProblems(problems)}`);
  }
  return resolved;
}

/**
 * Describes the selected materialized views: CONCURRENTLY eligibility and the dependencies among them, found
 * in the {@link DependencyGraph} (which the selection by changed tables follows too): `mv_b -> view ->
 * function -> mv_a` makes mv_b wait for mv_a. The walk from each view stops at any materialized view: an
 * unselected one is not refreshed, so the views behind it cannot change what it returns. Its cost grows with
 * the edges each view reaches before the next materialized view, not with views times their reach.
 */
export async function describeViews(client: ClientBase, oids: readonly number[], graph: DependencyGraph): Promise<MaterializedView[]> {
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
    dependsOn: selectedDependencies(row.oid, graph, selected),
  }));
}

/**
 * The selected materialized views one view reads: a walk from the view through plain views and functions
 * (see {@link passesThrough}), stopping at every materialized view. A view that reads itself (possible
 * through CREATE OR REPLACE VIEW) reads its previous contents, which is not a dependency to wait for.
 */
function selectedDependencies(oid: number, graph: DependencyGraph, selected: ReadonlySet<number>): number[] {
  const found = new Set<number>();
  const seen = new Set<NodeKey>();
  const stack: NodeKey[] = [...(graph.reads.get(`r${oid}`) ?? [])];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    const target = Number(node.slice(1));
    if (node[0] === 'r' && graph.relkinds.get(target) === 'm') {
      if (target !== oid && selected.has(target)) found.add(target);
    } else if (passesThrough(graph, node)) {
      stack.push(...(graph.reads.get(node) ?? []));
    }
  }
  return [...found].sort((a, b) => a - b);
}
