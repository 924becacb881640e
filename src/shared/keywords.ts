/**
 * The SQL keywords that PostgreSQL's `quote_ident` (and `format('%I')`) quotes even when they are written in lower
 * case: every keyword whose category is not unreserved, as listed by
 * `SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'` on PostgreSQL 18. Older servers know fewer keywords
 * (`system_user` and the `json_*` words are recent), so the engine names views with this list, not with the
 * server's format(): the report and the construct agree on every server version.
 * @see https://www.postgresql.org/docs/current/sql-keywords-appendix.html
 */
export const NON_UNRESERVED_KEYWORDS: ReadonlySet<string> = new Set([
  // Reserved.
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'both', 'case', 'cast', 'check',
  'collate', 'column', 'constraint', 'create', 'current_catalog', 'current_date', 'current_role', 'current_time',
  'current_timestamp', 'current_user', 'default', 'deferrable', 'desc', 'distinct', 'do', 'else', 'end', 'except',
  'false', 'fetch', 'for', 'foreign', 'from', 'grant', 'group', 'having', 'in', 'initially', 'intersect', 'into',
  'lateral', 'leading', 'limit', 'localtime', 'localtimestamp', 'not', 'null', 'offset', 'on', 'only', 'or', 'order',
  'placing', 'primary', 'references', 'returning', 'select', 'session_user', 'some', 'symmetric', 'system_user',
  'table', 'then', 'to', 'trailing', 'true', 'union', 'unique', 'user', 'using', 'variadic', 'when', 'where',
  'window', 'with',
  // Reserved, but allowed as function or type names.
  'authorization', 'binary', 'collation', 'concurrently', 'cross', 'current_schema', 'freeze', 'full', 'ilike',
  'inner', 'is', 'isnull', 'join', 'left', 'like', 'natural', 'notnull', 'outer', 'overlaps', 'right', 'similar',
  'tablesample', 'verbose',
  // Not reserved, but not allowed as function or type names.
  'between', 'bigint', 'bit', 'boolean', 'char', 'character', 'coalesce', 'dec', 'decimal', 'exists', 'extract',
  'float', 'greatest', 'grouping', 'inout', 'int', 'integer', 'interval', 'json', 'json_array', 'json_arrayagg',
  'json_exists', 'json_object', 'json_objectagg', 'json_query', 'json_scalar', 'json_serialize', 'json_table',
  'json_value', 'least', 'merge_action', 'national', 'nchar', 'none', 'normalize', 'nullif', 'numeric', 'out',
  'overlay', 'position', 'precision', 'real', 'row', 'setof', 'smallint', 'substring', 'time', 'timestamp', 'treat',
  'trim', 'values', 'varchar', 'xmlattributes', 'xmlconcat', 'xmlelement', 'xmlexists', 'xmlforest', 'xmlnamespaces',
  'xmlparse', 'xmlpi', 'xmlroot', 'xmlserialize', 'xmltable',
]);
