import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke, localModeEnv } from './support/refresh';
import { runSql } from '../../local/pg';
import { RefreshEnv } from '../../src/shared/contract';

/**
 * Selection by changed tables across partitions and table inheritance: a change to a partitioned table or an
 * inheritance parent reaches the views of every descendant, and a change to a partition or child reaches the
 * views of every ancestor.
 */
describe('changed tables with partitions and inheritance', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('descendants');
    env = { ...localModeEnv(db), [RefreshEnv.SCHEMAS]: JSON.stringify(['public']) };
    await runSql(db, `
      CREATE TABLE sales (id int, day date NOT NULL) PARTITION BY RANGE (day);
      CREATE TABLE sales_2026 PARTITION OF sales FOR VALUES FROM ('2026-01-01') TO ('2027-01-01') PARTITION BY RANGE (day);
      CREATE TABLE sales_2026_h1 PARTITION OF sales_2026 FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
      CREATE TABLE sales_2025 PARTITION OF sales FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
      CREATE MATERIALIZED VIEW mv_sales AS SELECT count(*)::int AS n FROM sales;
      CREATE MATERIALIZED VIEW mv_sales_2026 AS SELECT count(*)::int AS n FROM sales_2026;
      CREATE MATERIALIZED VIEW mv_sales_h1 AS SELECT count(*)::int AS n FROM sales_2026_h1;
      CREATE MATERIALIZED VIEW mv_sales_2025 AS SELECT count(*)::int AS n FROM sales_2025;
      CREATE TABLE animals (id int);
      CREATE TABLE dogs () INHERITS (animals);
      CREATE TABLE puppies () INHERITS (dogs);
      CREATE MATERIALIZED VIEW mv_animals AS SELECT count(*)::int AS n FROM animals;
      CREATE MATERIALIZED VIEW mv_dogs AS SELECT count(*)::int AS n FROM dogs;
      CREATE MATERIALIZED VIEW mv_puppies AS SELECT count(*)::int AS n FROM puppies;
    `);
  });

  async function refreshedBy(table: string): Promise<string[]> {
    const { report, error } = await invoke({ tables: [table] }, env);
    expect(error).toBeUndefined();
    return report!.views.filter((view) => view.status === 'refreshed').map((view) => view.view).sort();
  }

  test('a change to a partitioned table reaches the views of its partitions and sub-partitions', async () => {
    expect(await refreshedBy('public.sales')).toEqual(['public.mv_sales', 'public.mv_sales_2025', 'public.mv_sales_2026', 'public.mv_sales_h1']);
  });

  test('a change to a sub-partition reaches the views of every ancestor, not of its siblings', async () => {
    expect(await refreshedBy('public.sales_2026_h1')).toEqual(['public.mv_sales', 'public.mv_sales_2026', 'public.mv_sales_h1']);
  });

  test('a change to an inheritance child reaches the views of its parents', async () => {
    expect(await refreshedBy('public.puppies')).toEqual(['public.mv_animals', 'public.mv_dogs', 'public.mv_puppies']);
  });

  test('a change to an inheritance parent reaches the views of its children', async () => {
    expect(await refreshedBy('public.animals')).toEqual(['public.mv_animals', 'public.mv_dogs', 'public.mv_puppies']);
    expect(await refreshedBy('public.dogs')).toEqual(['public.mv_animals', 'public.mv_dogs', 'public.mv_puppies']);
  });
});
