import { existsSync, readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ClientConfig } from 'pg';
import { RefreshEnv, TlsMode } from './contract';
import { RefreshError } from './errors';

/** The Lambda Node.js runtime's CA bundle; it includes the Amazon RDS certificate authorities. */
export const LAMBDA_CA_BUNDLE = '/var/runtime/ca-cert.pem';
export const DEFAULT_PORT = 5432;
/** The database RDS creates by default, used when neither the secret nor the environment names one. */
export const DEFAULT_DATABASE = 'postgres';
export const APPLICATION_NAME = 'itc-orchestrator-refresh';

/** Where the connection settings came from. */
export type CredentialSource = 'secret' | 'cached-secret' | 'local';

export interface ConnectionSettings {
  /** `pg` settings without pool or timeout options. */
  readonly config: ClientConfig;
  readonly source: CredentialSource;
  /** `user@host:port/database`, for messages; never the password. */
  readonly target: string;
  /** Values to redact from every message: the password. */
  readonly secrets: string[];
}

type Env = Record<string, string | undefined>;

interface CachedSecret {
  readonly arn: string;
  readonly fields: SecretFields;
}

interface SecretFields {
  readonly username: string;
  readonly password: string;
  readonly host?: string;
  readonly port?: number;
  readonly dbname?: string;
}

// Kept across warm invocations: one Secrets Manager call per container, until an authentication failure.
let cachedSecret: CachedSecret | undefined;
let secretsManager: SecretsManagerClient | undefined;

/**
 * Resolves the connection settings: from the Secrets Manager secret named in the environment, or, with no
 * secret configured, from the standard libpq variables (local mode).
 * @param reload read the secret again instead of using the cached copy (after an authentication failure)
 */
export async function connectionSettings(env: Env, tlsMode: TlsMode, reload = false): Promise<ConnectionSettings> {
  const arn = env[RefreshEnv.SECRET_ARN];
  if (!arn) return localSettings(env);

  let source: CredentialSource = 'cached-secret';
  if (reload || !cachedSecret || cachedSecret.arn !== arn) {
    cachedSecret = { arn, fields: parseSecret(arn, await readSecret(arn)) };
    source = 'secret';
  }
  const secret = cachedSecret.fields;
  const host = secret.host ?? env[RefreshEnv.DB_HOST];
  if (!host) {
    throw new RefreshError('INVALID_REQUEST', `Secret ${arn} has no "host" and ${RefreshEnv.DB_HOST} is not set`);
  }
  const port = secret.port ?? portFromEnv(env) ?? DEFAULT_PORT;
  const database = secret.dbname ?? env[RefreshEnv.DB_NAME] ?? DEFAULT_DATABASE;
  return {
    config: { host, port, database, user: secret.username, password: secret.password, ssl: tlsOptions(tlsMode) },
    source,
    target: `${secret.username}@${host}:${port}/${database}`,
    secrets: [secret.password],
  };
}

/**
 * Local mode: the libpq variables, read from the invocation's environment the way `pg` reads them.
 * PGSSLMODE: `disable` and `allow` connect without TLS, `no-verify` and `require` encrypt without verifying, and
 * `prefer`, `verify-ca` and `verify-full` require a verified certificate (pg does not fall back to plain text).
 */
function localSettings(env: Env): ConnectionSettings {
  const port = env.PGPORT ? Number(env.PGPORT) : undefined;
  if (port !== undefined && !isPort(port)) {
    throw new RefreshError('INVALID_REQUEST', `Invalid environment variable PGPORT=${JSON.stringify(env.PGPORT)}: expected an integer from 1 to 65535`);
  }
  const user = env.PGUSER ?? env.USER;
  const config: ClientConfig = {
    host: env.PGHOST,
    port,
    database: env.PGDATABASE,
    user,
    password: env.PGPASSWORD,
    ssl: localTls(env.PGSSLMODE),
  };
  const target = `${user ?? ''}@${env.PGHOST ?? 'localhost'}:${port ?? DEFAULT_PORT}/${env.PGDATABASE ?? user ?? ''}`;
  return { config, source: 'local', target, secrets: env.PGPASSWORD ? [env.PGPASSWORD] : [] };
}

function localTls(sslMode: string | undefined): ConnectionOptions | boolean | undefined {
  switch (sslMode) {
    case undefined:
    case '':
      return undefined;
    case 'disable':
    case 'allow': // libpq tries without TLS first; pg never upgrades
      return false;
    case 'no-verify':
    case 'require':
      return { rejectUnauthorized: false };
    case 'prefer':
    case 'verify-ca':
    case 'verify-full':
      return true;
    default:
      throw new RefreshError('INVALID_REQUEST', `Invalid environment variable PGSSLMODE=${JSON.stringify(sslMode)}: expected disable, allow, no-verify, require, prefer, verify-ca or verify-full`);
  }
}

async function readSecret(arn: string): Promise<string> {
  // Loaded on first use: local mode never pays the AWS SDK's load time at cold start.
  const { GetSecretValueCommand, SecretsManagerClient: Client } = await import('@aws-sdk/client-secrets-manager');
  secretsManager ??= new Client({});
  let secretString: string | undefined;
  try {
    const result = await secretsManager.send(new GetSecretValueCommand({ SecretId: arn }));
    secretString = result.SecretString;
  } catch (error) {
    const { name, message } = error as Error;
    throw new RefreshError('CONNECTION_FAILED', `Could not read secret ${arn}: ${name}: ${message}`);
  }
  if (secretString === undefined) {
    throw new RefreshError('INVALID_REQUEST', `Secret ${arn} has no SecretString (binary secrets are not supported)`);
  }
  return secretString;
}

/** Validates the RDS secret JSON shape. Messages name fields, never their values. */
function parseSecret(arn: string, secretString: string): SecretFields {
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    // JSON.parse's own message quotes the input, which may be a password.
    throw new RefreshError('INVALID_REQUEST', `Secret ${arn} is not valid JSON; expected the RDS shape {"username", "password", "host", "port", "dbname"}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RefreshError('INVALID_REQUEST', `Secret ${arn} is not a JSON object; expected the RDS shape {"username", "password", "host", "port", "dbname"}`);
  }
  const fields = value as Record<string, unknown>;
  const missing = ['username', 'password'].filter((key) => typeof fields[key] !== 'string' || fields[key] === '');
  if (missing.length > 0) {
    throw new RefreshError('INVALID_REQUEST', `Secret ${arn} lacks ${missing.map((key) => `"${key}"`).join(' and ')} (a non-empty string is required)`);
  }
  for (const key of ['host', 'dbname']) {
    if (fields[key] !== undefined && (typeof fields[key] !== 'string' || fields[key] === '')) {
      throw new RefreshError('INVALID_REQUEST', `Secret ${arn} has an invalid "${key}": expected a non-empty string`);
    }
  }
  let port: number | undefined;
  if (fields.port !== undefined && fields.port !== '') {
    port = Number(fields.port);
    if (!isPort(port)) {
      throw new RefreshError('INVALID_REQUEST', `Secret ${arn} has an invalid "port": expected an integer from 1 to 65535`);
    }
  }
  return {
    username: fields.username as string,
    password: fields.password as string,
    host: fields.host as string | undefined,
    port,
    dbname: fields.dbname as string | undefined,
  };
}

function portFromEnv(env: Env): number | undefined {
  const raw = env[RefreshEnv.DB_PORT];
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!isPort(port)) {
    throw new RefreshError('INVALID_REQUEST', `Invalid environment variable ${RefreshEnv.DB_PORT}=${JSON.stringify(raw)}: expected an integer from 1 to 65535`);
  }
  return port;
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

let lambdaCa: string | undefined;

/**
 * `pg` TLS options for a {@link TlsMode}. `verify-full` checks the chain against the Lambda runtime's CA bundle
 * (Node's default store where that file is absent) and the host name against the certificate.
 */
export function tlsOptions(mode: TlsMode): ConnectionOptions | false {
  switch (mode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-full':
      if (lambdaCa === undefined && existsSync(LAMBDA_CA_BUNDLE)) lambdaCa = readFileSync(LAMBDA_CA_BUNDLE, 'utf8');
      return lambdaCa ? { rejectUnauthorized: true, ca: lambdaCa } : { rejectUnauthorized: true };
  }
}
