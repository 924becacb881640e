import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke, localModeEnv, loggedReport } from './support/refresh';
import { connect, runSql } from '../../local/pg';
import { ConcurrentRefresh, RefreshEnv, RefreshErrors } from '../../src/shared/contract';

/**
 * A failed CREATE UNIQUE INDEX CONCURRENTLY leaves an invalid index behind. PostgreSQL ignores it for
 * REFRESH ... CONCURRENTLY, yet a plain REFRESH rebuilds it, and fails while the view's rows repeat its key.
 */
describe('an invalid unique index', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('refresh_invalid_index');
    env = localModeEnv(db);
    await runSql(db, `
      CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL);
      INSERT INTO orders VALUES (1, 10), (2, 10), (3, 20);
      -- The unique index was meant for customer, which repeats.
      CREATE MATERIALIZED VIEW by_customer AS SELECT customer, id FROM orders;
      -- A unique index that failed half-way, yet the rows fit it: a plain REFRESH rebuilds it as valid.
      CREATE TABLE regions (id int PRIMARY KEY);
      INSERT INTO regions VALUES (1), (2);
      CREATE MATERIALIZED VIEW region_list AS SELECT id FROM regions;
    `);
    await expect(runSql(db, 'CREATE UNIQUE INDEX CONCURRENTLY by_customer_key ON by_customer (customer)')).rejects.toThrow(/could not create unique index/);
    // An index build that failed for another reason (here: cancelled by statement_timeout), leaving it invalid.
    await runSql(db, `
      CREATE OR REPLACE FUNCTION slow_key(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN i; END $$;
    `);
    const session = await connect(db);
    try {
      await session.query("SET statement_timeout = '100ms'");
      await expect(session.query('CREATE UNIQUE INDEX CONCURRENTLY region_list_key ON region_list (slow_key(id))')).rejects.toThrow(/statement timeout/);
    } finally {
      await session.end();
    }
  });

  test('the index is invalid in the catalog', async () => {
    expect(await runSql(db, `
      SELECT c.relname AS name, i.indisvalid AS valid FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
       WHERE c.relname IN ('by_customer_key', 'region_list_key') ORDER BY 1`)).toEqual([
      { name: 'by_customer_key', valid: false },
      { name: 'region_list_key', valid: false },
    ]);
  });

  test('under ALWAYS, the reason names the invalid index and the fix, not a missing index', async () => {
    const { error, output } = await invoke({ views: ['by_customer'] }, { ...env, [RefreshEnv.CONCURRENT_REFRESH]: ConcurrentRefresh.ALWAYS });

    expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
    const [view] = loggedReport(output).views;
    expect(view).toMatchObject({ view: 'public.by_customer', status: 'failed', attempts: 0 });
    expect(view.reason).toMatch(/unique index public\.by_customer_key is invalid \(left by a failed CREATE UNIQUE INDEX CONCURRENTLY\)/);
    expect(view.reason).toMatch(/REINDEX INDEX public\.by_customer_key/);
    expect(view.reason).toMatch(/DROP INDEX public\.by_customer_key/);
    expect(view.reason).not.toMatch(/has no unique index/);
  });

  test('under AUTO, a view whose rows break the invalid index is reported with the index and the fix, not a bare 23505', async () => {
    const { error, output } = await invoke({ views: ['by_customer'] }, env);

    expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
    const [view] = loggedReport(output).views;
    expect(view).toMatchObject({ view: 'public.by_customer', status: 'failed' });
    expect(view.reason).toMatch(/unique index public\.by_customer_key is invalid \(left by a failed CREATE UNIQUE INDEX CONCURRENTLY\)/);
    expect(view.reason).toMatch(/REINDEX INDEX public\.by_customer_key/);
    expect(view.reason).toMatch(/DROP INDEX public\.by_customer_key/);
  });

  test('under AUTO, a view whose rows fit the invalid index is refreshed, which rebuilds the index as valid', async () => {
    const { error, report } = await invoke({ views: ['region_list'] }, env);

    expect(error).toBeUndefined();
    expect(report!.views[0]).toMatchObject({ view: 'public.region_list', status: 'refreshed', concurrently: false });
    expect(await runSql(db, "SELECT i.indisvalid AS valid FROM pg_catalog.pg_index i WHERE i.indexrelid = 'region_list_key'::regclass"))
      .toEqual([{ valid: true }]);
  });
});
