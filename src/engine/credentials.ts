import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Signer } from '@aws-sdk/rds-signer';
import type { ClientConfig } from 'pg';
import { localTls, tlsOptions } from './tls';
import { RefreshEnv, TlsMode } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

/** How long an IAM authentication token is valid, in seconds: RDS accepts a token for 15 minutes after signing. */
export const IAM_TOKEN_LIFETIME_S = 900;
export const DEFAULT_PORT = 5432;
/** The database RDS creates by default, used when neither the secret nor the environment names one. */
export const DEFAULT_DATABASE = 'postgres';
export const APPLICATION_NAME = 'itc-orchestrator-refresh';

/** Where the connection settings came from. */
export type CredentialSource = 'secret' | 'cached-secret' | 'iam' | 'local';

export interface ConnectionSettings {
  /** `pg` settings without pool or timeout options. */
  readonly config: ClientConfig;
  /**
   * Local mode's `prefer` (PGSSLMODE unset or `prefer`): when the server offers no TLS, the first connection
   * connects without it, and sets `config.ssl` to false for the connections after it.
   */
  readonly fallBackToPlain?: boolean;
  readonly source: CredentialSource;
  /** `user@host:port/database`, for messages; never the password. */
  readonly target: string;
  /**
   * Values to redact from every message: the password, or each IAM token signed so far (the list grows as
   * connections open, so hold on to this array rather than a copy).
   */
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
  const iamUser = env[RefreshEnv.IAM_USER];
  if (iamUser !== undefined && iamUser !== '') {
    if (arn) {
      throw new RefreshError('INVALID_REQUEST', `${RefreshEnv.IAM_USER} and ${RefreshEnv.SECRET_ARN} are both set: choose IAM authentication or a secret, not both`);
    }
    return iamSettings(env, iamUser, tlsMode);
  }
  if (!arn) return localSettings(env);

  let source: CredentialSource = 'cached-secret';
  if (reload || !cachedSecret || cachedSecret.arn !== arn) {
    cachedSecret = { arn, fields: parseSecret(arn, await readSecret(arn)) };
    source = 'secret';
  }
  const secret = cachedSecret.fields;
  // Explicit settings win over the secret's fields, so a proxy endpoint works with the instance's secret.
  const host = nonEmpty(env[RefreshEnv.DB_HOST]) ?? secret.host;
  if (!host) {
    throw new RefreshError('INVALID_REQUEST', `Secret ${arn} has no "host" and ${RefreshEnv.DB_HOST} is not set`);
  }
  const port = portFromEnv(env) ?? secret.port ?? DEFAULT_PORT;
  const database = nonEmpty(env[RefreshEnv.DB_NAME]) ?? secret.dbname ?? DEFAULT_DATABASE;
  return {
    config: { host, port, database, user: secret.username, password: secret.password, ssl: tlsOptions(tlsMode, env) },
    source,
    target: `${secret.username}@${host}:${port}/${database}`,
    secrets: [secret.password],
  };
}

/**
 * IAM database authentication: no password exists. Each new connection asks for its password when the server
 * requests it, and gets a token signed at that moment, so pooled connections opened late in a long run never
 * present an expired token. The token is sent only over TLS with a verified certificate.
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.html
 */
function iamSettings(env: Env, user: string, tlsMode: TlsMode): ConnectionSettings {
  const host = nonEmpty(env[RefreshEnv.DB_HOST]);
  if (!host) {
    throw new RefreshError('INVALID_REQUEST', `${RefreshEnv.IAM_USER} is set but ${RefreshEnv.DB_HOST} is not: IAM authentication needs the host it signs its token for`);
  }
  if (tlsMode !== 'verify-full') {
    throw new RefreshError('INVALID_REQUEST', `IAM authentication sends its token only over verified TLS: ${RefreshEnv.TLS_MODE} must be verify-full, got ${JSON.stringify(tlsMode)}`);
  }
  const region = nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  if (!region) {
    throw new RefreshError('INVALID_REQUEST', 'IAM authentication needs the database\'s region: AWS_REGION is not set');
  }
  const port = portFromEnv(env) ?? DEFAULT_PORT;
  const database = nonEmpty(env[RefreshEnv.DB_NAME]) ?? DEFAULT_DATABASE;
  const target = `${user}@${host}:${port}/${database}`;
  const secrets: string[] = [];
  const password = async (): Promise<string> => {
    const token = await signToken({ hostname: host, port, username: user, region }, target);
    if (!secrets.includes(token)) secrets.push(token);
    return token;
  };
  return { config: { host, port, database, user, password, ssl: tlsOptions(tlsMode, env) }, source: 'iam', target, secrets };
}

interface SignerKey {
  readonly hostname: string;
  readonly port: number;
  readonly username: string;
  readonly region: string;
}

// Kept across warm invocations: the signer holds the resolved AWS credentials and refreshes them before expiry.
let signer: { readonly key: string; readonly signer: Signer } | undefined;

async function signToken(settings: SignerKey, target: string): Promise<string> {
  const key = JSON.stringify(settings);
  try {
    if (signer?.key !== key) {
      // Loaded on first use, like the Secrets Manager client: only IAM authentication pays its load time.
      const { Signer: RdsSigner } = await import('@aws-sdk/rds-signer');
      signer = { key, signer: new RdsSigner(settings) };
    }
    return await signer.signer.getAuthToken();
  } catch (error) {
    const { name, message } = error as Error;
    throw new RefreshError('CONNECTION_FAILED', `Could not sign an IAM authentication token for ${target}: ${name}: ${message}`);
  }
}

/**
 * Local mode: the libpq variables, read from the invocation's environment the way `pg` reads them.
 * PGSSLMODE as libpq reads it (see {@link localTls}); unset, it is libpq's default, `prefer`.
 */
function localSettings(env: Env): ConnectionSettings {
  const port = env.PGPORT ? Number(env.PGPORT) : undefined;
  if (port !== undefined && !isPort(port)) {
    throw new RefreshError('INVALID_REQUEST', `Invalid environment variable PGPORT=${JSON.stringify(env.PGPORT)}: expected an integer from 1 to 65535`);
  }
  const user = env.PGUSER ?? env.USER;
  const tls = localTls(env.PGSSLMODE);
  const config: ClientConfig = {
    host: env.PGHOST,
    port,
    database: env.PGDATABASE,
    user,
    password: env.PGPASSWORD,
    ssl: tls.ssl,
  };
  const target = `${user ?? ''}@${env.PGHOST ?? 'localhost'}:${port ?? DEFAULT_PORT}/${env.PGDATABASE ?? user ?? ''}`;
  return { config, source: 'local', target, secrets: env.PGPASSWORD ? [env.PGPASSWORD] : [], fallBackToPlain: tls.fallBackToPlain };
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

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
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
