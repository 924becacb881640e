import type { ClientBase } from 'pg';
import { listProblems } from './errors';
import { parseRelationName, quoteIdentifier } from '../shared/names';
import { RefreshError } from '../shared/refresh-error';

/** What each relation kind (`pg_class.relkind`) is called in messages. */
export const RELKIND_NAMES: Readonly<Record<string, string>> = {
  r: 'a table',
  p: 'a partitioned table',
  v: 'a plain view',
  m: 'a materialized view',
  f: 'a foreign table',
  S: 'a sequence',
  i: 'an index',
  I: 'a partitioned index',
  c: 'a composite type',
  t: 'a TOAST table',
};

/** A name that resolved to a relation of an accepted kind. */
export interface ResolvedRelation {
  readonly oid: number;
  readonly relkind: string;
  readonly schema: string;
  readonly name: string;
}

/** Which relations a list of names may name, and how to say that one does not fit. */
export interface RelationRule {
  /** What a name is called when it cannot be parsed, e.g. `view name`. */
  readonly what: string;
  readonly accepts: (relkind: string) => boolean;
  /** The problem of a name no relation has. */
  readonly missing: (input: unknown) => string;
  /** The problem of a name whose relation is of a kind the rule does not accept. */
  readonly wrongKind: (input: unknown, relkind: string) => string;
}

/**
 * Resolves names (regclass syntax) to relations through the catalog, with the server's `search_path` for
 * unqualified names: one relation per name, in the order given. Every problem is collected into one error, in
 * the order of the names, so nothing runs until every name is valid.
 * @param origin where the names came from, for messages
 */
export async function resolveRelations(
  client: ClientBase, names: readonly unknown[], origin: string, rule: RelationRule,
): Promise<ResolvedRelation[]> {
  // One slot per input, so problems are reported in the order the names were given.
  const problems: Array<string | undefined> = names.map(() => undefined);
  const canonical = names.map((input, index) => {
    try {
      const { schema, name } = parseRelationName(input, rule.what);
      return schema === undefined ? quoteIdentifier(name) : `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
    } catch (error) {
      problems[index] = (error as Error).message;
      return '';
    }
  });

  // to_regclass reads the canonical text as a name, never as SQL; it returns NULL for a missing relation.
  const { rows } = await client.query<{ oid: number | null; relkind: string | null; schema: string | null; name: string | null }>(
    `SELECT c.oid, c.relkind, n.nspname AS schema, c.relname AS name
       FROM unnest($1::text[]) WITH ORDINALITY AS input(name, ord)
       LEFT JOIN pg_catalog.pg_class c ON input.name <> '' AND c.oid = pg_catalog.to_regclass(input.name)
       LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      ORDER BY input.ord`,
    [canonical],
  );
  const relations: ResolvedRelation[] = [];
  rows.forEach((row, index) => {
    const input = names[index];
    if (canonical[index] === '') return;
    if (row.oid === null) {
      problems[index] = rule.missing(input);
    } else if (!rule.accepts(row.relkind!)) {
      problems[index] = rule.wrongKind(input, row.relkind!);
    } else {
      relations.push({ oid: row.oid, relkind: row.relkind!, schema: row.schema!, name: row.name! });
    }
  });
  const found = problems.filter((problem) => problem !== undefined);
  if (found.length > 0) {
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: invalid ${origin}: ${listProblems(found as string[])}`);
  }
  return relations;
}

/** Names of materialized views. */
export const MATERIALIZED_VIEWS: RelationRule = {
  what: 'view name',
  accepts: (relkind) => relkind === 'm',
  missing: (input) => `Materialized view ${JSON.stringify(input)} does not exist`,
  wrongKind: (input, relkind) => `${JSON.stringify(input)} is ${RELKIND_NAMES[relkind] ?? 'not a relation'}, not a materialized view`,
};

/** Relation kinds a changed table may have: the relations a view can read. */
const READABLE_RELKINDS = new Set(['r', 'p', 'f', 'v', 'm']);

/** Names of changed relations: tables, partitioned tables, foreign tables, plain views and materialized views. */
export const READABLE_RELATIONS: RelationRule = {
  what: 'table name',
  accepts: (relkind) => READABLE_RELKINDS.has(relkind),
  missing: (input) => `table ${JSON.stringify(input)} does not exist`,
  wrongKind: (input, relkind) => `${JSON.stringify(input)} is ${RELKIND_NAMES[relkind] ?? 'not a relation a view can read'}, not a table or view`,
};
