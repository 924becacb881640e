import { DataZoneClient, PostLineageEventCommand } from '@aws-sdk/client-datazone';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke, Invocation, logLines } from './support/refresh';
import { closedPort, LineageReceiver, OpenLineageValidator, ReceiverAnswer } from '../../local/openlineage';
import { libpqEnvironment, runSql } from '../../local/pg';
import { MAX_FAILURES_IN_A_ROW, MAX_IN_FLIGHT } from '../../src/engine/lineage/emitter';
import { LineageExecution, RefreshEnv, RefreshErrors, RefreshReport } from '../../src/shared/contract';

process.env.AWS_REGION = 'eu-west-1';
const secretsManager = mockClient(SecretsManagerClient);
const dataZone = mockClient(DataZoneClient);

const API_KEY_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:openlineage-key-AbCdEf';
const API_KEY = 'ol-test-key-5f2c';
const EXECUTION: LineageExecution = {
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:warehouse-orchestrator:0b7c',
  executionStartTime: '2026-12-07T06:00:00.123Z',
  stateMachineName: 'warehouse-orchestrator',
};
/** The execution's run ID as openlineage-python's generate_static_uuid(start time, ARN) computes it. */
const EXECUTION_RUN_ID = '01a24f16-6f7b-715a-90f2-5ce370fb7c83';
const GOOD_VIEWS = ['public.daily_totals', 'public.event_counts', 'public.order_summary'];

/**
 * OpenLineage events of real refresh runs on the embedded PostgreSQL, sent to a local receiver: the events, their
 * datasets and facets, every one valid against the pinned schemas; and a receiver that hangs, refuses or is not
 * there, or an API key that cannot be read, which change nothing in the refresh and cost at most the time budget.
 */
describe('lineage', () => {
  let db: ClientConfig;
  let env: Record<string, string>;
  let validator: OpenLineageValidator;
  const receivers: LineageReceiver[] = [];

  beforeAll(async () => {
    validator = new OpenLineageValidator();
    db = await createTestDatabase('lineage');
    env = libpqEnvironment(db);
    await runSql(db, `
      CREATE TABLE orders (id int PRIMARY KEY, day date NOT NULL, amount numeric(12, 2) NOT NULL);
      INSERT INTO orders VALUES (1, '2026-12-01', 10.50), (2, '2026-12-01', 4.50), (3, '2026-12-02', 7);
      CREATE VIEW recent_orders AS SELECT id, day, amount FROM orders WHERE day > '2026-01-01';
      CREATE MATERIALIZED VIEW daily_totals AS SELECT day, sum(amount) AS total FROM recent_orders GROUP BY day;
      CREATE TABLE events (id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
      CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      INSERT INTO events VALUES (1, '2026-12-01');
      CREATE MATERIALIZED VIEW event_counts AS SELECT at, count(*) AS n FROM events GROUP BY at;
      CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql STABLE BEGIN ATOMIC SELECT count(*) FROM orders; END;
      CREATE MATERIALIZED VIEW order_summary AS SELECT order_count() AS orders;
      CREATE TABLE knobs (divisor int NOT NULL);
      INSERT INTO knobs VALUES (0);
      CREATE MATERIALIZED VIEW fragile AS SELECT o.id / k.divisor AS q FROM orders o CROSS JOIN knobs k WITH NO DATA;
      CREATE MATERIALIZED VIEW fragile_child AS SELECT count(*) AS n FROM fragile WITH NO DATA;
    `);
  });

  function stubSecrets() {
    secretsManager.reset();
    secretsManager.on(GetSecretValueCommand, { SecretId: API_KEY_ARN }).resolves({ SecretString: API_KEY });
  }
  beforeAll(stubSecrets);
  beforeEach(stubSecrets);

  afterAll(async () => {
    await Promise.all(receivers.map((started) => started.close()));
  });

  async function receiver(reply: ReceiverAnswer | ((event: any) => ReceiverAnswer) = 201): Promise<LineageReceiver> {
    const started = await LineageReceiver.start(reply);
    receivers.push(started);
    return started;
  }

  function lineageEnv(url: string, extra: { timeBudgetMs?: number; requestTimeoutMs?: number; secret?: string } = {}) {
    return {
      ...env,
      [RefreshEnv.LINEAGE_TRANSPORT]: JSON.stringify({
        type: 'http',
        url,
        endpoint: 'api/v1/lineage',
        apiKeySecretArn: extra.secret ?? API_KEY_ARN,
        requestTimeoutMs: extra.requestTimeoutMs ?? 2_000,
      }),
      [RefreshEnv.LINEAGE_TIME_BUDGET_MS]: String(extra.timeBudgetMs ?? 5_000),
    };
  }

  function expectValid(events: unknown[]): void {
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) expect({ event, problems: validator.problems(event) }).toEqual({ event, problems: [] });
  }

  describe('a run with a failing and a skipped view', () => {
    let run: Invocation;
    let sink: LineageReceiver;
    const byJob = (suffix: string) => sink.events.filter((event) => event.job.name.endsWith(suffix));

    beforeAll(async () => {
      sink = await receiver();
      run = await invoke({ lineage: EXECUTION }, lineageEnv(sink.url));
    });

    test('the refresh fails as it does without lineage, and every event was sent', () => {
      expect(run.error?.name).toBe(RefreshErrors.VIEWS_FAILED);
      const summary = logLines(run.output).find((line) => line.message === 'Lineage events sent');
      expect(summary?.lineage).toEqual({ sent: sink.events.length, failed: 0, dropped: 0 });
      // The refresh run, and five views: a START and an end each.
      expect(sink.events).toHaveLength(12);
    });

    test('every event validates against the pinned OpenLineage schemas, each facet against its own', () => {
      expectValid(sink.events);
    });

    test('each request carries the API key read from Secrets Manager as a bearer token', () => {
      for (const { headers, path } of sink.received) {
        expect(headers.authorization).toBe(`Bearer ${API_KEY}`);
        expect(headers['content-type']).toBe('application/json');
        expect(path).toBe('/api/v1/lineage');
      }
    });

    test('each run has its START first and exactly one end after it', () => {
      const runs = new Map<string, string[]>();
      for (const event of sink.events) runs.set(event.run.runId, [...runs.get(event.run.runId) ?? [], event.eventType]);
      expect(runs.size).toBe(6);
      for (const types of runs.values()) {
        expect(types).toHaveLength(2);
        expect(types[0]).toBe('START');
        expect(['COMPLETE', 'FAIL', 'ABORT']).toContain(types[1]);
      }
    });

    test('the execution is the root, the refresh run the parent of each view\'s run', () => {
      const [refreshStart] = byJob('warehouse-orchestrator.refresh');
      expect(refreshStart.job).toMatchObject({ namespace: 'itc-orchestrator', name: 'warehouse-orchestrator.refresh' });
      const root = { run: { runId: EXECUTION_RUN_ID }, job: { namespace: 'itc-orchestrator', name: 'warehouse-orchestrator' } };
      expect(refreshStart.run.facets.parent).toMatchObject({ ...root, root });
      const views = sink.events.filter((event) => event.job.name !== 'warehouse-orchestrator.refresh');
      expect(views).toHaveLength(10);
      for (const view of views) {
        expect(view.job.name).toMatch(new RegExp(`^warehouse-orchestrator\\.refresh\\.${db.database}\\.public\\.`));
        expect(view.run.facets.parent).toMatchObject({
          run: { runId: refreshStart.run.runId },
          job: { namespace: 'itc-orchestrator', name: 'warehouse-orchestrator.refresh' },
          root: refreshStart.run.facets.parent.root,
        });
      }
    });

    test('inputs walk through plain views and SQL-standard function bodies to tables and partitioned tables', () => {
      const namespace = `postgres://${String(db.host).toLowerCase()}:${db.port}`;
      const inputs = (suffix: string) => byJob(suffix)[0].inputs.map((input: any) => [input.namespace, input.name, input.facets.datasetType]);
      expect(inputs('.public.daily_totals')).toEqual([[namespace, `${db.database}.public.orders`, expect.objectContaining({ datasetType: 'TABLE' })]]);
      expect(inputs('.public.event_counts')).toEqual([
        [namespace, `${db.database}.public.events`, expect.objectContaining({ datasetType: 'TABLE', subType: 'PARTITIONED' })],
      ]);
      expect(inputs('.public.order_summary')).toEqual([[namespace, `${db.database}.public.orders`, expect.objectContaining({ datasetType: 'TABLE' })]]);
      expect(inputs('.public.fragile_child')).toEqual([
        [namespace, `${db.database}.public.fragile`, expect.objectContaining({ datasetType: 'VIEW', subType: 'MATERIALIZED' })],
      ]);
    });

    test('the output is the view, with its columns and types, and the job carries its SQL', async () => {
      const [start, end] = byJob('.public.daily_totals');
      expect(end.eventType).toBe('COMPLETE');
      const [{ sql }] = await runSql<{ sql: string }>(db, "SELECT pg_get_viewdef('public.daily_totals'::regclass) AS sql");
      for (const event of [start, end]) {
        expect(event.outputs).toEqual([expect.objectContaining({
          namespace: `postgres://${String(db.host).toLowerCase()}:${db.port}`,
          name: `${db.database}.public.daily_totals`,
        })]);
        expect(event.outputs[0].facets.schema.fields).toEqual([
          { name: 'day', type: 'date', ordinal_position: 1 },
          { name: 'total', type: 'numeric', ordinal_position: 2 },
        ]);
        expect(event.outputs[0].facets.datasetType).toMatchObject({ datasetType: 'VIEW', subType: 'MATERIALIZED' });
        expect(event.job.facets.sql).toMatchObject({ query: sql, dialect: 'postgres' });
        expect(event.job.facets.jobType).toMatchObject({ processingType: 'BATCH', integration: 'ITC_ORCHESTRATOR', jobType: 'MATERIALIZED_VIEW' });
      }
    });

    test('the failing view ends in FAIL with the database\'s error, its dependent in ABORT naming it', () => {
      const [, failed] = byJob('.public.fragile');
      expect(failed.eventType).toBe('FAIL');
      expect(failed.run.facets.errorMessage).toMatchObject({ message: expect.stringContaining('division by zero'), programmingLanguage: 'JavaScript' });
      const [start, skipped] = byJob('.public.fragile_child');
      expect(start.eventType).toBe('START');
      expect(skipped.eventType).toBe('ABORT');
      expect(skipped.run.facets.errorMessage.message).toBe('depends on public.fragile, which was not refreshed');
    });

    test('the refresh run ends in FAIL with the run\'s error and its own facet', () => {
      const [, end] = byJob('warehouse-orchestrator.refresh');
      expect(end.eventType).toBe('FAIL');
      expect(end.run.facets.itcOrchestrator_refresh).toMatchObject({ status: 'failed', errorName: RefreshErrors.VIEWS_FAILED });
      expect(end.run.facets.errorMessage.message).toContain('2 of 5 materialized views were not refreshed');
    });
  });

  test('a successful run\'s report counts the events, and the refresh run ends in COMPLETE with the outcome', async () => {
    const sink = await receiver();
    const { report, error } = await invoke({ views: GOOD_VIEWS, lineage: EXECUTION }, lineageEnv(sink.url));
    expect(error).toBeUndefined();
    expect(report!.lineage).toEqual({ sent: 8, failed: 0, dropped: 0 });
    expectValid(sink.events);
    const end = sink.events.filter((event) => event.job.name === 'warehouse-orchestrator.refresh')[1];
    expect(end.eventType).toBe('COMPLETE');
    expect(end.run.facets.itcOrchestrator_refresh).toMatchObject({
      status: 'succeeded', lock: 'acquired', totals: { selected: 3, refreshed: 3, failed: 0, skipped: 0 }, selection: { basis: 'views' },
    });
  });

  test('the dataset namespace can be set, for names that match what dbt and Airflow use', async () => {
    const sink = await receiver();
    const { report } = await invoke({ views: ['public.daily_totals'] }, {
      ...lineageEnv(sink.url), [RefreshEnv.LINEAGE_DATASET_NAMESPACE]: 'postgres://warehouse.example.internal:5432',
    });
    expect(report!.lineage?.sent).toBe(4);
    const start = sink.events.find((event) => event.job.name.endsWith('.public.daily_totals'));
    expect(start.outputs[0].namespace).toBe('postgres://warehouse.example.internal:5432');
    expect(start.inputs[0].namespace).toBe('postgres://warehouse.example.internal:5432');
    // Outside an execution the jobs are named after the compute, and the refresh run is the root.
    expect(start.run.facets.parent.root).toEqual({ run: start.run.facets.parent.run, job: start.run.facets.parent.job });
  });

  test('the log transport writes each event as one JSON line of the run\'s own log', async () => {
    const { report, output } = await invoke({ views: ['public.daily_totals'], lineage: EXECUTION }, {
      ...env, [RefreshEnv.LINEAGE_TRANSPORT]: JSON.stringify({ type: 'log' }),
    });
    const events = logLines(output).filter((line) => line.schemaURL === 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent');
    expect(events.map((event) => event.eventType)).toEqual(['START', 'START', 'COMPLETE', 'COMPLETE']);
    expectValid(events);
    expect(report!.lineage).toEqual({ sent: 4, failed: 0, dropped: 0 });
  });

  test('Amazon DataZone gets each event through PostLineageEvent, in the configured domain and region', async () => {
    dataZone.reset();
    dataZone.on(PostLineageEventCommand).resolves({ id: 'event-1', domainId: 'dzd_example' });
    const { report } = await invoke({ views: ['public.event_counts'], lineage: EXECUTION }, {
      ...env,
      [RefreshEnv.LINEAGE_TRANSPORT]: JSON.stringify({ type: 'dataZone', domainId: 'dzd_example', region: 'eu-central-1', requestTimeoutMs: 2_000 }),
    });
    const calls = dataZone.commandCalls(PostLineageEventCommand);
    expect(calls).toHaveLength(4);
    const events = calls.map((call) => JSON.parse(new TextDecoder().decode(call.args[0].input.event as Uint8Array)));
    expectValid(events);
    for (const call of calls) expect(call.args[0].input.domainIdentifier).toBe('dzd_example');
    expect(await calls[0].thisValue.config.region()).toBe('eu-central-1');
    expect(report!.lineage).toEqual({ sent: 4, failed: 0, dropped: 0 });
  });

  test('DataZone refusing the events changes nothing in the refresh', async () => {
    dataZone.reset();
    dataZone.on(PostLineageEventCommand).rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }));
    const { report, error } = await invoke({ views: ['public.event_counts'] }, {
      ...env, [RefreshEnv.LINEAGE_TRANSPORT]: JSON.stringify({ type: 'dataZone', domainId: 'dzd_example', requestTimeoutMs: 2_000 }),
    });
    expect(error).toBeUndefined();
    expect(report!.totals).toEqual({ selected: 1, refreshed: 1, failed: 0, skipped: 0 });
    expect(report!.lineage).toMatchObject({ sent: 0, reason: expect.stringContaining('AccessDeniedException: User is not authorized') });
  });

  describe('never in the way', () => {
    const BUDGET_MS = 1_500;
    /** Scheduling noise on a shared machine, on top of the budget. */
    const SLACK_MS = 700;
    let baseline: { report: RefreshReport; elapsedMs: number };

    const outcome = (report: RefreshReport) => ({
      status: report.status, totals: report.totals, views: report.views.map((view) => [view.view, view.status]),
    });

    beforeAll(async () => {
      const { report, elapsedMs } = await invoke({ views: GOOD_VIEWS }, env);
      baseline = { report: report!, elapsedMs };
    });

    async function expectUnharmed(lineage: Record<string, string>): Promise<RefreshReport> {
      const { report, error, elapsedMs, output } = await invoke({ views: GOOD_VIEWS, lineage: EXECUTION }, lineage);
      expect(error).toBeUndefined();
      expect(outcome(report!)).toEqual(outcome(baseline.report));
      expect(elapsedMs - baseline.elapsedMs).toBeLessThan(BUDGET_MS + SLACK_MS);
      const metrics = logLines(output).filter((line) => line.LineageEventsNotSent !== undefined);
      expect(metrics).toEqual([expect.objectContaining({ LineageEventsNotSent: report!.lineage!.failed + report!.lineage!.dropped })]);
      return report!;
    }

    /** After three failures in a row (and those already on their way) the run stops sending. */
    function expectStoppedSending(report: RefreshReport): void {
      const { sent, failed, dropped } = report.lineage!;
      expect(sent).toBe(0);
      expect(failed).toBeGreaterThanOrEqual(MAX_FAILURES_IN_A_ROW);
      expect(failed).toBeLessThan(MAX_FAILURES_IN_A_ROW + MAX_IN_FLIGHT);
      expect(failed + dropped).toBe(8);
    }

    test('a receiver that never answers costs at most the time budget; the events are counted as not sent', async () => {
      const sink = await receiver('hang');
      const report = await expectUnharmed(lineageEnv(sink.url, { timeBudgetMs: BUDGET_MS, requestTimeoutMs: 60_000 }));
      expect(report.lineage!.sent).toBe(0);
      expect(report.lineage!.failed + report.lineage!.dropped).toBe(8);
      expect(report.lineage!.reason).toBe(`the time budget of ${BUDGET_MS} ms ran out`);
    });

    test.each([500, 429])('a receiver that answers %i: the refresh is unchanged, the failures counted', async (status) => {
      const sink = await receiver(status);
      const report = await expectUnharmed(lineageEnv(sink.url, { timeBudgetMs: BUDGET_MS }));
      expectStoppedSending(report);
      expect(report.lineage!.reason).toContain(`answered ${status}`);
      expect(sink.events).toHaveLength(report.lineage!.failed);
    });

    test('a closed port: the refresh is unchanged, the failures counted', async () => {
      const report = await expectUnharmed(lineageEnv(`http://127.0.0.1:${await closedPort()}`, { timeBudgetMs: BUDGET_MS }));
      expectStoppedSending(report);
      expect(report.lineage!.reason).toContain('ECONNREFUSED');
    });

    test('an API key that cannot be read: nothing is sent, the refresh is unchanged, the reason reported', async () => {
      const denied = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:denied-AbCdEf';
      secretsManager.on(GetSecretValueCommand, { SecretId: denied }).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
      const sink = await receiver();
      const report = await expectUnharmed(lineageEnv(sink.url, { timeBudgetMs: BUDGET_MS, secret: denied }));
      expect(report.lineage).toEqual({
        sent: 0,
        failed: 0,
        dropped: 8,
        reason: `the API key could not be read from secret ${denied}: AccessDeniedException: not authorized`,
      });
      expect(sink.events).toHaveLength(0);
    });
  });
});
