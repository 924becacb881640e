import { POSTGRES_ENV } from './database';
import { PostgresServer, startPostgres } from '../../../local/postgres';
import { endRunTempFolder, startRunTempFolder } from '../../setup/temp-folder';

/** Starts one PostgreSQL for the whole jest run, in the run's temporary folder; workers read its address from the environment. */
export default async function globalSetup(): Promise<void> {
  startRunTempFolder();
  let server: PostgresServer;
  try {
    server = await startPostgres();
  } catch (err) {
    // jest stops the run without its global teardown.
    endRunTempFolder();
    throw err;
  }
  process.env[POSTGRES_ENV.host] = server.host;
  process.env[POSTGRES_ENV.port] = String(server.port);
  process.env[POSTGRES_ENV.user] = server.user;
  process.env[POSTGRES_ENV.password] = server.password;
  (globalThis as { __ITC_POSTGRES__?: unknown }).__ITC_POSTGRES__ = server;
}
