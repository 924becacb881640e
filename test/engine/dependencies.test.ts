import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { endOf, invoke, localModeEnv, logLines, startOf } from './support/refresh';
import { runSql } from '../../local/pg';
import { RefreshEnv, RefreshErrors, RefreshReport } from '../../src/shared/contract';

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

  describe('that the catalog cannot see', () => {
    beforeAll(async () => {
      await runSql(db, `
        CREATE SCHEMA hidden;
        CREATE TABLE hidden.sales (id int PRIMARY KEY, amount int NOT NULL);
        INSERT INTO hidden.sales VALUES (1, 10);
        CREATE MATERIALIZED VIEW hidden.base AS SELECT sum(amount)::int AS total FROM hidden.sales;
        -- A string body is only parsed when it runs: pg_depend records nothing it reads.
        CREATE FUNCTION hidden.base_total() RETURNS int LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN (SELECT total FROM hidden.base); END $$;
        -- By name alone it comes before hidden.base.
        CREATE MATERIALIZED VIEW hidden.a_reader AS SELECT hidden.base_total() AS total;
      `);
    });

    async function runWith(extra: { event?: unknown; env?: Record<string, string> }) {
      const amount = Math.floor(Math.random() * 1_000_000);
      await runSql(db, 'UPDATE hidden.sales SET amount = $1', [amount]);
      const result = await invoke({ views: ['hidden.a_reader', 'hidden.base'], ...(extra.event as object) }, { ...env, [RefreshEnv.CONCURRENCY]: '1', ...extra.env });
      const [{ total }] = await runSql<{ total: number }>(db, 'SELECT total FROM hidden.a_reader');
      return { ...result, amount, total };
    }

    test('without a declared dependency, a view reading through a string-bodied function may read stale data', async () => {
      const { error, report, amount, total } = await runWith({});
      expect(error).toBeUndefined();
      expect(report!.views.map((view) => view.view)).toEqual(['hidden.a_reader', 'hidden.base']);
      expect(total).not.toBe(amount);
    });

    test('a dependency declared in the event orders the views', async () => {
      const { error, report, amount, total } = await runWith({ event: { extraDependencies: [{ view: 'hidden.a_reader', dependsOn: ['hidden.base'] }] } });
      expect(error).toBeUndefined();
      expect(report!.views.map((view) => view.view)).toEqual(['hidden.base', 'hidden.a_reader']);
      expect(total).toBe(amount);
    });

    test('a dependency declared in the configuration orders the views', async () => {
      const declared = JSON.stringify([{ view: 'hidden.a_reader', dependsOn: ['hidden.base'] }]);
      const { error, report, amount, total } = await runWith({ env: { [RefreshEnv.EXTRA_DEPENDENCIES]: declared } });
      expect(error).toBeUndefined();
      expect(report!.views.map((view) => view.view)).toEqual(['hidden.base', 'hidden.a_reader']);
      expect(total).toBe(amount);
    });

    test.each([
      [{ extraDependencies: 'hidden.base' }, /Invalid event.extraDependencies "hidden.base": expected an array of \{"view": "schema.view", "dependsOn": \["schema.view", ...\]\}/],
      [{ extraDependencies: [{ view: 'hidden.a_reader' }] }, /Invalid event.extraDependencies\[0\]: expected .*"dependsOn"/],
      [{ extraDependencies: [{ view: 'hidden.base', dependsOn: ['hidden.base'] }] }, /invalid event.extraDependencies: hidden.base cannot depend on itself/],
      [{ extraDependencies: [{ view: 'hidden.a_reader', dependsOn: ['hidden.missing'] }] }, /invalid event.extraDependencies: Materialized view "hidden.missing" does not exist/],
      [{ extraDependencies: [{ view: 'hidden.sales', dependsOn: ['hidden.base'] }] }, /invalid event.extraDependencies: "hidden.sales" is a table, not a materialized view/],
    ])('an invalid declared dependency refreshes nothing and names the input: %j', async (event, message) => {
      const { error } = await runWith({ event });
      expect(error?.name).toBe(RefreshErrors.INVALID_REQUEST);
      expect(error!.message).toMatch(message);
    });

    test('a view reading another through a foreign table (postgres_fdw loopback) is not ordered after it unless declared', async () => {
      await runSql(db, `
        CREATE EXTENSION IF NOT EXISTS postgres_fdw;
        CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '${db.host}', port '${db.port}', dbname '${db.database}');
        CREATE USER MAPPING FOR CURRENT_USER SERVER loopback OPTIONS (user '${db.user}', password '${db.password}');
        CREATE FOREIGN TABLE hidden.base_remote (total int) SERVER loopback OPTIONS (schema_name 'hidden', table_name 'base');
        CREATE MATERIALIZED VIEW hidden.a_remote_reader AS SELECT total FROM hidden.base_remote;
      `);
      const views = ['hidden.a_remote_reader', 'hidden.base'];
      const undeclared = await invoke({ views }, { ...env, [RefreshEnv.CONCURRENCY]: '1' });
      expect(undeclared.report!.views.map((view) => view.view)).toEqual(views);

      const declared = await invoke({ views, extraDependencies: [{ view: 'hidden.a_remote_reader', dependsOn: ['hidden.base'] }] }, env);
      expect(declared.error).toBeUndefined();
      expect(declared.report!.views.map((view) => view.view)).toEqual(['hidden.base', 'hidden.a_remote_reader']);
      expect(await runSql(db, 'SELECT (SELECT total FROM hidden.a_remote_reader) = (SELECT total FROM hidden.base) AS same')).toEqual([{ same: true }]);
    });
  });
});
