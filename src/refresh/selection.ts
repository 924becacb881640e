import type { ClientBase } from 'pg';
import type { ChangedTable } from './contract';
import { RefreshError } from './errors';
import { parseRelationName, quoteIdentifier } from './names';

/** Relation kinds a changed table may have: the relations a view can read. */
const READABLE_RELKINDS: Record<string, string> = {
  r: 'a table',
  p: 'a partitioned table',
  f: 'a foreign table',
  v: 'a plain view',
  m: 'a materialized view',
};

const OTHER_RELKINDS: Record<string, string> = {
  S: 'a sequence',
  i: 'an index',
  I: 'a partitioned index',
  c: 'a composite type',
  t: 'a TOAST table',
};

/** How many view names the report gives per changed table; the count covers the rest. */
export const MAX_VIEWS_NAMED_PER_TABLE = 10;
/** How many changed tables the report lists; `omittedTables` counts the rest. */
export const MAX_TABLES_LISTED = 50;

/** A changed relation, resolved through the catalog. */
export interface ResolvedTable {
  readonly oid: number;
  /** `schema.name`, quoted where PostgreSQL needs quotes. */
  readonly qualifiedName: string;
}

/**
 * Resolves the names of changed relations (regclass syntax, unqualified names through the `search_path`).
 * Tables, partitioned tables, foreign tables, plain views and materialized views are accepted. Every problem is
 * collected into one error, so nothing runs until every name is valid.
 * @param origin where the names came from, for messages
 */
export async function resolveTableNames(client: ClientBase, names: readonly unknown[], origin: string): Promise<ResolvedTable[]> {
  const problems: Array<string | undefined> = names.map(() => undefined);
  const canonical = names.map((input, index) => {
    try {
      const { schema, name } = parseRelationName(input, 'table name');
      return schema === undefined ? quoteIdentifier(name) : `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
    } catch (error) {
      problems[index] = (error as Error).message;
      return '';
    }
  });

  // to_regclass reads the canonical text as a name, never as SQL; it returns NULL for a missing relation.
  const { rows } = await client.query<{ oid: number | null; relkind: string | null; qualified_name: string | null }>(
    `SELECT c.oid, c.relkind, CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', n.nspname, c.relname) END AS qualified_name
       FROM unnest($1::text[]) WITH ORDINALITY AS input(name, ord)
       LEFT JOIN pg_catalog.pg_class c ON input.name <> '' AND c.oid = pg_catalog.to_regclass(input.name)
       LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      ORDER BY input.ord`,
    [canonical],
  );
  const tables = new Map<number, ResolvedTable>();
  rows.forEach((row, index) => {
    const input = names[index];
    if (canonical[index] === '') return;
    if (row.oid === null) {
      problems[index] = `table ${JSON.stringify(input)} does not exist`;
    } else if (!(row.relkind! in READABLE_RELKINDS)) {
      problems[index] = `${JSON.stringify(input)} is ${OTHER_RELKINDS[row.relkind!] ?? 'not a relation a view can read'}, not a table or view`;
    } else {
      tables.set(row.oid, { oid: row.oid, qualifiedName: row.qualified_name! });
    }
  });
  const found = problems.filter((problem) => problem !== undefined);
  if (found.length > 0) {
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: invalid ${origin}: ${found.join('; ')}`);
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
 * The materialized views among `candidates` that read any of the changed tables, directly or transitively
 * through plain views and through other candidate materialized views: with `T -> mv_a -> mv_b`, a change to
 * `T` selects both. A partition's change reaches the views that read its partitioned table.
 *
 * The walk stops at a materialized view outside the candidates: it is not refreshed, so what it returns, and
 * hence what its dependents return, does not change.
 */
export async function selectByTables(client: ClientBase, tables: readonly ResolvedTable[], candidates: readonly number[])
  : Promise<TableSelectionResult> {
  const { rows } = await client.query<{ origin: number; view: number; qualified_name: string }>(
    `WITH RECURSIVE
       changed(origin, rel) AS (
         -- A partition's rows are read through its ancestors.
         SELECT t.oid, a.relid
           FROM unnest($1::oid[]) AS t(oid)
           CROSS JOIN LATERAL (
             SELECT t.oid AS relid
             UNION
             SELECT p.relid FROM pg_catalog.pg_partition_ancestors(t.oid) AS p(relid)
           ) a
       ),
       reach(origin, rel) AS (
         SELECT origin, rel FROM changed
       UNION
         -- UNION drops rows already reached, so the walk ends even where views depend on each other in a cycle.
         SELECT reach.origin, r.ev_class
           FROM reach
           JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = reach.rel
                                      AND d.classid = 'pg_catalog.pg_rewrite'::regclass
           JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid AND r.rulename = '_RETURN'
           JOIN pg_catalog.pg_class reader ON reader.oid = r.ev_class
          WHERE r.ev_class <> reach.rel
            AND (reader.relkind = 'v' OR (reader.relkind = 'm' AND reader.oid = ANY($2::oid[])))
       )
     SELECT DISTINCT reach.origin, reach.rel AS view, format('%I.%I', n.nspname, c.relname) AS qualified_name
       FROM reach
       JOIN pg_catalog.pg_class c ON c.oid = reach.rel
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'm' AND c.oid = ANY($2::oid[]) AND reach.rel <> reach.origin
      ORDER BY 3`,
    [tables.map((table) => table.oid), candidates],
  );

  const byTable = new Map<number, string[]>(tables.map((table) => [table.oid, []]));
  const oids = new Set<number>();
  for (const row of rows) {
    byTable.get(Number(row.origin))?.push(row.qualified_name);
    oids.add(Number(row.view));
  }
  return {
    oids: [...oids],
    tables: tables.slice(0, MAX_TABLES_LISTED).map((table) => {
      const views = byTable.get(table.oid) ?? [];
      return { table: table.qualifiedName, selected: views.length, views: views.slice(0, MAX_VIEWS_NAMED_PER_TABLE) };
    }),
    omittedTables: Math.max(0, tables.length - MAX_TABLES_LISTED),
  };
}
