import type { ClientConfig } from 'pg';
import { RefreshEnv } from '../../src/refresh/contract';
import { endOf, invoke, localModeEnv, startOf } from '../refresh/harness';
import { createTestDatabase, runSql } from '../support/test-database';

/**
 * Which catalog dependencies order a run, through the bundled handler in local mode.
 */
describe('dependencies between materialized views', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('refresh_dependencies');
    env = localModeEnv(db);
  });

  test('a rule other than the SELECT rule of a plain view is not a dependency', async () => {
    await runSql(db, `
      CREATE SCHEMA rules;
      CREATE TABLE rules.sales (id int PRIMARY KEY, amount int NOT NULL);
      INSERT INTO rules.sales VALUES (1, 10);
      CREATE TABLE rules.audit (n bigint);
      CREATE VIEW rules.sales_view AS SELECT id, amount FROM rules.sales;
      CREATE MATERIALIZED VIEW rules.first AS SELECT id, amount FROM rules.sales_view;
      CREATE MATERIALIZED VIEW rules.second AS SELECT sum(amount) AS total FROM rules.first;
      -- Writes to the plain view are redirected; the rule reads rules.second, which the view's query never does.
      CREATE RULE audit_insert AS ON INSERT TO rules.sales_view DO INSTEAD INSERT INTO rules.audit SELECT count(*) FROM rules.second;
      UPDATE rules.sales SET amount = 15;
    `);
    const { report, error } = await invoke({ views: ['rules.second', 'rules.first'] }, env);

    expect(error).toBeUndefined();
    expect(report!.views.map((view) => view.view)).toEqual(['rules.first', 'rules.second']);
    expect(startOf(report!, 'rules.second')).toBeGreaterThanOrEqual(endOf(report!, 'rules.first'));
    expect(await runSql(db, 'SELECT total::int FROM rules.second')).toEqual([{ total: 15 }]);
  });

  test('a view that reads another through SQL-standard function bodies waits for it', async () => {
    await runSql(db, `
      CREATE SCHEMA fn;
      CREATE TABLE fn.sales (id int PRIMARY KEY, amount int NOT NULL);
      INSERT INTO fn.sales VALUES (1, 10);
      CREATE MATERIALIZED VIEW fn.base AS SELECT sum(amount) AS total FROM fn.sales;
      -- BEGIN ATOMIC bodies are parsed at creation, so pg_depend records what they read.
      CREATE FUNCTION fn.base_total() RETURNS bigint LANGUAGE sql STABLE BEGIN ATOMIC SELECT total FROM fn.base; END;
      CREATE FUNCTION fn.doubled_total() RETURNS bigint LANGUAGE sql STABLE BEGIN ATOMIC SELECT fn.base_total() * 2; END;
      CREATE VIEW fn.totals AS SELECT fn.doubled_total() AS doubled;
      -- By name alone these come before fn.base.
      CREATE MATERIALIZED VIEW fn.a_direct AS SELECT fn.base_total() AS total;
      CREATE MATERIALIZED VIEW fn.a_nested AS SELECT doubled FROM fn.totals;
      UPDATE fn.sales SET amount = 25;
    `);
    const { report, error } = await invoke({ views: ['fn.a_direct', 'fn.a_nested', 'fn.base'] }, { ...env, [RefreshEnv.CONCURRENCY]: '1' });

    expect(error).toBeUndefined();
    expect(report!.views.map((view) => view.view)).toEqual(['fn.base', 'fn.a_direct', 'fn.a_nested']);
    expect(await runSql(db, 'SELECT total::int FROM fn.a_direct')).toEqual([{ total: 25 }]);
    expect(await runSql(db, 'SELECT doubled::int FROM fn.a_nested')).toEqual([{ doubled: 50 }]);
  });
});
