import { Client } from 'pg';
import { abandon, queryWithTimeout } from '../../../src/engine/pg-internals';

/**
 * What src/engine/pg-internals.ts relies on, checked on the pg this package bundles: real clients, never
 * connected, so no database is needed.
 */
describe('pg internals the engine relies on', () => {
  test('a client holds its socket at connection.stream, which abandon() destroys', () => {
    const client = new Client({ host: '127.0.0.1', port: 1 });
    const stream = (client as unknown as { connection?: { stream?: { destroy?: unknown; destroyed?: boolean } } }).connection?.stream;

    expect(stream).toBeDefined();
    expect(typeof stream!.destroy).toBe('function');
    expect(stream!.destroyed).toBe(false);
    abandon(client);
    expect(stream!.destroyed).toBe(true);
  });

  test('pg honours query_timeout on a single query', async () => {
    // A client that never connects queues the query; only the query's own timeout can end it.
    const client = new Client({ host: '127.0.0.1', port: 1 });
    const started = Date.now();

    await expect(client.query(queryWithTimeout('SELECT 1', 50))).rejects.toThrow(/Query read timeout/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
