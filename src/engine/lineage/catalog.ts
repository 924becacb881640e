import type { ClientBase } from 'pg';

/** A relation a materialized view reads, as the catalog names it. */
export interface LineageInput {
  readonly schema: string;
  readonly name: string;
  /** `pg_class.relkind`: `r` table, `p` partitioned table, `f` foreign table, `m` materialized view. */
  readonly relkind: string;
}

export interface LineageColumn {
  readonly name: string;
  readonly type: string;
  readonly position: number;
}

/** What the lineage events of one materialized view say about it. */
export interface ViewFacts {
  /** `pg_get_viewdef`: the view's query. */
  readonly sql: string;
  readonly columns: readonly LineageColumn[];
  readonly inputs: readonly LineageInput[];
}

export interface LineageCatalog {
  readonly serverVersion: string;
  readonly views: ReadonlyMap<number, ViewFacts>;
}

/** The most a lineage catalog read may wait for a lock, and take in all, in milliseconds. */
export const CATALOG_LOCK_TIMEOUT_MS = 200;
export const CATALOG_STATEMENT_TIMEOUT_MS = 2_000;

/**
 * Reads what each materialized view reads, its query and its columns, inside the open transaction of `client` (the
 * run lock's): in a savepoint rolled back at once, so that the locks `pg_get_viewdef` takes on the relations a
 * view reads are released again and never stand in a refresh's way, and with short lock and statement timeouts,
 * so that a refresh of another run holding those relations costs this run little. Throws what the server threw,
 * the transaction back as it was.
 */
export async function readLineageCatalog(client: ClientBase, oids: readonly number[]): Promise<LineageCatalog> {
  await client.query('SAVEPOINT itc_lineage');
  try {
    await client.query(`SELECT pg_catalog.set_config('lock_timeout', '${CATALOG_LOCK_TIMEOUT_MS}ms', true),
                               pg_catalog.set_config('statement_timeout', '${CATALOG_STATEMENT_TIMEOUT_MS}ms', true)`);
    return await queryLineage(client, oids);
  } finally {
    // Rolling back to the savepoint releases its locks and restores the timeouts.
    await client.query('ROLLBACK TO SAVEPOINT itc_lineage');
    await client.query('RELEASE SAVEPOINT itc_lineage');
  }
}

/**
 * Reads, in one query, what each materialized view reads, its query and its columns. The inputs are the tables,
 * partitioned tables, foreign tables and materialized views its query reads, directly or through plain views and
 * functions with a SQL-standard body (`BEGIN ATOMIC`), whose own reads the catalog records; a partitioned table
 * is named, not its partitions. The walk stops at materialized views, which have lineage of their own.
 */
async function queryLineage(client: ClientBase, oids: readonly number[]): Promise<LineageCatalog> {
  const { rows } = await client.query<{
    oid: number;
    sql: string | null;
    columns: LineageColumn[] | null;
    inputs: LineageInput[] | null;
    server_version: string;
  }>(
    `-- lineage of the materialized views, from pg_rewrite, pg_depend and pg_attribute
     WITH RECURSIVE edge(from_kind, from_oid, to_kind, to_oid) AS (
         SELECT 'r', r.ev_class, CASE d.refclassid WHEN 'pg_catalog.pg_proc'::regclass THEN 'f' ELSE 'r' END, d.refobjid
           FROM pg_catalog.pg_rewrite r
           JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
          WHERE r.rulename = '_RETURN'
            AND d.refclassid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_proc'::regclass)
            AND NOT (d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = r.ev_class)
       UNION
         SELECT 'f', d.objid, CASE d.refclassid WHEN 'pg_catalog.pg_proc'::regclass THEN 'f' ELSE 'r' END, d.refobjid
           FROM pg_catalog.pg_depend d
          WHERE d.classid = 'pg_catalog.pg_proc'::regclass
            AND d.refclassid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_proc'::regclass)
            AND NOT (d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = d.objid)
     ),
     walk(view_oid, kind, oid) AS (
         SELECT e.from_oid, e.to_kind, e.to_oid FROM edge e WHERE e.from_kind = 'r' AND e.from_oid = ANY($1::oid[])
       UNION
         -- On through functions and plain views only.
         SELECT w.view_oid, e.to_kind, e.to_oid
           FROM walk w JOIN edge e ON e.from_kind = w.kind AND e.from_oid = w.oid
          WHERE w.kind = 'f' OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = w.oid AND c.relkind = 'v')
     )
     SELECT v.oid, pg_catalog.pg_get_viewdef(v.oid) AS sql, current_setting('server_version') AS server_version,
            (SELECT json_agg(json_build_object('name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                                               'position', a.attnum) ORDER BY a.attnum)
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
            (SELECT json_agg(json_build_object('schema', n.nspname, 'name', c.relname, 'relkind', c.relkind)
                             ORDER BY n.nspname, c.relname)
               FROM (SELECT DISTINCT w.oid FROM walk w WHERE w.view_oid = v.oid AND w.kind = 'r') read
               JOIN pg_catalog.pg_class c ON c.oid = read.oid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p', 'f', 'm') AND c.oid <> v.oid) AS inputs
       FROM pg_catalog.pg_class v
      WHERE v.oid = ANY($1::oid[])`,
    [oids],
  );
  return {
    serverVersion: rows[0]?.server_version ?? '',
    views: new Map(rows.map((row) => [Number(row.oid), { sql: row.sql ?? '', columns: row.columns ?? [], inputs: row.inputs ?? [] }])),
  };
}
