import { randomBytes } from 'node:crypto';
import type { ClientConfig } from 'pg';
import { runSql } from '../../../local/pg';

/** Where the jest global setup publishes the shared server's address. */
export const POSTGRES_ENV = {
  host: 'ITC_TEST_PGHOST',
  port: 'ITC_TEST_PGPORT',
  user: 'ITC_TEST_PGUSER',
  password: 'ITC_TEST_PGPASSWORD',
} as const;

function serverConfig(database: string): ClientConfig {
  const port = process.env[POSTGRES_ENV.port];
  if (!port) {
    throw new Error('The test PostgreSQL is not running: run tests through jest (test/engine/support/global-setup.ts)');
  }
  return {
    host: process.env[POSTGRES_ENV.host],
    port: Number(port),
    user: process.env[POSTGRES_ENV.user],
    password: process.env[POSTGRES_ENV.password],
    database,
  };
}

/**
 * Creates a fresh database on the shared test server, so each test file or case is isolated.
 * Returns its connection settings.
 */
export async function createTestDatabase(prefix = 'test'): Promise<ClientConfig> {
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`;
  await runSql(serverConfig('postgres'), `CREATE DATABASE "${name}"`);
  return serverConfig(name);
}
