import type { ClientBase } from 'pg';
import { BASELINE_TABLE } from './baselines';
import { APPLICATION_NAME } from './credentials';
import { storedSignal } from './detection';

/** What the statistics and the catalog say about one relation or function a view reads. */
export interface SourceSignal {
  /** `r<oid>` for a relation, `f<oid>` for a function. */
  readonly key: string;
  /** What changes when its content or definition does; for a view this run refreshes, its definition only. */
  readonly signal?: string;
  /** Why no signal covers what it returns: the view reading it is always refreshed. */
  readonly untrackable?: string;
}

/** Anything that can reset the statistics or put another server in place, as the server reports it now. */
export interface StatsEpoch {
  readonly system: string;
  readonly started: string;
  readonly databaseReset: string | null;
  readonly sharedReset: string | null;
}

/** A session inside a transaction when the signals were read: its writes reach the next run only. */
export interface OpenTransaction {
  readonly pid: number;
  readonly applicationName: string;
  /** ISO timestamp of the transaction's start; absent when the role may not see it. */
  readonly since?: string;
}

/** What every read of the signals also says about the server: the epoch, `track_counts`, open transactions. */
export interface SignalContext {
  readonly epoch: StatsEpoch;
  /** Why writes may go uncounted (`track_counts` off for the server, a database or a role); undefined when counted. */
  readonly uncounted?: string;
  readonly openTransactions: readonly OpenTransaction[];
}

/** One read of every signal: the context, and per view read what it reads. */
export interface ChangeSignals extends SignalContext {
  /** Per view read (by OID), the relations and functions it reads, directly or transitively. */
  readonly sources: ReadonlyMap<number, readonly SourceSignal[]>;
}

/** The views the database proves unchanged since their baselines, and the context of that read. */
export interface UnchangedProof extends SignalContext {
  readonly unchanged: ReadonlySet<number>;
}

/** Values PostgreSQL reads as `on` for a boolean setting (and their prefixes it accepts). */
const ON_VALUES = ['on', 'true', 'tr', 'tru', 't', 'yes', 'ye', 'y', '1'];

/** What a full read of the signals may reuse. */
export interface SignalReadOptions {
  /** The views whose walks are read; the default, every candidate. */
  readonly roots?: readonly number[];
  /** The definitions the baselines hold as trackable (`key=signal`), whose query trees are not scanned again. */
  readonly known?: readonly string[];
  /** Per root, the keys its last walk reached (its baseline's). */
  readonly storedWalks?: ReadonlyMap<number, Readonly<Record<string, string>>>;
}

/**
 * Reads every signal, each counter as it is now (after {@link readCountersAsTheyAre}). The walk from each root view follows what its query reads (pg_rewrite and pg_depend), SQL-standard
 * function bodies, and partitions and inheritance children (pg_inherits); it goes on through plain views, functions,
 * tables with children and the candidates, and stops at other materialized views, whose own signals stand for
 * what they return. Walking here rather than in a recursive query lets the signal query know how many nodes it
 * reads, so the server plans it for that many.
 *
 * A walk only changes with what it went through: a definition on it (a new `def:` signal) or a parent's children
 * (a new `c:` part). So when every root has a stored walk, the signals of those nodes are read first, in one
 * query; only when a definition or a set of children on a walk moved, or a node is gone, are the edges read and
 * every walk made again.
 * @param candidates every view of the run: their own signal is their definition, and walks go on through them
 */
export async function readChangeSignals(client: ClientBase, candidates: readonly number[], options: SignalReadOptions = {}): Promise<ChangeSignals> {
  const roots = options.roots ?? candidates;
  const known = options.known ?? [];
  const storedWalks = options.storedWalks ?? new Map();
  if (roots.length > 0 && roots.every((oid) => storedWalks.has(oid))) {
    const walks = new Map(roots.map((oid) => [oid, Object.keys(storedWalks.get(oid)!)]));
    const read = await readSignalsOf(client, candidates, known, walks);
    if (roots.every((oid) => sameWalk(storedWalks.get(oid)!, read.sources.get(oid)!))) return read;
  }
  const { rows: [graph] } = await client.query<{ edges: string | null }>(EDGES_SQL);
  return readSignalsOf(client, candidates, known, walk(roots, candidates, graph.edges?.split(' ') ?? []));
}

/**
 * Each counter read straight from shared memory: no snapshot to build for thousands of tables, and none kept from
 * before. Once per transaction, before proveUnchanged and readChangeSignals; the setting ends with it.
 */
export async function readCountersAsTheyAre(client: ClientBase): Promise<void> {
  await client.query("SELECT pg_catalog.pg_stat_clear_snapshot(), pg_catalog.set_config('stats_fetch_consistency', 'none', true)");
}

/**
 * The views of `views` the database proves unchanged since their baselines, in one query that returns little more
 * than their OIDs: neither the baselines nor the signals travel. A view is proven unchanged when its baseline
 * carries its name and the current statistics epoch, every node of its stored walk still exists, is trackable,
 * and has the signal stored, and every other candidate on that walk is proven too. A definition that moved
 * changes a signal, so an unchanged walk is the walk the view would take now. Nothing is proven when writes may
 * go uncounted. The views not proven go through the full read ({@link readChangeSignals}), which says why.
 * @param candidates every view of the run
 * @param views the views to prove, with the names their baselines must carry
 */
export async function proveUnchanged(
  client: ClientBase, candidates: readonly number[], views: ReadonlyArray<{ readonly oid: number; readonly name: string }>,
): Promise<UnchangedProof> {
  const { rows: [row] } = await client.query<ContextRow & { proven: string | null }>(PROOF_SQL,
    [candidates, APPLICATION_NAME, views.map((view) => view.oid), views.map((view) => view.name)]);
  const context = contextOf(row);
  // Per proven view, `oid` or `oid:c1,c2`: the other candidates its walk reaches.
  const proven = new Map((row.proven?.split(' ') ?? []).map((entry) => {
    const [oid, reached] = entry.split(':');
    return [Number(oid), reached ? reached.split(',').map(Number) : []];
  }));
  const unchanged = context.uncounted ? new Set<number>()
    : new Set([...proven].filter(([, reached]) => reached.every((oid) => proven.has(oid))).map(([oid]) => oid));
  return { ...context, unchanged };
}

/** A definition (`def:`, or an untrackable one) or a set of children (`c:`): what a walk goes through. */
function shapesWalk(signal: string): boolean {
  return signal.startsWith('def:') || signal.startsWith('untrackable:') || signal.includes('c:');
}

/** Whether a stored walk still holds: every node still there, and none of what the walk goes through moved. */
function sameWalk(stored: Readonly<Record<string, string>>, sources: readonly SourceSignal[]): boolean {
  return sources.every((source) => {
    const before = stored[source.key];
    const now = storedSignal(source);
    return now !== undefined && (now === before || (!shapesWalk(before) && !shapesWalk(now)));
  });
}

/** The columns of {@link CONTEXT_COLUMNS}, as the driver returns them. */
interface ContextRow {
  epoch: StatsEpoch;
  overrides: string[] | null;
  track_counts: string;
  sessions: Array<{ pid: number; application_name: string; since: string | null }> | null;
}

function contextOf(row: ContextRow): SignalContext {
  const offOverrides = (row.overrides ?? []).filter((entry) => !ON_VALUES.includes(entry.split('=').slice(1).join('=').trim().toLowerCase()));
  const uncounted = row.track_counts !== 'on'
    ? `track_counts is ${row.track_counts} for the server`
    : offOverrides.length > 0 ? `track_counts is turned off by ALTER ROLE or ALTER DATABASE (${offOverrides.join(', ')})` : undefined;
  return {
    epoch: row.epoch,
    uncounted,
    openTransactions: (row.sessions ?? []).map((session) => ({
      pid: session.pid,
      applicationName: session.application_name,
      ...(session.since ? { since: new Date(session.since).toISOString() } : {}),
    })),
  };
}

/** The signals of every node of the walks, and the context, in one query. */
async function readSignalsOf(
  client: ClientBase, candidates: readonly number[], known: readonly string[], walks: ReadonlyMap<number, readonly string[]>,
): Promise<ChangeSignals> {
  const nodes = [...new Set([...walks.values()].flat())];
  const { rows: [row] } = await client.query<ContextRow & {
    keys: string | null;
    signals: string | null;
    untrackables: Record<string, string> | null;
  }>(SIGNALS_SQL, [candidates, APPLICATION_NAME, known, oidsOf(nodes, 'r'), oidsOf(nodes, 'f')]);
  // Per node, keys and signals as space-separated text: cheaper to build and parse than arrays.
  const byKey = new Map<string, SourceSignal>();
  const signalList = row.signals?.split(' ') ?? [];
  (row.keys?.split(' ') ?? []).forEach((key, index) => {
    byKey.set(key, {
      key,
      signal: signalList[index] === '~' ? undefined : signalList[index],
      untrackable: row.untrackables?.[key],
    });
  });
  const sources = new Map<number, SourceSignal[]>();
  for (const [root, keys] of walks) sources.set(root, keys.map((key) => byKey.get(key) ?? { key }));
  return { ...contextOf(row), sources };
}

/**
 * The names of relations and functions by key (`schema.name`, `schema.name()`), for what a report lists; a key whose
 * object no longer exists keeps its OID. Read apart from the signals, which thousands of sources may have.
 */
export async function readSourceNames(client: ClientBase, keys: readonly string[]): Promise<Map<string, string>> {
  const names = new Map(keys.map((key) => [key, key.slice(1)]));
  if (keys.length === 0) return names;
  const { rows } = await client.query<{ key: string; name: string }>(`-- change signals: the names a report lists
    SELECT 'r' || c.oid AS key, pg_catalog.format('%s.%s', pg_catalog.quote_ident(ns.nspname), pg_catalog.quote_ident(c.relname)) AS name
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
     WHERE c.oid = ANY ($1::oid[])
    UNION ALL
    SELECT 'f' || p.oid, pg_catalog.format('%s.%s()', pg_catalog.quote_ident(ns.nspname), pg_catalog.quote_ident(p.proname))
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace ns ON ns.oid = p.pronamespace
     WHERE p.oid = ANY ($2::oid[])`, [oidsOf(keys, 'r'), oidsOf(keys, 'f')]);
  for (const row of rows) names.set(row.key, row.name);
  return names;
}

/**
 * Per root, the keys of every node its walk reaches, itself first. An edge from a materialized view is followed
 * only from a candidate.
 */
function walk(roots: readonly number[], candidates: readonly number[], edges: readonly string[]): Map<number, string[]> {
  const next = new Map<string, Array<{ to: string; fromView: boolean }>>();
  for (let at = 0; at + 2 < edges.length; at += 3) {
    let list = next.get(edges[at]);
    if (!list) next.set(edges[at], list = []);
    list.push({ to: edges[at + 1], fromView: edges[at + 2] === 'm' });
  }
  const candidateKeys = new Set(candidates.map((oid) => `r${oid}`));
  const reached = new Map<number, string[]>();
  for (const oid of roots) {
    if (reached.has(oid)) continue;
    const start = `r${oid}`;
    const seen = new Set([start]);
    const queue = [start];
    for (let at = 0; at < queue.length; at++) {
      for (const edge of next.get(queue[at]) ?? []) {
        if (seen.has(edge.to) || (edge.fromView && !candidateKeys.has(queue[at]))) continue;
        seen.add(edge.to);
        queue.push(edge.to);
      }
    }
    reached.set(oid, queue);
  }
  return reached;
}

/** The OIDs of the keys of one kind. */
function oidsOf(keys: readonly string[], kind: 'r' | 'f'): string[] {
  return keys.filter((key) => key[0] === kind).map((key) => key.slice(1));
}

/**
 * Every edge a walk may follow, as one text of space-separated triples: the key (`r<oid>`, `f<oid>`) it leaves,
 * the key it reaches, and the kind of what it leaves (`m` for a materialized view, whose edges only a candidate's
 * walk follows).
 */
const EDGES_SQL = `-- change signals: the edges, from pg_rewrite, pg_depend and pg_inherits
SELECT pg_catalog.string_agg(pg_catalog.concat_ws(' ', e.from_key, e.to_key, e.through), ' ') AS edges
  FROM (
      -- What a view's query reads. A rule also depends on its own relation; that is not an edge.
      SELECT 'r' || w.ev_class AS from_key, rc.relkind::text AS through,
             CASE d.refclassid WHEN 'pg_catalog.pg_proc'::regclass THEN 'f' ELSE 'r' END || d.refobjid AS to_key
        FROM pg_catalog.pg_rewrite w
        JOIN pg_catalog.pg_class rc ON rc.oid = w.ev_class
        JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
       WHERE w.rulename = '_RETURN' AND rc.relkind IN ('v', 'm')
         AND d.refclassid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_proc'::regclass) AND d.refobjid <> w.ev_class
    UNION ALL
      -- What a function with a SQL-standard body reads.
      SELECT 'f' || d.objid, 'f', CASE d.refclassid WHEN 'pg_catalog.pg_proc'::regclass THEN 'f' ELSE 'r' END || d.refobjid
        FROM pg_catalog.pg_depend d
       WHERE d.classid = 'pg_catalog.pg_proc'::regclass
         AND d.refclassid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_proc'::regclass) AND d.refobjid <> d.objid
    UNION ALL
      -- A parent's rows are its children's: partitions and inheritance children alike.
      SELECT 'r' || i.inhparent, pc.relkind::text, 'r' || i.inhrelid
        FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
       WHERE pc.relkind IN ('r', 'p')
  ) e`;

/** The statistics epoch ({@link StatsEpoch}) as JSON. */
const EPOCH = `pg_catalog.json_build_object(
          'system', (SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() s),
          'started', pg_catalog.pg_postmaster_start_time()::text,
          'databaseReset', (SELECT d.stats_reset::text FROM pg_catalog.pg_stat_database d WHERE d.datname = pg_catalog.current_database()),
          'sharedReset', (SELECT b.stats_reset::text FROM pg_catalog.pg_stat_bgwriter b))`;

/**
 * The epoch, `track_counts` and its overrides, and the sessions inside a transaction (`$2`: this run's application
 * name), as columns of a query's one row.
 */
const CONTEXT_COLUMNS = `${EPOCH} AS epoch,
       pg_catalog.current_setting('track_counts') AS track_counts,
       (SELECT pg_catalog.array_agg(cfg)
          FROM pg_catalog.pg_db_role_setting s CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS cfg
         WHERE cfg ILIKE 'track\\_counts=%'
           AND s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()))) AS overrides,
       (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('pid', a.pid, 'application_name', a.application_name, 'since', a.xact_start)
                 ORDER BY a.xact_start NULLS LAST, a.pid)
          FROM pg_catalog.pg_stat_activity a
         WHERE a.datname = pg_catalog.current_database() AND a.backend_type = 'client backend'
           AND a.pid <> pg_catalog.pg_backend_pid() AND a.application_name IS DISTINCT FROM $2
           AND a.xact_start IS NOT NULL) AS sessions`;

/**
 * A node's signal, from `n` (kind, oid), `rel` (relkind, candidate, rule: its `_RETURN` rule's xmin, relfilenode,
 * children) and `fn` (xmin): shared by the full read and the proof, so both compute the same text.
 */
const NODE_SIGNAL = `CASE
    WHEN n.kind = 'f' THEN 'def:' || fn.xmin
    WHEN rel.relkind IN ('v', 'm') AND (rel.candidate OR rel.relkind = 'v') THEN 'def:' || rel.rule
    ELSE concat_ws('/',
      CASE WHEN rel.relkind IN ('r', 'm') THEN pg_catalog.concat(
        'w:', pg_catalog.pg_stat_get_tuples_inserted(n.oid) + pg_catalog.pg_stat_get_tuples_updated(n.oid)
              + pg_catalog.pg_stat_get_tuples_deleted(n.oid),
        ',f:', rel.relfilenode) END,
      CASE WHEN rel.children IS NOT NULL OR rel.relkind = 'p' THEN 'c:' || coalesce(rel.children::text, '{}') END)
  END`;

/**
 * Why no signal covers a node, as far as the catalog row says (the WHEN branches of a CASE); what a query tree
 * calls is judged apart. From `n`, `rel` (oid, relkind, amname) and `fn` (oid, atomic, provolatile, lanname).
 */
const UNTRACKABLE_BY_CATALOG = `WHEN rel.oid IS NULL AND fn.oid IS NULL THEN 'it no longer exists'
    WHEN n.oid < 16384 THEN 'it is a system object, whose changes no statistics count'
    WHEN rel.relkind = 'f' THEN 'it is a foreign table, whose changes no statistics of this database count'
    WHEN rel.relkind NOT IN ('r', 'p', 'm', 'v') THEN pg_catalog.format('it is a relation of kind %s, whose changes no statistics count', rel.relkind)
    WHEN rel.relkind IN ('r', 'm') AND rel.amname IS DISTINCT FROM 'heap' THEN pg_catalog.format('its table access method %s is not heap', rel.amname)
    WHEN n.kind = 'f' AND NOT fn.atomic AND fn.provolatile <> 'i'
      THEN pg_catalog.format('it is a %s function with a string body, whose reads the catalog does not record', fn.lanname)`;

/** Each parent's children, as the `c:` part of its signal lists them. */
const PARENT_CTE = `parent AS (
  SELECT i.inhparent AS oid, pg_catalog.array_agg(i.inhrelid ORDER BY i.inhrelid) AS children FROM pg_catalog.pg_inherits i GROUP BY i.inhparent
)`;

/** The columns `rel` offers NODE_SIGNAL and UNTRACKABLE_BY_CATALOG, from `c` (pg_class), `am`, `parent` and a rule `w`. */
const REL_COLUMNS = 'c.oid, c.relkind, c.relfilenode, am.amname, c.oid IN (SELECT oid FROM candidate) AS candidate, parent.children, w.xmin::text AS rule';

/** The columns `fn` offers them, from `p` (pg_proc) and `l` (pg_language). */
const FN_COLUMNS = 'p.oid, p.xmin::text AS xmin, p.provolatile, p.prosqlbody IS NOT NULL AS atomic, l.lanname';

const SIGNALS_SQL = `-- change signals of the nodes walked ($4, $5), from pg_stat_*, pg_class, pg_inherits, pg_rewrite and pg_proc
WITH candidate AS (SELECT DISTINCT c.oid FROM unnest($1::oid[]) AS c(oid)),
known AS (SELECT k.def FROM unnest($3::text[]) AS k(def)),
node AS (SELECT 'r' AS kind, n.oid FROM unnest($4::oid[]) AS n(oid) UNION ALL SELECT 'f', n.oid FROM unnest($5::oid[]) AS n(oid)),
${PARENT_CTE},
rel AS (
  SELECT ${REL_COLUMNS}
    FROM unnest($4::oid[]) AS n(oid)
    JOIN pg_catalog.pg_class c ON c.oid = n.oid
    LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
    LEFT JOIN parent ON parent.oid = c.oid
    LEFT JOIN pg_catalog.pg_rewrite w ON c.relkind IN ('v', 'm') AND w.ev_class = c.oid AND w.rulename = '_RETURN'
),
fn AS (
  SELECT ${FN_COLUMNS}
    FROM unnest($5::oid[]) AS n(oid)
    JOIN pg_catalog.pg_proc p ON p.oid = n.oid
    JOIN pg_catalog.pg_language l ON l.oid = p.prolang
),
-- Query trees (view rules, SQL-standard bodies) name what pg_depend leaves out: built-in functions and catalogs.
-- A definition a baseline holds as trackable ($3: 'r<oid>=def:<xmin>') was scanned then; an edit gives it a new xmin.
tree AS (
    SELECT 'r' AS kind, rel.oid, w.ev_action::text AS body
      FROM rel JOIN pg_catalog.pg_rewrite w ON w.ev_class = rel.oid AND w.rulename = '_RETURN'
     WHERE rel.relkind IN ('v', 'm') AND ('r' || rel.oid || '=def:' || rel.rule) NOT IN (SELECT known.def FROM known)
  UNION ALL
    SELECT 'f', fn.oid, p.prosqlbody::text
      FROM fn JOIN pg_catalog.pg_proc p ON p.oid = fn.oid
     WHERE fn.atomic AND ('f' || fn.oid || '=def:' || fn.xmin) NOT IN (SELECT known.def FROM known)
),
hidden AS (
  SELECT t.kind, t.oid, pg_catalog.string_agg(DISTINCT x.what, ', ') AS what
    FROM tree t
    CROSS JOIN LATERAL (
        SELECT pg_catalog.format('%s() is %s', p.proname, CASE p.provolatile WHEN 'v' THEN 'volatile' ELSE 'stable' END) AS what
          FROM pg_catalog.regexp_matches(t.body, ':(?:func|opfunc)id (\\d+)', 'g') AS m(g)
          JOIN pg_catalog.pg_proc p ON p.oid = m.g[1]::oid
         -- User functions are nodes of the walk and judged as such; built-ins are not in pg_depend.
         WHERE p.provolatile <> 'i' AND p.oid < 16384
      UNION ALL
        SELECT 'a SQL value function (current_date, current_user, ...)' WHERE t.body LIKE '%{SQLVALUEFUNCTION%'
      UNION ALL
        SELECT pg_catalog.format('the system relation %s', m.g[1]::oid::regclass::text)
          FROM pg_catalog.regexp_matches(t.body, ':relid (\\d+)', 'g') AS m(g)
         WHERE m.g[1]::bigint BETWEEN 1 AND 16383
    ) x
   GROUP BY t.kind, t.oid
)
SELECT ${CONTEXT_COLUMNS},
       agg.keys, agg.signals, agg.untrackables
  FROM (SELECT pg_catalog.string_agg(x.key, ' ') AS keys,
               -- No signal holds a space or is '~'.
               pg_catalog.string_agg(coalesce(x.signal, '~'), ' ') AS signals,
               pg_catalog.json_object_agg(x.key, x.untrackable) FILTER (WHERE x.untrackable IS NOT NULL) AS untrackables
          FROM (SELECT n.kind || n.oid AS key,
               ${NODE_SIGNAL} AS signal,
               CASE ${UNTRACKABLE_BY_CATALOG}
                   WHEN h.what IS NOT NULL THEN 'it calls or reads ' || h.what
                 END AS untrackable
          FROM node n
          LEFT JOIN rel ON n.kind = 'r' AND rel.oid = n.oid
          LEFT JOIN fn ON n.kind = 'f' AND fn.oid = n.oid
          LEFT JOIN hidden h ON h.kind = n.kind AND h.oid = n.oid) x) agg`;

/**
 * The proof ($1: every candidate, $2: this run's application name, $3 and $4: the views to prove and their names).
 * Each node of each stored walk is a row of `n`, joined to the catalog by hash: the rules and children are
 * read once, whole, rather than looked up per node. A definition stored as trackable was scanned when stored, and
 * an edit gives it another signal, so no query tree is read. The result: per proven view, `oid` or
 * `oid:<other candidates its walk reaches>`.
 */
const PROOF_SQL = `-- change signals: the views proven unchanged since their baselines
WITH candidate AS MATERIALIZED (SELECT DISTINCT c.oid FROM unnest($1::oid[]) AS c(oid)),
n AS MATERIALIZED (
  SELECT b.view_oid, pg_catalog.left(s.key, 1) AS kind, pg_catalog.substr(s.key, 2)::oid AS oid, s.value AS stored
    FROM unnest($3::oid[], $4::text[]) AS v(oid, name)
    JOIN ${BASELINE_TABLE} b ON b.view_oid = v.oid AND b.view_name = v.name
    CROSS JOIN LATERAL pg_catalog.jsonb_each_text(b.sources) s
   WHERE b.epoch = (SELECT ${EPOCH}::jsonb)
),
rule AS MATERIALIZED (SELECT w.ev_class, w.xmin FROM pg_catalog.pg_rewrite w WHERE w.rulename = '_RETURN'),
${PARENT_CTE}
SELECT ${CONTEXT_COLUMNS},
       (SELECT pg_catalog.string_agg(x.view_oid || coalesce(':' || x.reached, ''), ' ')
          FROM (SELECT n.view_oid,
                       pg_catalog.string_agg(n.oid::text, ',') FILTER (WHERE n.kind = 'r' AND n.oid <> n.view_oid AND rel.candidate) AS reached
                  FROM n
                  LEFT JOIN (SELECT ${REL_COLUMNS}
                               FROM pg_catalog.pg_class c
                               LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
                               LEFT JOIN parent ON parent.oid = c.oid
                               LEFT JOIN rule w ON w.ev_class = c.oid) rel ON n.kind = 'r' AND rel.oid = n.oid
                  LEFT JOIN (SELECT ${FN_COLUMNS}
                               FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang) fn ON n.kind = 'f' AND fn.oid = n.oid
                 GROUP BY n.view_oid
                HAVING pg_catalog.bool_and(coalesce((CASE ${UNTRACKABLE_BY_CATALOG} END) IS NULL AND n.stored = ${NODE_SIGNAL}, false))) x) AS proven`;
