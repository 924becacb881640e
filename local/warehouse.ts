import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientConfig } from 'pg';
import type { LocalHandler } from './lambda';
import { inTransaction, withClient } from './pg';

/** The schema that holds the sample warehouse; the example stack refreshes every view in it. */
export const WAREHOUSE_SCHEMA = 'warehouse';

/** The sample warehouse's materialized views, in dependency order. */
export const WAREHOUSE_VIEWS = [
  'warehouse.demand_by_region',
  'warehouse.verification_by_region',
  'warehouse.demand_by_product',
  'warehouse.daily_demand',
  'warehouse.coverage_summary',
  'warehouse.executive_dashboard',
] as const;

/** Creates the sample warehouse (tables, seed rows, views) in an empty database. */
export async function createWarehouse(database: ClientConfig): Promise<void> {
  await withClient(database, (client) => client.query(readFileSync(join(__dirname, 'warehouse.sql'), 'utf8')));
}

/** The view of `warehouse.returns`, the table the example's Glue job Orders writes (see `createReturns`). */
export const RETURNS_VIEW = 'warehouse.returns_by_region';

/** Adds `warehouse.returns`, which the example's Glue job Orders writes, and its view, to the sample warehouse. */
export async function createReturns(database: ClientConfig): Promise<void> {
  await withClient(database, (client) => client.query(`
    CREATE TABLE warehouse.returns (region text NOT NULL, quantity integer NOT NULL);
    CREATE MATERIALIZED VIEW ${RETURNS_VIEW} AS
      SELECT region, sum(quantity)::bigint AS quantity FROM warehouse.returns GROUP BY region;
  `));
}

/** The execution input of the sample pipelines. */
export interface PipelineEvent {
  /** Tags the rows a run inserts. */
  readonly batch?: string;
}

export interface SamplePipelineOptions {
  /** How long each pipeline works, in milliseconds, so their overlap shows in the timeline. */
  readonly workMs?: number;
}

export const DEMAND_REGIONS = ['north', 'south', 'east', 'west'];
export const DEMAND_PRODUCTS = ['widget', 'gadget', 'gizmo'];

/** The rows the Demand pipeline inserts for a batch: one per region and product. */
export function demandRows(batch: string): Array<{ region: string; product: string; quantity: number }> {
  return DEMAND_REGIONS.flatMap((region, r) =>
    DEMAND_PRODUCTS.map((product, p) => ({ region, product, quantity: 1 + r * DEMAND_PRODUCTS.length + p })),
  ).map((row) => ({ ...row, batch }));
}

/** The rows the VerifyPlus pipeline inserts for a batch: one check per region, the even ones verified. */
export function verificationRows(batch: string): Array<{ region: string; product: string; verified: boolean }> {
  return DEMAND_REGIONS.map((region, r) => ({ region, product: DEMAND_PRODUCTS[r % DEMAND_PRODUCTS.length], verified: r % 2 === 0, batch }));
}

/**
 * The two sample pipelines, as local Lambda handlers: each loads one batch into its table in a
 * transaction that takes `workMs`, like a real extract-and-load would take a while.
 */
export function samplePipelines(database: ClientConfig, options: SamplePipelineOptions = {}): Record<'Demand' | 'VerifyPlus', LocalHandler> {
  const workSeconds = (options.workMs ?? 0) / 1000;
  /** A pipeline that inserts `rowsOf(batch)` with `insert`, whose parameters `values` gives per row. */
  type Values<Row> = (row: Row, batch: string) => unknown[];
  const pipeline = <Row>(name: string, rowsOf: (batch: string) => Row[], insert: string, values: Values<Row>): LocalHandler =>
    async (event) => {
      const batch = batchOf(event);
      const rows = rowsOf(batch);
      await inTransaction(database, async (client) => {
        await client.query('SELECT pg_sleep($1)', [workSeconds]);
        for (const row of rows) {
          await client.query(insert, values(row, batch));
        }
      });
      return { pipeline: name, batch, inserted: rows.length };
    };
  return {
    Demand: pipeline('Demand', demandRows,
      'INSERT INTO warehouse.demand (batch, region, product, quantity, demand_date) VALUES ($1, $2, $3, $4, CURRENT_DATE)',
      (row, batch) => [batch, row.region, row.product, row.quantity]),
    VerifyPlus: pipeline('VerifyPlus', verificationRows,
      'INSERT INTO warehouse.verify_plus (batch, region, product, verified) VALUES ($1, $2, $3, $4)',
      (row, batch) => [batch, row.region, row.product, row.verified]),
  };
}

function batchOf(event: unknown): string {
  const batch = (event as PipelineEvent | null)?.batch;
  if (batch !== undefined && typeof batch !== 'string') {
    throw new TypeError(`The pipeline input's "batch" must be a string, got ${JSON.stringify(batch)}`);
  }
  return batch ?? 'batch-1';
}

/** A materialized view's contents: its rows as sorted JSON strings, or `null` while it is unpopulated. */
export type ViewContents = Record<string, string[] | null>;

/** Reads the contents of every sample view, to compare before and after a run. */
export async function readViews(database: ClientConfig): Promise<ViewContents> {
  return withClient(database, async (client) => {
    const contents: ViewContents = {};
    for (const view of WAREHOUSE_VIEWS) {
      const populated = await client.query<{ populated: boolean }>(
        'SELECT relispopulated AS populated FROM pg_class WHERE oid = $1::regclass',
        [view],
      );
      if (!populated.rows[0].populated) {
        contents[view] = null;
        continue;
      }
      const rows = await client.query(`SELECT * FROM ${view}`);
      contents[view] = rows.rows.map((row) => JSON.stringify(row)).sort();
    }
    return contents;
  });
}

/**
 * The views whose contents differ from what their definition returns now (or that are unpopulated):
 * the views a refresh has not yet caught up with the tables.
 */
export async function staleViews(database: ClientConfig): Promise<string[]> {
  return withClient(database, async (client) => {
    const stale: string[] = [];
    for (const view of WAREHOUSE_VIEWS) {
      const { rows } = await client.query<{ populated: boolean; definition: string }>(
        'SELECT relispopulated AS populated, pg_get_viewdef(oid) AS definition FROM pg_class WHERE oid = $1::regclass',
        [view],
      );
      if (!rows[0].populated) {
        stale.push(view);
        continue;
      }
      const definition = rows[0].definition.trim().replace(/;$/, '');
      try {
        const diff = await client.query<{ differences: number }>(
          `SELECT count(*)::int AS differences FROM (
             (SELECT * FROM ${view} EXCEPT ALL (${definition}))
             UNION ALL
             ((${definition}) EXCEPT ALL SELECT * FROM ${view})
           ) AS difference`,
        );
        if (diff.rows[0].differences > 0) stale.push(view);
      } catch {
        // The definition cannot run now (it reads an unpopulated view): the contents cannot be current.
        stale.push(view);
      }
    }
    return stale;
  });
}
