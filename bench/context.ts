import { Client, ClientConfig } from 'pg';
import { HandlerProcesses } from './handler-process';
import { PostgresServer } from '../test/support/postgres-server';

/** What every benchmark section runs with. */
export interface BenchContext {
  readonly server: PostgresServer;
  readonly handlers: HandlerProcesses;
  /** Absolute path of the shipped bundle, `assets/refresh.lambda/index.js`. */
  readonly bundle: string;
  /** Scratch directory (gitignored). */
  readonly workDir: string;
  /** CPU cores available to this process: the `cores` of the lower bound. */
  readonly cores: number;
  /** Progress, to stderr; stdout carries only the results table. */
  log(message: string): void;
}

/** Opens a connection whose asynchronous errors surface in the query that meets them, not as a crash. */
export async function connect(config: ClientConfig): Promise<Client> {
  const client = new Client(config);
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

export async function withConnection<T>(config: ClientConfig, use: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(config);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
