import type { ClientConfig } from 'pg';
import { RefreshErrors } from '../../src/refresh/contract';
import { endOf, invoke, localModeEnv, startOf, viewOf } from '../refresh/harness';
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
});
