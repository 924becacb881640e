import { Client, ClientBase, ClientConfig, Pool } from 'pg';
import { APPLICATION_NAME, ConnectionSettings, connectionSettings } from './credentials';
import { describeError, isAuthenticationFailure, isTooManyConnections, redact } from './errors';
import { abandon } from './pg-internals';
import { SERVER_WITHOUT_TLS } from './tls';
import type { TlsMode } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

/** How long opening one connection may take, unless the invocation has less time left. */
export const CONNECT_TIMEOUT_MS = 10_000;
/**
 * After this long without traffic, TCP keepalive probes start: a connection whose peer vanished (a failover, a
 * blackholed route) is noticed by the operating system, and middleboxes that drop idle flows (a NAT gateway
 * after 350 s) keep the long-idle run lock session.
 */
export const KEEPALIVE_IDLE_MS = 10_000;

export interface OpenedConnection {
  readonly client: Client;
  readonly settings: ConnectionSettings;
}

/**
 * Opens the run's first connection. An authentication failure with a cached secret reads the secret once
 * more, in case the password was rotated, and tries again.
 */
export async function openConnection(env: Record<string, string | undefined>, tlsMode: TlsMode, timeoutMs: number): Promise<OpenedConnection> {
  const started = Date.now();
  let settings = await connectionSettings(env, tlsMode);
  try {
    return { client: await connect(settings, timeoutMs), settings };
  } catch (error) {
    if (!(isAuthenticationFailure(error) && settings.source === 'cached-secret')) throw connectionFailed(settings, error, timeoutMs);
  }
  settings = await connectionSettings(env, tlsMode, true);
  const left = timeoutMs - (Date.now() - started);
  try {
    return { client: await connect(settings, left), settings };
  } catch (error) {
    throw connectionFailed(settings, error, left);
  }
}

/** A pool of up to `max` connections for the refreshes, opened with `settings`. */
export function createPool(settings: ConnectionSettings, max: number, timeoutMs: number): Pool {
  const pool = new Pool({ ...clientConfig(settings, timeoutMs), max, idleTimeoutMillis: 0 });
  // An idle connection lost between refreshes is discarded by the pool; without a listener it would crash the process.
  pool.on('error', () => undefined);
  // A connection lost while a refresh holds it fails that refresh's query; the client's own error event must not crash the process.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Ends a connection, or abandons it when the server does not confirm within `ms`. Never throws. */
export async function closeConnection(client: ClientBase & { end(): Promise<void> }, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = client.end().catch(() => undefined);
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  if ((await Promise.race([ended, late])) === 'late') abandon(client);
  clearTimeout(timer);
}

async function connect(settings: ConnectionSettings, timeoutMs: number): Promise<Client> {
  const started = Date.now();
  try {
    return await connectOnce(settings, timeoutMs);
  } catch (error) {
    if (!(settings.fallBackToPlain && settings.config.ssl && SERVER_WITHOUT_TLS.test((error as Error | undefined)?.message ?? ''))) throw error;
  }
  // libpq's prefer: the server offers no TLS, so this connection and the pool's go without it.
  settings.config.ssl = false;
  return connectOnce(settings, Math.max(1, timeoutMs - (Date.now() - started)));
}

async function connectOnce(settings: ConnectionSettings, timeoutMs: number): Promise<Client> {
  const client = new Client(clientConfig(settings, timeoutMs));
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

function clientConfig(settings: ConnectionSettings, timeoutMs: number): ClientConfig {
  return {
    ...settings.config,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: Math.max(1, Math.min(CONNECT_TIMEOUT_MS, timeoutMs)),
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
  };
}

/** pg's messages when `connectionTimeoutMillis` passes before the server is ready. */
const CONNECT_TIMEOUT_MESSAGE = /timeout expired|connection timeout|timeout exceeded when trying to connect/i;

function connectionFailed(settings: ConnectionSettings, error: unknown, timeoutMs: number): RefreshError {
  const target = `Could not connect to PostgreSQL as ${settings.target} (${settings.source})`;
  if (timeoutMs < CONNECT_TIMEOUT_MS && CONNECT_TIMEOUT_MESSAGE.test((error as Error | undefined)?.message ?? '')) {
    const message = `Nothing was refreshed: ${target}: the invocation ran out of time after ${Math.max(0, Math.round(timeoutMs))} ms: ${describeError(error)}`;
    return new RefreshError('OUT_OF_TIME', redact(message, settings.secrets));
  }
  if (isTooManyConnections(error)) {
    // Other clients hold every slot; they come and go, so a later attempt can connect.
    const message = `Nothing was refreshed: ${target}: the server has no free connection slot: ${describeError(error)}`;
    return new RefreshError('TRANSIENT', redact(message, settings.secrets));
  }
  let why = 'the connection failed';
  if (isAuthenticationFailure(error)) {
    why = settings.source === 'iam'
      ? 'the server rejected the IAM authentication token (the database user needs the rds_iam role, the function rds-db:connect for that user, and the database IAM authentication enabled)'
      : 'the server rejected the credentials';
  }
  const message = `${target}: ${why}: ${describeError(error)}`;
  return new RefreshError('CONNECTION_FAILED', redact(message, settings.secrets));
}
