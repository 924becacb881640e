import { Client, ClientConfig } from 'pg';

/**
 * Opens a connection. A connection lost between statements (the server stopping) surfaces through
 * the next query; without an error listener it would also crash the process.
 */
export async function connect(database: ClientConfig): Promise<Client> {
  const client = new Client(database);
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Runs `work` on a connection of its own, closed afterwards. */
export async function withClient<T>(database: ClientConfig, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(database);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs SQL on a database and closes the connection; returns the rows. */
export async function runSql<T = Record<string, unknown>>(database: ClientConfig, sql: string, params: unknown[] = []): Promise<T[]> {
  return withClient(database, async (client) => (await client.query(sql, params)).rows as T[]);
}

/** Runs `work` in a transaction, rolled back when it throws. */
export async function inTransaction(database: ClientConfig, work: (client: Client) => Promise<void>): Promise<void> {
  await withClient(database, async (client) => {
    await client.query('BEGIN');
    try {
      await work(client);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  });
}

/** The libpq variables that point a client (the refresh handler in local mode) at a database, with TLS off. */
export function libpqEnvironment(database: ClientConfig): Record<string, string> {
  if (typeof database.password !== 'string') {
    throw new Error(`The database settings need the password as a string, got ${typeof database.password}`);
  }
  return {
    PGHOST: String(database.host),
    PGPORT: String(database.port),
    PGDATABASE: String(database.database),
    PGUSER: String(database.user),
    PGPASSWORD: database.password,
    PGSSLMODE: 'disable',
  };
}
