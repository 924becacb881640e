/**
 * End to end, both refresh computes: the example stack's synthesized state machine runs in
 * aws-local-stepfunctions; in Lambda mode the refresh is the bundled handler in a local function, in
 * Fargate mode the task definition's own entry point (the bootstrap, inline) runs in a child process that
 * fetches the bundle from the S3 asset, sends heartbeats and answers the task token.
 */
import { readFileSync } from 'node:fs';
import { Duration } from 'aws-cdk-lib';
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { REFRESH_BUNDLE } from '../../local/lambda';
import { LocalOrchestration, LocalOrchestrationOptions } from '../../local/orchestration';
import { withClient } from '../../local/pg';
import { createWarehouse } from '../../local/warehouse';
import { RefreshCompute } from '../../src';
import { REFRESH_TASK_FAILED, RefreshErrors, RefreshReport } from '../../src/shared/contract';

/** How long each stage of the long-running chain takes to refresh. */
const STAGE_SECONDS = 2;
/** The refresh function's timeout in Lambda mode: the chain takes three times as long. */
const LAMBDA_TIMEOUT = Duration.seconds(STAGE_SECONDS);
const STAGES = ['longrun.stage_1', 'longrun.stage_2', 'longrun.stage_3'];

/**
 * Three materialized views, each depending on the one before and taking STAGE_SECONDS to refresh. Each records
 * when it was refreshed and how many source rows it saw, so the data shows the order and the freshness.
 */
const LONG_RUNNING_CHAIN_SQL = `
  CREATE SCHEMA longrun;
  CREATE TABLE longrun.source (id serial PRIMARY KEY);
  CREATE TABLE longrun.settings (seconds float8 NOT NULL, fail boolean NOT NULL);
  INSERT INTO longrun.settings VALUES (0, false);
  CREATE FUNCTION longrun.work() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
  DECLARE
    divisor int := CASE WHEN (SELECT fail FROM longrun.settings) THEN 0 ELSE 1 END;
  BEGIN
    PERFORM pg_sleep((SELECT seconds FROM longrun.settings));
    RETURN 1 / divisor - 1;
  END $$;
  CREATE MATERIALIZED VIEW longrun.stage_1 AS
    SELECT (SELECT count(*) FROM longrun.source)::int AS n, longrun.work() AS w, clock_timestamp() AS refreshed_at;
  CREATE MATERIALIZED VIEW longrun.stage_2 AS SELECT n, longrun.work() AS w, clock_timestamp() AS refreshed_at FROM longrun.stage_1;
  CREATE MATERIALIZED VIEW longrun.stage_3 AS SELECT n, longrun.work() AS w, clock_timestamp() AS refreshed_at FROM longrun.stage_2;
  UPDATE longrun.settings SET seconds = ${STAGE_SECONDS};
  INSERT INTO longrun.source SELECT FROM generate_series(1, 3);
`;

const opened: LocalOrchestration[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((orchestration) => orchestration.close()));
});

async function setUp(refreshCompute: RefreshCompute, options: Partial<LocalOrchestrationOptions> = {}) {
  const database = await createTestDatabase('compute');
  await createWarehouse(database);
  await withClient(database, (client) => client.query(LONG_RUNNING_CHAIN_SQL));
  const orchestration = LocalOrchestration.create({ database, refreshCompute, refresh: { schemas: ['longrun'] }, retryIntervalMs: 20, ...options });
  opened.push(orchestration);
  return { database, orchestration };
}

async function stages(database: ClientConfig): Promise<Array<{ n: number; refreshedAt: Date }>> {
  return withClient(database, async (client) => {
    const rows = [];
    for (const view of STAGES) {
      const { rows: [row] } = await client.query<{ n: number; refreshed_at: Date }>(`SELECT n, refreshed_at FROM ${view}`);
      rows.push({ n: row.n, refreshedAt: row.refreshed_at });
    }
    return rows;
  });
}

describe('refreshes that take three times the Lambda timeout', () => {
  test('fail in Lambda mode with a report naming the views stopped and never started, pointing to RefreshCompute.fargate()', async () => {
    const { database, orchestration } = await setUp(RefreshCompute.lambda({ timeout: LAMBDA_TIMEOUT }));
    const before = await stages(database);

    const execution = await orchestration.run({ batch: 'nightly' });

    expect(execution.status).toBe('FAILED');
    // Not Sandbox.Timedout: the handler stopped the refresh and reported before the function's timeout.
    expect(execution.error).toBe(RefreshErrors.VIEWS_FAILED);
    const cause = JSON.parse(execution.cause!) as { errorType: string; errorMessage: string };
    expect(cause.errorType).toBe(RefreshErrors.VIEWS_FAILED);
    expect(cause.errorMessage).toContain(
      'The run ran out of time (stopped: longrun.stage_1; never started: longrun.stage_2, longrun.stage_3). '
        + 'A Lambda invocation lasts at most 15 minutes: run the refresh as an ECS Fargate task with RefreshCompute.fargate()',
    );
    // The handler reported before the function's timeout, and no view changed.
    expect(execution.states.find((state) => state.name === 'Refresh materialized views')?.error).toBe(RefreshErrors.VIEWS_FAILED);
    expect(await stages(database)).toEqual(before);
  });

  test('complete in Fargate mode, in dependency order, and the output is the report', async () => {
    const { database, orchestration } = await setUp(RefreshCompute.fargate({ runTimeout: Duration.minutes(1) }));
    expect(orchestration.stack.refreshFunctionLogicalId).toBeUndefined();
    expect((await stages(database)).map((stage) => stage.n)).toEqual([0, 0, 0]);

    const started = Date.now();
    const execution = await orchestration.run({ batch: 'nightly' });
    const elapsedMs = Date.now() - started;

    expect(execution.status).toBe('SUCCEEDED');
    const report = execution.output as RefreshReport;
    expect(report.totals).toEqual({ selected: 3, refreshed: 3, failed: 0, skipped: 0 });
    expect(report.views.map((view) => view.view)).toEqual(STAGES);
    // Every stage saw the three new source rows, each refreshed after the stage it reads.
    const after = await stages(database);
    expect(after.map((stage) => stage.n)).toEqual([3, 3, 3]);
    expect(after[1].refreshedAt.getTime() - after[0].refreshedAt.getTime()).toBeGreaterThanOrEqual(STAGE_SECONDS * 1000);
    expect(after[2].refreshedAt.getTime() - after[1].refreshedAt.getTime()).toBeGreaterThanOrEqual(STAGE_SECONDS * 1000);
    // The run lasted well past the Lambda timeout, and the task kept the state machine informed.
    expect(elapsedMs).toBeGreaterThan(3 * LAMBDA_TIMEOUT.toMilliseconds());
    expect(orchestration.standIn!.calls).toContain('SendTaskHeartbeat');
    expect(orchestration.standIn!.calls.at(-1)).toBe('SendTaskSuccess');
    expect(orchestration.ecs!.tasks).toHaveLength(1);
    await orchestration.ecs!.tasks[0].exited;
    expect(orchestration.ecs!.tasks[0].exitCode).toBe(0);
  });
});

test('a failed view fails the run in Fargate mode with the same error name and cause shape as in Lambda mode', async () => {
  const failOnce = async (refreshCompute: RefreshCompute) => {
    const { database, orchestration } = await setUp(refreshCompute);
    await withClient(database, (client) => client.query('UPDATE longrun.settings SET seconds = 0, fail = true'));
    const execution = await orchestration.run({ batch: 'nightly' });
    return { execution, orchestration, views: await stages(database) };
  };
  const lambda = await failOnce(RefreshCompute.lambda());
  const fargate = await failOnce(RefreshCompute.fargate());

  for (const { execution, views } of [lambda, fargate]) {
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe(RefreshErrors.VIEWS_FAILED);
    const cause = JSON.parse(execution.cause!) as { errorType: string; errorMessage: string; trace: string[] };
    expect(cause).toEqual({ errorType: RefreshErrors.VIEWS_FAILED, errorMessage: expect.any(String), trace: expect.any(Array) });
    expect(cause.errorMessage).toContain('3 of 3 materialized views were not refreshed (1 failed, 2 skipped, 0 refreshed): '
      + 'longrun.stage_1 failed after 1 attempt(s): 22012 division by zero');
    expect(views.map((view) => view.n)).toEqual([0, 0, 0]);
  }
  expect(fargate.orchestration.standIn!.calls.at(-1)).toBe('SendTaskFailure');
  await fargate.orchestration.ecs!.tasks[0].exited;
  expect(fargate.orchestration.ecs!.tasks[0].exitCode).toBe(1);
});

test('a task that dies without answering is caught by the heartbeat timeout', async () => {
  const { database, orchestration } = await setUp(RefreshCompute.fargate({ heartbeatTimeout: Duration.seconds(3) }));
  const before = await stages(database);

  const started = Date.now();
  let ended = false;
  const running = orchestration.run({ batch: 'nightly' }).finally(() => (ended = true));
  // Killed after its first heartbeat, in the middle of the first refresh.
  while (!ended && !orchestration.standIn!.calls.includes('SendTaskHeartbeat')) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const killedAt = Date.now();
  orchestration.ecs!.killRunningTasks();
  const execution = await running;
  const elapsedMs = Date.now() - started;

  expect(execution.status).toBe('FAILED');
  expect(execution.error).toBe('States.HeartbeatTimeout');
  expect(orchestration.ecs!.tasks).toHaveLength(1);
  await orchestration.ecs!.tasks[0].exited;
  expect(orchestration.ecs!.tasks[0].exitCode).toBeNull();
  expect(orchestration.standIn!.calls).not.toContain('SendTaskSuccess');
  expect(orchestration.standIn!.calls).not.toContain('SendTaskFailure');
  // Found within the heartbeat timeout of the last heartbeat, not at the run timeout (four hours).
  expect(Date.now() - killedAt).toBeLessThan(3_000 + 1_000);
  expect(elapsedMs).toBeLessThan(20_000);
  // The views after the one in flight were never started. (The server finishes the refresh in flight on its own:
  // it notices the lost client only when it next writes to it.)
  expect((await stages(database)).slice(1)).toEqual(before.slice(1));
});

test('a refresh bundle replaced in the asset bucket after deployment is refused with RefreshTaskFailed, and none of it runs', async () => {
  const { database, orchestration } = await setUp(RefreshCompute.fargate({ runTimeout: Duration.minutes(1) }));
  const before = await stages(database);
  // What an attacker would run with the database credentials: here, it empties a view's source.
  const replacement = Buffer.from(`
    const { Client } = require('pg');
    exports.handler = async () => {
      const client = new Client();
      await client.connect();
      await client.query('TRUNCATE longrun.source');
      await client.end();
      return { status: 'succeeded' };
    };`);
  expect(orchestration.replaceFileAsset(readFileSync(REFRESH_BUNDLE), replacement)).toBeGreaterThan(0);

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('FAILED');
  expect(execution.error).toBe(REFRESH_TASK_FAILED);
  expect(JSON.parse(execution.cause!).errorMessage).toMatch(/^Refusing to run the refresh bundle s3:\/\/.*: its SHA-256 is [0-9a-f]{64}, not the [0-9a-f]{64} it had/);
  const [{ rows }] = await Promise.all([withClient(database, (client) => client.query<{ n: number }>('SELECT count(*)::int AS n FROM longrun.source'))]);
  expect(rows).toEqual([{ n: 3 }]);
  expect(await stages(database)).toEqual(before);
});

test('a run lock lost to a terminated session is retried, and the retry refreshes every view', async () => {
  const { database, orchestration } = await setUp(RefreshCompute.lambda({ timeout: Duration.minutes(1) }));
  await withClient(database, (client) => client.query('UPDATE longrun.settings SET seconds = 0.5'));
  const running = orchestration.run({ batch: 'nightly' });
  // Once, as a failover or restart would: the session holding the run lock is ended mid-run.
  let terminated = 0;
  for (let i = 0; i < 400 && terminated === 0; i++) {
    terminated = await withClient(database, async (client) => (await client.query(`
      SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_locks
       WHERE locktype = 'advisory' AND objsubid = 1 AND granted
         AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())`)).rowCount ?? 0);
    if (terminated === 0) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const execution = await running;

  expect(terminated).toBe(1);
  expect(execution.status).toBe('SUCCEEDED');
  expect((execution.output as RefreshReport).totals).toEqual({ selected: 3, refreshed: 3, failed: 0, skipped: 0 });
  expect((await stages(database)).map((stage) => stage.n)).toEqual([3, 3, 3]);
  expect(execution.states.filter((state) => state.name === 'Refresh materialized views').map((state) => state.error))
    .toContain(RefreshErrors.RUN_LOCK_LOST);
});
