import type { ClientBase } from 'pg';
import { DependencyGraph, NodeKey, passesThrough } from './dependencies';
import { READABLE_RELATIONS, resolveRelations } from './relation-names';
import { ChangedTable, ReportLimits } from '../shared/contract';
import { formatRelationName } from '../shared/names';

/** How many view names the report gives per changed table; the count covers the rest. */
export const MAX_VIEWS_NAMED_PER_TABLE = 10;
/** How many changed tables the report lists at most, within {@link ReportLimits.SELECTION_BYTES}; `omittedTables` counts the rest. */
export const MAX_TABLES_LISTED = 50;

/** A changed relation, resolved through the catalog. */
export interface ResolvedTable {
  readonly oid: number;
  /** `schema.name` as {@link formatRelationName} writes it. */
  readonly qualifiedName: string;
}

/**
 * Resolves the names of changed relations (regclass syntax, unqualified names through the `search_path`).
 * Tables, partitioned tables, foreign tables, plain views and materialized views are accepted. Every problem is
 * collected into one error, so nothing runs until every name is valid.
 * @param origin where the names came from, for messages
 */
export async function resolveTableNames(client: ClientBase, names: readonly unknown[], origin: string): Promise<ResolvedTable[]> {
  const tables = new Map<number, ResolvedTable>();
  for (const table of await resolveRelations(client, names, origin, READABLE_RELATIONS)) {
    tables.set(table.oid, { oid: table.oid, qualifiedName: formatRelationName(table.schema, table.name) });
  }
  return [...tables.values()];
}

/** The views selected because of changed tables. */
export interface TableSelectionResult {
  /** The selected views to refresh, in no particular order. */
  readonly oids: number[];
  /** Per changed table, in the order given, the views selected because of it; at most {@link MAX_TABLES_LISTED}. */
  readonly tables: ChangedTable[];
  /** Changed tables left out of `tables`. */
  readonly omittedTables: number;
}

/**
 * The materialized views among `candidates` that read any of the changed tables, directly or transitively,
 * along the edges of the {@link DependencyGraph} the refresh order follows: through plain views, SQL-standard
 * function bodies, declared dependencies and other candidate materialized views. With `T -> mv_a -> mv_b`, a
 * change to `T` selects both. A partition's change reaches the views that read its partitioned table.
 *
 * The walk stops at a materialized view outside the candidates: it is not refreshed, so what it returns, and
 * hence what its dependents return, does not change. One walk finds the views to refresh; the report's
 * per-table lists take one walk per listed table, at most {@link MAX_TABLES_LISTED}.
 *
 * @param graph read with the changed tables, so it holds the edges from them
 */
export function selectByTables(graph: DependencyGraph, tables: readonly ResolvedTable[], candidates: readonly number[]): TableSelectionResult {
  const eligible = new Set(candidates);
  const reach = (origins: readonly number[]): number[] => {
    const stack = origins.map((oid): NodeKey => `r${oid}`);
    const seen = new Set<NodeKey>(stack);
    const found = new Set<number>();
    while (stack.length > 0) {
      for (const reader of graph.readBy.get(stack.pop()!) ?? []) {
        const oid = Number(reader.slice(1));
        const materialized = reader[0] === 'r' && graph.relkinds.get(oid) === 'm';
        // A changed materialized view counts when the walk reaches it from a changed relation, like any other.
        if (materialized && eligible.has(oid)) found.add(oid);
        if (seen.has(reader)) continue;
        seen.add(reader);
        if (materialized ? eligible.has(oid) : passesThrough(graph, reader)) stack.push(reader);
      }
    }
    return [...found];
  };

  const name = (oid: number) => graph.names.get(oid)!;
  const byName = (a: number, b: number) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0);
  const listed: ChangedTable[] = [];
  let size = 2;
  for (const table of tables.slice(0, MAX_TABLES_LISTED)) {
    const views = reach([table.oid]).sort(byName);
    const entry = { table: table.qualifiedName, selected: views.length, views: views.slice(0, MAX_VIEWS_NAMED_PER_TABLE).map(name) };
    // Names that JSON must escape take up to six bytes a character: the list is bounded in bytes, not entries.
    const entrySize = Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (size + entrySize > ReportLimits.SELECTION_BYTES) break;
    size += entrySize;
    listed.push(entry);
  }
  return { oids: reach(tables.map((table) => table.oid)), tables: listed, omittedTables: tables.length - listed.length };
}
