import { Client } from 'pg';
import { SeededRandom } from './stats';

/**
 * A generated DAG of materialized views shaped like a reporting database: several independent
 * chains (each step aggregates the fact table and folds in its parent) that fan in to summaries.
 * Each view's cost is set by how many fact rows it aggregates, drawn from a seeded generator.
 */
export interface DagView {
  /** Schema-qualified name, as the refresh report spells it. */
  readonly name: string;
  /** Materialized views this one reads, directly or through a plain view. */
  readonly parents: readonly string[];
  /** Fact rows the view aggregates: its refresh cost. */
  readonly rows: number;
  /** A plain view sits between this view and its parent (MV → view → MV). */
  readonly throughPlainView: boolean;
}

export interface Dag {
  readonly schema: string;
  readonly chains: number;
  readonly fanIn: number;
  /** In dependency order: every view comes after its parents. */
  readonly views: readonly DagView[];
}

export interface DagOptions {
  readonly seed: number;
  readonly minRows: number;
  readonly maxRows: number;
}

export const MIN_DAG_VIEWS = 6;
const MAX_CHAINS = 4;
export const FACT_TABLE = 'bench.facts';

/**
 * Lays out `size` views: about one in six fan in, the rest form up to four chains. The first chain
 * reaches its second step through a plain view, as real schemas do.
 */
export function generateDag(schema: string, size: number, options: DagOptions): Dag {
  if (!Number.isInteger(size) || size < MIN_DAG_VIEWS) {
    throw new Error(`A DAG needs an integer number of views of at least ${MIN_DAG_VIEWS}, got ${size}`);
  }
  const random = new SeededRandom(options.seed + size);
  const cost = () => random.int(options.minRows, options.maxRows);
  const fanIn = Math.max(2, Math.round(size / 6));
  const chainViews = size - fanIn;
  const chains = Math.min(MAX_CHAINS, Math.floor(chainViews / 2));

  const views: DagView[] = [];
  const tails: string[] = [];
  for (let chain = 0; chain < chains; chain++) {
    const length = Math.floor(chainViews / chains) + (chain < chainViews % chains ? 1 : 0);
    let parent: string | undefined;
    for (let step = 1; step <= length; step++) {
      const name = `${schema}.chain${chain + 1}_step${step}`;
      views.push({ name, parents: parent ? [parent] : [], rows: cost(), throughPlainView: chain === 0 && step === 2 });
      parent = name;
    }
    tails.push(parent!);
  }

  const summaries: string[] = [];
  for (let k = 0; k < fanIn - 1; k++) {
    const name = `${schema}.fanin${k + 1}`;
    views.push({ name, parents: [tails[k % chains], tails[(k + 1) % chains]], rows: cost(), throughPlainView: false });
    summaries.push(name);
  }
  const unusedTails = tails.filter((tail) => !views.some((view) => view.parents.includes(tail)));
  views.push({ name: `${schema}.summary`, parents: [...summaries, ...unusedTails], rows: cost(), throughPlainView: false });

  return { schema, chains, fanIn, views };
}

/**
 * The longest chain of dependent refreshes: no schedule, however parallel, finishes sooner.
 * `durations` maps each view name to its measured single refresh time.
 */
export function criticalPathMs(dag: Dag, durations: ReadonlyMap<string, number>): number {
  const finish = new Map<string, number>();
  for (const view of dag.views) {
    const ready = Math.max(0, ...view.parents.map((parent) => finish.get(parent) ?? 0));
    finish.set(view.name, ready + durationOf(view.name, durations));
  }
  return Math.max(...finish.values());
}

export function totalWorkMs(dag: Dag, durations: ReadonlyMap<string, number>): number {
  return dag.views.reduce((total, view) => total + durationOf(view.name, durations), 0);
}

function durationOf(view: string, durations: ReadonlyMap<string, number>): number {
  const duration = durations.get(view);
  if (duration === undefined) {
    throw new Error(`No measured refresh time for ${view}`);
  }
  return duration;
}

/**
 * Creates the fact table every benchmark schema reads: `rows` rows with deterministic keys and
 * values, in the buffer cache, with fresh statistics.
 */
export async function createFactTable(client: Client, rows: number): Promise<void> {
  await client.query('CREATE SCHEMA IF NOT EXISTS bench');
  await client.query(`
    CREATE TABLE ${FACT_TABLE} AS
    SELECT i AS id,
           ((i::bigint * 7919) % 100003)::int AS k,
           ((i::bigint * 104729) % 10007) / 100.0::float8 AS v
    FROM generate_series(1, ${Math.floor(rows)}) AS i`);
  await client.query(`ALTER TABLE ${FACT_TABLE} ADD PRIMARY KEY (id)`);
  await client.query(`VACUUM ANALYZE ${FACT_TABLE}`);
}

/**
 * Creates the DAG's schema and views (each populated on creation), in dependency order.
 * @param inputOf a small table a view reads besides the fact table, so a change to it selects the view
 */
export async function installDag(client: Client, dag: Dag, inputOf?: (view: DagView) => string | undefined): Promise<void> {
  await client.query(`CREATE SCHEMA ${dag.schema}`);
  for (const view of dag.views) {
    const input = inputOf?.(view);
    if (input) {
      await client.query(`CREATE TABLE IF NOT EXISTS ${input} (id int)`);
    }
    const upstream: string[] = [];
    for (const parent of view.parents) {
      if (view.throughPlainView) {
        const plainView = `${view.name}_source`;
        await client.query(`CREATE VIEW ${plainView} AS SELECT bucket, total FROM ${parent}`);
        upstream.push(plainView);
      } else {
        upstream.push(parent);
      }
    }
    const folded = upstream.map((source) => `(SELECT coalesce(sum(p.total), 0) FROM ${source} AS p)`);
    if (input) folded.push(`(SELECT count(*) FROM ${input})`);
    await client.query(`
      CREATE MATERIALIZED VIEW ${view.name} AS
      SELECT f.k % 1000 AS bucket,
             count(*) AS n,
             sum(f.v) AS total,
             avg(f.v * f.v) AS spread,
             ${folded.length > 0 ? folded.join(' + ') : '0'} AS upstream
      FROM ${FACT_TABLE} AS f
      WHERE f.id <= ${Math.floor(view.rows)}
      GROUP BY 1`);
  }
}
