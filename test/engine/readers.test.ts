import { performance } from 'node:perf_hooks';
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke, localModeEnv, sleep } from './support/refresh';
import { connect, runSql } from '../../local/pg';
import { ConcurrentRefresh, RefreshEnv } from '../../src/shared/contract';

/**
 * A plain REFRESH needs its view to itself. While it waits for a long reader to finish, it must not queue in
 * front of every new reader: each new reader waits at most 200 ms at a time, and under 1 s in all.
 */
describe('a plain REFRESH waiting for a long reader', () => {
  let db: ClientConfig;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('readers');
    env = {
      ...localModeEnv(db),
      [RefreshEnv.CONCURRENT_REFRESH]: ConcurrentRefresh.NEVER,
      [RefreshEnv.LOCK_TIMEOUT_MS]: '20000',
      [RefreshEnv.MAX_ATTEMPTS]: '1',
    };
    await runSql(db, `
      CREATE TABLE facts (id int PRIMARY KEY);
      INSERT INTO facts SELECT generate_series(1, 100);
      CREATE MATERIALIZED VIEW totals AS SELECT count(*)::int AS n FROM facts;
    `);
  });

  interface Read { readonly startedAt: number; readonly ms: number }

  /** Reads the view one query at a time, 20 ms apart, until stopped. */
  function readLoop(client: Awaited<ReturnType<typeof connect>>) {
    const reads: Read[] = [];
    let running = true;
    const done = (async () => {
      while (running) {
        const startedAt = performance.now();
        await client.query('SELECT n FROM totals');
        reads.push({ startedAt, ms: performance.now() - startedAt });
        await sleep(20);
      }
    })();
    return { reads, stop: async () => { running = false; await done; } };
  }

  test('keeps new readers\' waits short while the long reader holds the view, then refreshes', async () => {
    await runSql(db, 'INSERT INTO facts VALUES (1000)');
    const longReader = await connect(db);
    const reader = await connect(db);
    await longReader.query('BEGIN');
    await longReader.query('SELECT n FROM totals');

    const loop = readLoop(reader);
    const run = invoke({ views: ['totals'] }, env);
    await sleep(3_000);
    const releasedAt = performance.now();
    await longReader.query('COMMIT');
    const { report, error } = await run;
    await sleep(100);
    await loop.stop();
    await Promise.all([longReader.end(), reader.end()]);
    await runSql(db, 'DELETE FROM facts WHERE id = 1000');

    expect(error).toBeUndefined();
    expect(report).toMatchObject({ status: 'succeeded', totals: { refreshed: 1 } });
    expect(await runSql(db, 'SELECT n FROM totals')).toEqual([{ n: 101 }]);

    // The reads made while the refresh waited for the long reader.
    const whileWaiting = loop.reads.filter((read) => read.startedAt + read.ms < releasedAt);
    expect(whileWaiting.length).toBeGreaterThan(20);
    const longest = Math.max(...whileWaiting.map((read) => read.ms));
    const total = whileWaiting.reduce((sum, read) => sum + read.ms, 0);
    expect(longest).toBeLessThanOrEqual(200);
    expect(total).toBeLessThan(1_000);
  });

  test('the pauses between tries are not ended by the server\'s idle_in_transaction_session_timeout', async () => {
    await runSql(db, `ALTER DATABASE "${db.database}" SET idle_in_transaction_session_timeout = '100ms'`);
    const longReader = await connect(db);
    try {
      await longReader.query('SET idle_in_transaction_session_timeout = 0');
      await longReader.query('BEGIN');
      await longReader.query('SELECT n FROM totals');
      const run = invoke({ views: ['totals'] }, env);
      await sleep(1_500);
      await longReader.query('COMMIT');
      const { report, error } = await run;

      expect(error).toBeUndefined();
      expect(report).toMatchObject({ status: 'succeeded', totals: { refreshed: 1 } });
    } finally {
      await longReader.end();
      await runSql(db, `ALTER DATABASE "${db.database}" RESET idle_in_transaction_session_timeout`);
    }
  });
});
