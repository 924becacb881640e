import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke, localModeEnv, sleep, SLOW_FUNCTION_SQL } from './support/refresh';
import { connect, runSql } from '../../local/pg';
import { RefreshEnv, RefreshErrors, RefreshReport } from '../../src/shared/contract';

/**
 * Selection by the changes the database shows (`ITC_REFRESH_DETECT_CHANGES`), through the bundled handler in
 * local mode, on the shared embedded server. Each case starts from a run that left every view with a baseline.
 *
 * t1 -> mv1 -> mv12 <- t2 -> mv2; pt (partitioned: pt1, pt2 -> pt2a) -> mvp; ih (inheritance parent, child ihc)
 * -> mvi; t1 -> v (plain view) -> mvv; t2 -> fa() (BEGIN ATOMIC) -> mvf; t2 -> fp() (plpgsql) -> mvpl;
 * now() -> mvt.
 */
describe('refresh selection by the changes the database shows', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('detect');
    env = { ...localModeEnv(db), [RefreshEnv.SCHEMAS]: JSON.stringify(['public']), [RefreshEnv.DETECT_CHANGES]: 'true' };
    await runSql(db, `
      CREATE TABLE t1 (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
      CREATE TABLE t2 (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
      INSERT INTO t1 SELECT g FROM generate_series(1, 5) g;
      INSERT INTO t2 SELECT g FROM generate_series(1, 5) g;
      CREATE MATERIALIZED VIEW mv1 AS SELECT count(*)::int AS n FROM t1;
      CREATE MATERIALIZED VIEW mv2 AS SELECT count(*)::int AS n FROM t2;
      CREATE MATERIALIZED VIEW mv12 AS SELECT (SELECT n FROM mv1) + (SELECT count(*) FROM t2)::int AS n;
      CREATE TABLE pt (id int, k int NOT NULL) PARTITION BY RANGE (k);
      CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (10);
      CREATE TABLE pt2 PARTITION OF pt FOR VALUES FROM (10) TO (20) PARTITION BY RANGE (k);
      CREATE TABLE pt2a PARTITION OF pt2 FOR VALUES FROM (10) TO (20);
      CREATE TABLE pt3 (id int, k int NOT NULL);
      INSERT INTO pt3 VALUES (1, 25), (2, 26);
      CREATE MATERIALIZED VIEW mvp AS SELECT count(*)::int AS n FROM pt;
      CREATE TABLE ih (id int);
      CREATE TABLE ihc () INHERITS (ih);
      CREATE TABLE ihd (id int);
      INSERT INTO ihd VALUES (1);
      CREATE MATERIALIZED VIEW mvi AS SELECT count(*)::int AS n FROM ih;
      CREATE VIEW v AS SELECT id FROM t1;
      CREATE MATERIALIZED VIEW mvv AS SELECT count(*)::int AS n FROM v;
      CREATE FUNCTION fa() RETURNS bigint LANGUAGE sql STABLE BEGIN ATOMIC SELECT count(*) FROM public.t2; END;
      CREATE MATERIALIZED VIEW mvf AS SELECT fa()::int AS n;
      CREATE FUNCTION fp() RETURNS bigint LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN (SELECT count(*) FROM public.t2); END $$;
      CREATE MATERIALIZED VIEW mvpl AS SELECT fp()::int AS n;
      CREATE MATERIALIZED VIEW mvt AS SELECT now() AS at;
    `);
    expect(refreshed(await run())).toEqual(ALL);
  });

  const ALL = ['mv1', 'mv12', 'mv2', 'mvf', 'mvi', 'mvp', 'mvpl', 'mvt', 'mvv'].map((name) => `public.${name}`).sort();
  const ALWAYS = ['public.mvpl', 'public.mvt'];

  async function run(event: object = {}): Promise<RefreshReport> {
    const { report, error } = await invoke(event, env);
    if (error) throw error;
    return report!;
  }

  function refreshed(report: RefreshReport): string[] {
    return report.views.filter((view) => view.status === 'refreshed').map((view) => view.view).sort();
  }

  /** The views refreshed besides those that read something untrackable, which every run refreshes. */
  const changed = (report: RefreshReport) => refreshed(report).filter((view) => !ALWAYS.includes(view));
  const names = (...views: string[]) => views.map((view) => `public.${view}`).sort();

  test('nothing changed: only the untrackable views, each named with what makes it so', async () => {
    const report = await run();
    expect(refreshed(report)).toEqual(ALWAYS);
    const changes = report.selection.changes!;
    expect(report.selection.basis).toBe('changes');
    expect(changes.unchanged).toBe(ALL.length - ALWAYS.length);
    expect(changes.views.find((view) => view.view === 'public.mvpl')).toEqual(expect.objectContaining({
      decision: 'untrackable', detail: expect.stringContaining('public.fp(): it is a plpgsql function with a string body'),
    }));
    expect(changes.views.find((view) => view.view === 'public.mvt')).toEqual(expect.objectContaining({
      decision: 'untrackable', detail: expect.stringContaining('now() is stable'),
    }));
  });

  test('an INSERT selects its downstream views, naming the table; the next run refreshes nothing more', async () => {
    await runSql(db, 'INSERT INTO t1 VALUES (100)');
    const report = await run();
    expect(changed(report)).toEqual(names('mv1', 'mv12', 'mvv'));
    expect(report.selection.changes!.views.find((view) => view.view === 'public.mv1')).toEqual({ view: 'public.mv1', decision: 'changed', sources: ['public.t1'] });
    expect(await runSql(db, 'SELECT n FROM mv12')).toEqual([{ n: 11 }]);
    expect(changed(await run())).toEqual([]);
  });

  test('UPDATE and DELETE of no rows select nothing; a rolled-back INSERT selects its views', async () => {
    await runSql(db, 'UPDATE t1 SET v = 1 WHERE id < 0; DELETE FROM t1 WHERE id < 0');
    expect(changed(await run())).toEqual([]);
    await runSql(db, 'BEGIN; INSERT INTO t2 VALUES (200); ROLLBACK');
    expect(changed(await run())).toEqual(names('mv2', 'mv12', 'mvf'));
  });

  test('TRUNCATE to empty, and TRUNCATE with the same rows inserted again, select the views of the table', async () => {
    await runSql(db, 'TRUNCATE t1');
    expect(changed(await run())).toEqual(names('mv1', 'mv12', 'mvv'));
    await runSql(db, 'BEGIN; TRUNCATE t1; ROLLBACK');
    expect(changed(await run())).toEqual([]);
    await runSql(db, 'INSERT INTO t1 SELECT g FROM generate_series(1, 5) g');
    expect(changed(await run())).toEqual(names('mv1', 'mv12', 'mvv'));
    await runSql(db, 'BEGIN; TRUNCATE t1; INSERT INTO t1 SELECT g FROM generate_series(1, 5) g; COMMIT');
    expect(changed(await run())).toEqual(names('mv1', 'mv12', 'mvv'));
  });

  test('MERGE, ON CONFLICT DO UPDATE and a procedure with COMMIT each select the views', async () => {
    for (const write of [
      'MERGE INTO t1 USING (VALUES (1), (300)) s(id) ON t1.id = s.id WHEN MATCHED THEN UPDATE SET v = t1.v + 1 WHEN NOT MATCHED THEN INSERT VALUES (s.id)',
      'INSERT INTO t1 VALUES (1) ON CONFLICT (id) DO UPDATE SET v = t1.v + 1',
      'CALL p()',
    ]) {
      await runSql(db, 'CREATE OR REPLACE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.t1 VALUES (301); COMMIT; END $$');
      await runSql(db, write);
      expect(changed(await run())).toEqual(names('mv1', 'mv12', 'mvv'));
    }
  });

  test('partitions: a write to a sub-partition, ATTACH of a loaded table and DETACH each select the view', async () => {
    await runSql(db, 'INSERT INTO pt VALUES (1, 15)');
    expect(changed(await run())).toEqual(names('mvp'));
    await runSql(db, 'ALTER TABLE pt ATTACH PARTITION pt3 FOR VALUES FROM (20) TO (30)');
    expect(changed(await run())).toEqual(names('mvp'));
    expect(await runSql(db, 'SELECT n FROM mvp')).toEqual([{ n: 3 }]);
    // The walk is made again once the children moved: a write to the new partition reaches the next run.
    await runSql(db, 'INSERT INTO pt3 VALUES (3, 27)');
    expect(changed(await run())).toEqual(names('mvp'));
    expect(await runSql(db, 'SELECT n FROM mvp')).toEqual([{ n: 4 }]);
    await runSql(db, 'ALTER TABLE pt DETACH PARTITION pt3');
    expect(changed(await run())).toEqual(names('mvp'));
    expect(await runSql(db, 'SELECT n FROM mvp')).toEqual([{ n: 1 }]);
    await runSql(db, 'INSERT INTO pt3 VALUES (4, 28)');
    expect(changed(await run())).toEqual([]);
  });

  test('inheritance: a write to a child and INHERIT of a loaded table select the view of the parent', async () => {
    await runSql(db, 'INSERT INTO ihc VALUES (1)');
    expect(changed(await run())).toEqual(names('mvi'));
    await runSql(db, 'ALTER TABLE ihd INHERIT ih');
    expect(changed(await run())).toEqual(names('mvi'));
    expect(await runSql(db, 'SELECT n FROM mvi')).toEqual([{ n: 2 }]);
    await runSql(db, 'INSERT INTO ihd VALUES (2)');
    expect(changed(await run())).toEqual(names('mvi'));
    expect(await runSql(db, 'SELECT n FROM mvi')).toEqual([{ n: 3 }]);
  });

  test('COPY into a table selects its views, as an INSERT does', async () => {
    // COPY FROM PROGRAM: the rows arrive through COPY as COPY FROM STDIN sends them, without a client-side stream.
    await runSql(db, "COPY t1 (id) FROM PROGRAM 'seq 700 702'");
    expect(changed(await run())).toEqual(names('mv1', 'mv12', 'mvv'));
    expect(await runSql(db, 'SELECT n FROM mv1')).toEqual([{ n: (await runSql<{ n: number }>(db, 'SELECT count(*)::int AS n FROM t1'))[0].n }]);
    expect(changed(await run())).toEqual([]);
  });

  test('a trigger writing into a table selects that table\'s views, though the statement wrote elsewhere', async () => {
    await runSql(db, `CREATE TABLE audit_src (id int);
      CREATE FUNCTION copy_to_t1() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.t1 VALUES (NEW.id); RETURN NEW; END $$;
      CREATE TRIGGER copy_to_t1 AFTER INSERT ON audit_src FOR EACH ROW EXECUTE FUNCTION copy_to_t1()`);
    expect(changed(await run())).toEqual([]);
    await runSql(db, 'INSERT INTO audit_src VALUES (800)');
    expect(changed(await run())).toEqual(names('mv1', 'mv12', 'mvv'));
    expect(await runSql(db, 'SELECT count(*)::int AS n FROM mv1 WHERE n = (SELECT count(*) FROM t1)')).toEqual([{ n: 1 }]);
  });

  test('VACUUM FULL of a table selects its views: a new file is taken for a change, an extra refresh', async () => {
    await runSql(db, 'VACUUM FULL t2');
    const report = await run();
    expect(changed(report)).toEqual(names('mv2', 'mv12', 'mvf'));
    expect(report.selection.changes!.views.find((view) => view.view === 'public.mv2')).toEqual({ view: 'public.mv2', decision: 'changed', sources: ['public.t2'] });
    expect(changed(await run())).toEqual([]);
  });

  test('CREATE OR REPLACE VIEW on the path selects the view reading it, and what the view reads now is watched', async () => {
    await runSql(db, 'CREATE OR REPLACE VIEW v AS SELECT id FROM t1 WHERE id > 2');
    expect(changed(await run())).toEqual(names('mvv'));
    await runSql(db, 'CREATE OR REPLACE VIEW v AS SELECT id FROM t1 WHERE id > 2 UNION ALL SELECT id FROM ihd');
    expect(changed(await run())).toEqual(names('mvv'));
    await runSql(db, 'INSERT INTO ihd VALUES (900)');
    expect(changed(await run())).toEqual(names('mvi', 'mvv'));
    await runSql(db, 'CREATE OR REPLACE VIEW v AS SELECT id FROM t1 WHERE id > 2');
    expect(changed(await run())).toEqual(names('mvv'));
  });

  test('a per-table statistics reset followed by as many writes refreshes everything, naming the reset', async () => {
    const [{ w }] = await runSql<{ w: string }>(db, 'SELECT (n_tup_ins + n_tup_upd + n_tup_del)::text AS w FROM pg_stat_user_tables WHERE relname = \'t2\'');
    await runSql(db, "SELECT pg_stat_reset_single_table_counters('t2'::regclass)");
    await runSql(db, `INSERT INTO t2 SELECT 1000 + g FROM generate_series(1, ${w}) g`);
    const report = await run();
    expect(refreshed(report)).toEqual(ALL);
    expect(report.selection.changes!.fullRefreshReason).toMatch(/pg_stat_database\.stats_reset changed/);
    expect(changed(await run())).toEqual([]);
  });

  test('pg_stat_reset() refreshes everything once', async () => {
    await runSql(db, 'SELECT pg_stat_reset()');
    expect(refreshed(await run())).toEqual(ALL);
    expect(changed(await run())).toEqual([]);
  });

  test('a view dropped and recreated WITH NO DATA is refreshed, and its dependent recreated with it', async () => {
    await runSql(db, `DROP MATERIALIZED VIEW mv1 CASCADE;
      CREATE MATERIALIZED VIEW mv1 AS SELECT count(*)::int AS n FROM t1 WITH NO DATA;
      CREATE MATERIALIZED VIEW mv12 AS SELECT (SELECT n FROM mv1) + (SELECT count(*) FROM t2)::int AS n WITH NO DATA`);
    const report = await run();
    expect(changed(report)).toEqual(names('mv1', 'mv12'));
    expect(report.selection.changes!.views.find((view) => view.view === 'public.mv1')!.decision).toBe('no-baseline');
  });

  test('REFRESH ... WITH NO DATA of a view, which leaves its signals as they were, refreshes it and the view reading it', async () => {
    await runSql(db, 'REFRESH MATERIALIZED VIEW mv1 WITH NO DATA');
    const report = await run();
    expect(changed(report)).toEqual(names('mv1', 'mv12'));
    expect(report.selection.changes!.views.find((view) => view.view === 'public.mv1')!.decision).toBe('not-populated');
    expect(report.selection.changes!.views.find((view) => view.view === 'public.mv12')).toEqual({ view: 'public.mv12', decision: 'upstream', sources: ['public.mv1'] });
    expect(changed(await run())).toEqual([]);
  });

  test('a renamed view is refreshed as one without a baseline, under its new name and again under its old one', async () => {
    await runSql(db, 'ALTER MATERIALIZED VIEW mv2 RENAME TO mv2r');
    const renamed = await run();
    expect(changed(renamed)).toEqual(names('mv2r'));
    expect(renamed.selection.changes!.views.find((view) => view.view === 'public.mv2r')!.decision).toBe('no-baseline');
    await runSql(db, 'ALTER MATERIALIZED VIEW mv2r RENAME TO mv2');
    expect(changed(await run())).toEqual(names('mv2'));
    expect(changed(await run())).toEqual([]);
  });

  test('a failed view keeps its old baseline and is selected again by the next run', async () => {
    await runSql(db, 'INSERT INTO t1 VALUES (400); INSERT INTO t2 VALUES (400)');
    const blocker = await connect(db);
    try {
      // An open reader holds ACCESS SHARE, which a plain REFRESH (ACCESS EXCLUSIVE) must wait for.
      await blocker.query('BEGIN; SELECT * FROM mv2');
      const { error, output } = await invoke({}, { ...env, [RefreshEnv.LOCK_TIMEOUT_MS]: '200', [RefreshEnv.MAX_ATTEMPTS]: '1' });
      expect(error?.message).toMatch(/public\.mv2 failed/);
      expect(output).toMatch(/"view":"public.mv1","status":"refreshed"/);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    // mv12 and mvf read t2 too, and were refreshed by the failed run: only mv2 is left.
    expect(changed(await run())).toEqual(names('mv2'));
  });

  test('a pipeline report adds its views; a pipeline that reported nothing no longer forces a full refresh', async () => {
    const report = await run({ tables: ['t1'] });
    expect(changed(report)).toEqual(names('mv1', 'mv12', 'mvv'));
    expect(report.selection.changes!.views.find((view) => view.view === 'public.mv1')!.decision).toBe('reported');
    const unknown = await run({ fullRefreshReason: 'not every pipeline reported its changed tables: Orders returned no changedTables' });
    expect(changed(unknown)).toEqual([]);
    expect(unknown.selection.reason).toMatch(/change detection found what changed instead/);
  });

  test('ALTER ROLE ... SET track_counts = off refreshes everything, with a warning naming the setting', async () => {
    await runSql(db, 'CREATE ROLE detect_writer; ALTER ROLE detect_writer SET track_counts = off');
    try {
      const report = await run();
      expect(refreshed(report)).toEqual(ALL);
      expect(report.selection.changes!.warnings!.join()).toMatch(/track_counts is turned off by ALTER ROLE or ALTER DATABASE \(track_counts=off\)/);
    } finally {
      await runSql(db, 'DROP ROLE detect_writer');
    }
  });

  test('a role that may not create the state schema gets an error naming both grants, before anything is refreshed', async () => {
    const fresh = await createTestDatabase('detect_grants');
    await runSql(fresh, `CREATE MATERIALIZED VIEW lone AS SELECT 1 AS n;
      DO $$ BEGIN CREATE ROLE detect_no_create LOGIN PASSWORD 'pw'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    const { error } = await invoke({}, { ...localModeEnv(fresh), PGUSER: 'detect_no_create', PGPASSWORD: 'pw', [RefreshEnv.DETECT_CHANGES]: 'true' });
    expect(error?.name).toBe(RefreshErrors.PERMISSION_DENIED);
    expect(error?.message).toMatch(/schema itc_orchestrator, which the role may not create .*GRANT CREATE ON DATABASE.*CREATE SCHEMA itc_orchestrator AUTHORIZATION/);
  });

  test('a writer that commits and stays idle in a fresh session is picked up by the run that follows, and only by it', async () => {
    const writer = await connect(db);
    try {
      // Connecting counts as a flush: a commit at once arms PostgreSQL's 10 s idle timer rather than flushing.
      await writer.query('INSERT INTO t2 VALUES (500)');
      const report = await run();
      expect(changed(report)).toEqual(names('mv2', 'mv12', 'mvf'));
      expect(report.selection.changes!.flushWaitMs).toBeGreaterThan(5_000);
      // The writer is still connected and idle: its counts are in, and nothing more is selected.
      const later = await run();
      expect(changed(later)).toEqual([]);
      expect(later.selection.changes!.flushWaitMs).toBeLessThan(5_000);
    } finally {
      await writer.end();
    }
  }, 30_000);

  test('a run with too little time to wait for an idle writer says its change may reach the next run only; the next run has it', async () => {
    const writer = await connect(db);
    try {
      await writer.query('INSERT INTO t1 VALUES (1100)');
      // 8 s left: the run keeps 5 s for refreshing, so it can wait about 3 s of the 10.25 s the writer needs.
      const { report, error } = await invoke({}, env, 8_000);
      if (error) throw error;
      const changes = report!.selection.changes!;
      expect(changes.flushWaitMs).toBeLessThan(5_000);
      expect(changes.warnings!.join()).toMatch(/the run had \d+ ms to wait of the \d+ ms idle sessions need to flush their counts: a change they committed may reach the next run only/);
      expect(changed(await run())).toEqual(names('mv1', 'mv12', 'mvv'));
    } finally {
      await writer.end();
    }
  }, 40_000);

  test('a role that may not see other roles\' sessions waits for their counts in any case, picks up their idle writer\'s change, and says so', async () => {
    const other = await createTestDatabase('detect_hidden');
    await runSql(other, `DO $$ BEGIN CREATE ROLE detect_owner LOGIN PASSWORD 'pw'; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
      GRANT CREATE ON DATABASE ${other.database} TO detect_owner; GRANT CREATE ON SCHEMA public TO detect_owner`);
    const owner = { ...other, user: 'detect_owner', password: 'pw' };
    await runSql(owner, 'CREATE TABLE h1 (id int); CREATE MATERIALIZED VIEW mvh AS SELECT count(*)::int AS n FROM h1');
    const ownerEnv = { ...localModeEnv(owner), [RefreshEnv.DETECT_CHANGES]: 'true' };
    const runAsOwner = async () => {
      const { report, error } = await invoke({}, ownerEnv);
      if (error) throw error;
      return report!;
    };
    expect(refreshed(await runAsOwner())).toEqual(['public.mvh']);
    // A superuser's session: its state is hidden from detect_owner, which lacks pg_read_all_stats.
    const writer = await connect(other);
    try {
      await writer.query('INSERT INTO h1 VALUES (1)');
      const report = await runAsOwner();
      expect(refreshed(report)).toEqual(['public.mvh']);
      expect(report.selection.changes!.flushWaitMs).toBeGreaterThanOrEqual(10_000);
      expect(report.selection.changes!.warnings!.join()).toMatch(/1 session\(s\) of other roles hide their state from this role.*GRANT pg_read_all_stats/);
      expect(await runSql(other, 'SELECT n FROM mvh')).toEqual([{ n: 1 }]);
    } finally {
      await writer.end();
    }
  }, 60_000);

  test('a session inside a transaction is named; its write reaches the run after it commits', async () => {
    const writer = await connect(db);
    try {
      await writer.query("SET application_name = 'open-writer'; BEGIN; INSERT INTO t1 VALUES (600)");
      const report = await run();
      expect(changed(report)).toEqual([]);
      expect(report.selection.changes!.openTransactions).toEqual([expect.objectContaining({ applicationName: 'open-writer', pid: expect.any(Number) })]);
      await writer.query('COMMIT');
    } finally {
      await writer.end();
    }
    await sleep(100);
    expect(changed(await run())).toEqual(names('mv1', 'mv12', 'mvv'));
  }, 30_000);

  test('a foreign table, a catalog and a sequence are counted by no statistics: their views are refreshed every run', async () => {
    const other = await createTestDatabase('detect_uncounted');
    const otherEnv = { ...localModeEnv(other), [RefreshEnv.DETECT_CHANGES]: 'true' };
    // A real foreign table: postgres_fdw, back to a table of this same database, committed before the view reads it.
    await runSql(other, 'CREATE TABLE remote_rows (id int); INSERT INTO remote_rows VALUES (1)');
    await runSql(other, `CREATE EXTENSION postgres_fdw;
      CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '${other.host}', port '${other.port}', dbname '${other.database}');
      CREATE USER MAPPING FOR CURRENT_USER SERVER loopback OPTIONS (user '${other.user}', password '${other.password}');
      CREATE FOREIGN TABLE far_rows (id int) SERVER loopback OPTIONS (table_name 'remote_rows');
      CREATE MATERIALIZED VIEW mv_foreign AS SELECT count(*)::int AS n FROM far_rows;
      CREATE MATERIALIZED VIEW mv_catalog AS SELECT count(*)::int AS n FROM pg_catalog.pg_class;
      CREATE SEQUENCE ticket;
      CREATE MATERIALIZED VIEW mv_sequence AS SELECT last_value AS n FROM ticket;
      CREATE TABLE plain (id int);
      CREATE MATERIALIZED VIEW mv_plain AS SELECT count(*)::int AS n FROM plain`);
    const uncounted = ['public.mv_catalog', 'public.mv_foreign', 'public.mv_sequence'];
    const runOther = async () => {
      const { report, error } = await invoke({}, otherEnv);
      if (error) throw error;
      return report!;
    };
    expect(refreshed(await runOther())).toEqual([...uncounted, 'public.mv_plain'].sort());
    const report = await runOther();
    expect(refreshed(report)).toEqual(uncounted);
    const detail = (view: string) => report.selection.changes!.views.find((entry) => entry.view === view);
    expect(detail('public.mv_foreign')).toEqual(expect.objectContaining({
      decision: 'untrackable', detail: 'public.far_rows: it is a foreign table, whose changes no statistics of this database count',
    }));
    expect(detail('public.mv_catalog')).toEqual(expect.objectContaining({ decision: 'untrackable', detail: expect.stringContaining('pg_class') }));
    expect(detail('public.mv_sequence')).toEqual(expect.objectContaining({
      decision: 'untrackable', detail: 'public.ticket: it is a relation of kind S, whose changes no statistics count',
    }));
    // What they read changes, and the next run shows it.
    const [before] = await runSql<{ n: number }>(other, 'SELECT n FROM mv_catalog');
    await runSql(other, "INSERT INTO remote_rows VALUES (2); SELECT nextval('ticket'), nextval('ticket'); CREATE TABLE one_more (id int)");
    expect(refreshed(await runOther())).toEqual(uncounted);
    expect(await runSql(other, 'SELECT (SELECT n FROM mv_foreign) AS f, (SELECT n FROM mv_sequence)::int AS s')).toEqual([{ f: 2, s: 2 }]);
    const [after] = await runSql<{ n: number }>(other, 'SELECT n FROM mv_catalog');
    expect(after.n).toBeGreaterThan(before.n);
  }, 30_000);

  test('a run that waits for the run lock reads the signals once it holds it, so a write made while it waited counts', async () => {
    const waiting = await createTestDatabase('detect_wait');
    const waitEnv = { ...localModeEnv(waiting), [RefreshEnv.DETECT_CHANGES]: 'true' };
    await runSql(waiting, `${SLOW_FUNCTION_SQL}
      CREATE TABLE w1 (id int);
      CREATE MATERIALIZED VIEW mv_w1 AS SELECT count(*)::int AS n FROM w1;
      CREATE MATERIALIZED VIEW mv_slow AS SELECT pause('slow') AS n`);
    expect((await invoke({}, waitEnv)).error).toBeUndefined();
    await runSql(waiting, "INSERT INTO knobs VALUES ('slow', 1.5)");
    const first = invoke({}, waitEnv);
    // The first run holds the run lock while mv_slow (untrackable: a plpgsql function) takes 1.5 s.
    await sleep(500);
    const second = invoke({}, waitEnv);
    await sleep(300);
    await runSql(waiting, 'INSERT INTO w1 VALUES (1)');
    const firstReport = (await first).report!;
    await runSql(waiting, "UPDATE knobs SET seconds = 0 WHERE tag = 'slow'");
    const secondReport = (await second).report!;
    expect(refreshed(firstReport)).toEqual(['public.mv_slow']);
    expect(secondReport.lock).toBe('acquired-after-wait');
    expect(refreshed(secondReport)).toEqual(['public.mv_slow', 'public.mv_w1']);
    expect(await runSql(waiting, 'SELECT n FROM mv_w1')).toEqual([{ n: 1 }]);
  }, 30_000);
});
