import type { ClientConfig } from 'pg';
import { RefreshEnv, RefreshErrors, RefreshReport } from '../../src/refresh/contract';
import { endOf, invoke, localModeEnv, logLines, startOf } from '../refresh/harness';
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

  test('views in a dependency cycle fail, their dependents are skipped, and every other view is refreshed', async () => {
    await runSql(db, `
      CREATE SCHEMA cyc;
      CREATE TABLE cyc.sales (id int PRIMARY KEY, amount int NOT NULL);
      INSERT INTO cyc.sales VALUES (1, 10);
      -- first -> bridge -> second -> first: CREATE OR REPLACE VIEW closes the cycle after the fact.
      CREATE VIEW cyc.bridge AS SELECT 1 AS amount;
      CREATE MATERIALIZED VIEW cyc.first AS SELECT amount FROM cyc.bridge;
      CREATE MATERIALIZED VIEW cyc.second AS SELECT amount FROM cyc.first;
      CREATE OR REPLACE VIEW cyc.bridge AS SELECT amount FROM cyc.second;
      CREATE MATERIALIZED VIEW cyc.after_cycle AS SELECT amount FROM cyc.second;
      CREATE MATERIALIZED VIEW cyc.outside AS SELECT sum(amount) AS total FROM cyc.sales;
      CREATE MATERIALIZED VIEW cyc.after_outside AS SELECT total FROM cyc.outside;
      UPDATE cyc.sales SET amount = 30;
    `);
    const { error, output } = await invoke({ views: ['cyc.first', 'cyc.second', 'cyc.after_cycle', 'cyc.outside', 'cyc.after_outside'] }, env);

    expect(error?.name).toBe(RefreshErrors.VIEWS_FAILED);
    expect(error!.message).toMatch(/3 of 5 materialized views were not refreshed \(2 failed, 1 skipped, 2 refreshed\)/);
    const report = logLines(output).find((line) => line.message === 'Refresh run finished')!.report as RefreshReport;
    const status = Object.fromEntries(report.views.map((view) => [view.view, [view.status, view.reason]]));
    expect(status).toEqual({
      'cyc.first': ['failed', 'not refreshed: it is in a dependency cycle: cyc.first -> cyc.second -> cyc.first (each view reads the next)'],
      'cyc.second': ['failed', 'not refreshed: it is in a dependency cycle: cyc.second -> cyc.first -> cyc.second (each view reads the next)'],
      'cyc.after_cycle': ['skipped', 'depends on cyc.second, which was not refreshed'],
      'cyc.outside': ['refreshed', undefined],
      'cyc.after_outside': ['refreshed', undefined],
    });
    expect(await runSql(db, 'SELECT total::int FROM cyc.after_outside')).toEqual([{ total: 30 }]);
  });
});
