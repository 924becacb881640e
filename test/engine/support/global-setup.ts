import { POSTGRES_ENV } from './database';
import { startPostgres } from '../../../local/postgres';

/** Starts one PostgreSQL for the whole jest run; workers read its address from the environment. */
export default async function globalSetup(): Promise<void> {
  const server = await startPostgres();
  process.env[POSTGRES_ENV.host] = server.host;
  process.env[POSTGRES_ENV.port] = String(server.port);
  process.env[POSTGRES_ENV.user] = server.user;
  process.env[POSTGRES_ENV.password] = server.password;
  (globalThis as { __ITC_POSTGRES__?: unknown }).__ITC_POSTGRES__ = server;
}
