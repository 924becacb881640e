import type { ClientBase } from 'pg';
import { RefreshError } from './errors';
import { parseRelationName, parseSchemaName, quoteIdentifier } from './names';

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
    } else if (!oids.includes(row.oid)) {
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

/**
 * Describes the selected materialized views: CONCURRENTLY eligibility and the dependencies among them.
 *
 * Dependencies come from the view's query, its `_RETURN` rule (pg_rewrite, pg_depend), and are followed through
 * plain views; other rules of a plain view (`ON INSERT DO INSTEAD ...`) are not read by the query and do not count,
 * so `mv_b -> view -> mv_a` makes mv_b wait for mv_a. The walk stops at any materialized view: an unselected
 * one is not refreshed, so the views behind it cannot change what it returns.
 */
export async function describeViews(client: ClientBase, oids: readonly number[]): Promise<MaterializedView[]> {
  const { rows } = await client.query<{
    oid: number;
    schema: string;
    name: string;
    qualified_name: string;
    populated: boolean;
    has_usable_unique_index: boolean;
    depends_on: number[] | null;
  }>(
    `WITH RECURSIVE reach(origin, rel, relkind) AS (
         SELECT c.oid, c.oid, c.relkind FROM pg_catalog.pg_class c WHERE c.oid = ANY($1::oid[])
       UNION
         SELECT reach.origin, ref.oid, ref.relkind
           FROM reach
           JOIN pg_catalog.pg_rewrite r ON r.ev_class = reach.rel AND r.rulename = '_RETURN'
           JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                      AND d.refclassid = 'pg_catalog.pg_class'::regclass
           JOIN pg_catalog.pg_class ref ON ref.oid = d.refobjid
          WHERE (reach.rel = reach.origin OR reach.relkind = 'v') AND ref.oid <> reach.rel
     )
     SELECT c.oid, n.nspname AS schema, c.relname AS name,
            format('%I.%I', n.nspname, c.relname) AS qualified_name,
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
            (SELECT array_agg(DISTINCT reach.rel)
               FROM reach
              WHERE reach.origin = c.oid AND reach.rel <> c.oid AND reach.relkind = 'm'
                AND reach.rel = ANY($1::oid[])) AS depends_on
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = ANY($1::oid[])
      ORDER BY n.nspname, c.relname`,
    [oids],
  );
  return rows.map((row) => ({
    oid: row.oid,
    schema: row.schema,
    name: row.name,
    qualifiedName: row.qualified_name,
    populated: row.populated,
    hasUsableUniqueIndex: row.has_usable_unique_index,
    dependsOn: (row.depends_on ?? []).map(Number),
  }));
}
