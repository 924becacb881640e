import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { CANARY_SQL, armCanary, expectCanaryUnchanged, invoke, Invocation } from './support/refresh';
import { libpqEnvironment, runSql } from '../../local/pg';
import { freePort } from '../../local/postgres';
import { RefreshEnv, RefreshErrors } from '../../src/shared/contract';

// Debug logs too must never carry a password. Read when the bundle loads, so set before the first invocation.
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
process.env.AWS_REGION = 'eu-west-1';

const secretsManager = mockClient(SecretsManagerClient);

/**
 * Secret mode (Secrets Manager, stubbed), local mode, TLS settings and connection failures, through the
 * bundled handler. Every invocation's output, error and report is kept to prove no password ever leaks.
 */
describe('credentials and connection', () => {
  let db: ClientConfig;
  const role = `rotating_${randomBytes(3).toString('hex')}`;
  const passwords = [1, 2, 3].map((n) => `Pw${n}-${randomBytes(6).toString('hex')}`);
  const invocations: Invocation[] = [];
  let secretCount = 0;

  /** A fresh ARN per test, so the handler's secret cache (kept across invocations) starts empty. */
  const newArn = () => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:refresh-${++secretCount}-AbCdEf`;

  function rdsSecret(password: string, extra: Record<string, unknown> = {}) {
    return JSON.stringify({ engine: 'postgres', host: db.host, port: db.port, dbname: db.database, username: role, password, ...extra });
  }

  function secretEnv(arn: string, extra: Record<string, string> = {}): Record<string, string> {
    return { [RefreshEnv.SECRET_ARN]: arn, [RefreshEnv.TLS_MODE]: 'disable', ...extra };
  }

  async function run(event: unknown, env: Record<string, string>): Promise<Invocation> {
    const invocation = await invoke(event, env);
    invocations.push(invocation);
    return invocation;
  }

  function secretReads(arn: string): number {
    return secretsManager.commandCalls(GetSecretValueCommand, { SecretId: arn }).length;
  }

  beforeAll(async () => {
    db = await createTestDatabase('refresh_credentials');
    await runSql(db, `
      CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${passwords[0]}';
      ${CANARY_SQL}
      CREATE MATERIALIZED VIEW whoami AS SELECT session_user::text AS who;
    `);
  });

  beforeEach(() => secretsManager.reset());

  afterAll(async () => {
    await runSql(db, `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  });

  test('an RDS secret is read once and its host, port, database and user are used', async () => {
    const arn = newArn();
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: rdsSecret(passwords[0]) });

    const { report, error } = await run({ views: ['canary', 'whoami'] }, secretEnv(arn));

    expect(error).toBeUndefined();
    expect(report!.views).toEqual([
      expect.objectContaining({ view: 'public.canary', status: 'refreshed' }),
      expect.objectContaining({ view: 'public.whoami', status: 'refreshed' }),
    ]);
    expect(secretReads(arn)).toBe(1);
    // The refresh logged in as the secret's user (session_user is the login role, whoever owns the view).
    expect(await runSql(db, 'SELECT who FROM whoami')).toEqual([{ who: role }]);
  });

  test('the secret is cached across warm invocations', async () => {
    const arn = newArn();
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: rdsSecret(passwords[0]) });

    for (let i = 0; i < 3; i++) {
      const { error } = await run({ views: ['canary'] }, secretEnv(arn));
      expect(error).toBeUndefined();
    }
    expect(secretReads(arn)).toBe(1);
  });

  /** Host, port and database name set on the function, as the construct does from the database's factory. */
  const explicitDatabase = () => ({
    [RefreshEnv.DB_HOST]: String(db.host),
    [RefreshEnv.DB_PORT]: String(db.port),
    [RefreshEnv.DB_NAME]: String(db.database),
  });

  test('an RDS-managed master secret (only username and password) takes host, port and database from the environment', async () => {
    const arn = newArn();
    const masterSecret = JSON.stringify({ username: role, password: passwords[0] });
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: masterSecret });

    const { report, error } = await run({ views: ['canary'] }, secretEnv(arn, explicitDatabase()));

    expect(error).toBeUndefined();
    expect(report!.totals.refreshed).toBe(1);
  });

  test('an explicit host, port and database name win over the secret\'s, as for an RDS Proxy endpoint with the instance\'s secret', async () => {
    const arn = newArn();
    // The instance's secret names the instance; the function is configured with the proxy's endpoint.
    const instanceSecret = rdsSecret(passwords[0], { host: 'instance.invalid', port: 1, dbname: 'not_this_database' });
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: instanceSecret });

    const { report, error } = await run({ views: ['canary'] }, secretEnv(arn, explicitDatabase()));

    expect(error).toBeUndefined();
    expect(report!.totals.refreshed).toBe(1);
  });

  test('after a password rotation, the secret is read again once and the run succeeds', async () => {
    const arn = newArn();
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: rdsSecret(passwords[0]) });
    expect((await run({ views: ['canary'] }, secretEnv(arn))).error).toBeUndefined();

    // Rotation: the database and the secret get the new password; the handler still caches the old one.
    await runSql(db, `ALTER ROLE ${role} PASSWORD '${passwords[1]}'`);
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: rdsSecret(passwords[1]) });
    const rotated = await run({ views: ['canary'] }, secretEnv(arn));

    expect(rotated.error).toBeUndefined();
    expect(rotated.report!.totals.refreshed).toBe(1);
    expect(secretReads(arn)).toBe(2);

    // The secret now holds a password the database rejects: one re-read, then a clear failure, no loop.
    await runSql(db, `ALTER ROLE ${role} PASSWORD '${passwords[2]}'`);
    const before = await armCanary(db);
    const rejected = await run({ views: ['canary'] }, secretEnv(arn));

    expect(rejected.error?.name).toBe(RefreshErrors.CONNECTION_FAILED);
    expect(rejected.error?.message).toMatch(new RegExp(`as ${role}@.*the server rejected the credentials: 28P01 password authentication failed`));
    expect(secretReads(arn)).toBe(3);
    await expectCanaryUnchanged(db, before);
    await runSql(db, `ALTER ROLE ${role} PASSWORD '${passwords[0]}'`);
  });

  test('a wrong password fails with the stable connection error, after a single read', async () => {
    const arn = newArn();
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: rdsSecret(passwords[2]) });
    const before = await armCanary(db);

    const { error, report } = await run({ views: ['canary'] }, secretEnv(arn));

    expect(report).toBeUndefined();
    expect(error?.name).toBe(RefreshErrors.CONNECTION_FAILED);
    expect(error?.message).toMatch(/the server rejected the credentials/);
    expect(secretReads(arn)).toBe(1);
    await expectCanaryUnchanged(db, before);
  });

  const badSecrets: Array<[string, Record<string, unknown>, RegExp]> = [
    ['not JSON', { SecretString: `not json ${passwords[0]}` }, /is not valid JSON; expected the RDS shape/],
    ['a JSON array', { SecretString: '["a"]' }, /is not a JSON object/],
    ['without a password', { SecretString: JSON.stringify({ username: 'u', host: 'h' }) }, /lacks "password"/],
    ['without username and password', { SecretString: JSON.stringify({ host: 'h' }) }, /lacks "username" and "password"/],
    ['with an empty password', { SecretString: JSON.stringify({ username: 'u', password: '' }) }, /lacks "password" \(a non-empty string is required\)/],
    ['with a port that is not a port', { SecretString: JSON.stringify({ username: 'u', password: passwords[0], host: 'h', port: 'x' }) }, /invalid "port"/],
    ['without a host, none configured', { SecretString: JSON.stringify({ username: 'u', password: passwords[0] }) }, /has no "host" and ITC_DB_HOST is not set/],
    ['binary', { SecretBinary: new Uint8Array([1, 2]) }, /has no SecretString/],
  ];

  test.each(badSecrets)('a secret %s is rejected, naming the secret and what is wrong', async (_case, response, message) => {
    const arn = newArn();
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves(response);
    const before = await armCanary(db);

    const { error } = await run({ views: ['canary'] }, secretEnv(arn));

    expect(error?.name).toBe(RefreshErrors.INVALID_REQUEST);
    expect(error?.message).toContain(arn);
    expect(error?.message).toMatch(message);
    await expectCanaryUnchanged(db, before);
  });

  test('a secret that cannot be read fails with the connection error and the service\'s reason', async () => {
    const arn = newArn();
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }));

    const { error } = await run({ views: ['canary'] }, secretEnv(arn));

    expect(error?.name).toBe(RefreshErrors.CONNECTION_FAILED);
    expect(error?.message).toBe(`Could not read secret ${arn}: AccessDeniedException: User is not authorized`);
  });

  test('an unreachable database fails with the connection error, naming the target', async () => {
    const port = await freePort();
    const arn = newArn();
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: rdsSecret(passwords[0], { port }) });

    const secretMode = await run({ views: ['canary'] }, secretEnv(arn));
    const localMode = await run({ views: ['canary'] }, { ...libpqEnvironment(db), PGPORT: String(port) });

    for (const { error } of [secretMode, localMode]) {
      expect(error?.name).toBe(RefreshErrors.CONNECTION_FAILED);
      expect(error?.message).toMatch(new RegExp(`Could not connect to PostgreSQL as .*@127\\.0\\.0\\.1:${port}/.*ECONNREFUSED`));
    }
  });

  test('TLS is verified by default: a server without TLS is refused; "require" needs TLS too', async () => {
    const arn = newArn();
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: rdsSecret(passwords[0]) });
    const before = await armCanary(db);

    const verifyFull = await run({ views: ['canary'] }, { [RefreshEnv.SECRET_ARN]: arn });
    const requireTls = await run({ views: ['canary'] }, { [RefreshEnv.SECRET_ARN]: arn, [RefreshEnv.TLS_MODE]: 'require' });

    for (const { error } of [verifyFull, requireTls]) {
      expect(error?.name).toBe(RefreshErrors.CONNECTION_FAILED);
      expect(error?.message).toMatch(/does not support SSL/);
    }
    await expectCanaryUnchanged(db, before);
  });

  test('local mode uses the libpq variables and PGSSLMODE', async () => {
    const local = await run({ views: ['canary'] }, libpqEnvironment(db));
    expect(local.error).toBeUndefined();
    expect(local.report!.totals.refreshed).toBe(1);

    const tls = await run({ views: ['canary'] }, { ...libpqEnvironment(db), PGSSLMODE: 'require' });
    expect(tls.error?.message).toMatch(/does not support SSL/);
    const allow = await run({ views: ['canary'] }, { ...libpqEnvironment(db), PGSSLMODE: 'allow' });
    expect(allow.error).toBeUndefined();
    const bad = await run({ views: ['canary'] }, { ...libpqEnvironment(db), PGSSLMODE: 'sometimes' });
    expect(bad.error?.message).toMatch(/PGSSLMODE="sometimes"/);
  });

  test('no password ever appears in logs, errors or reports', () => {
    expect(invocations.length).toBeGreaterThan(15);
    const everything = invocations
      .map(({ output, error, report }) => [output, error?.message, error?.stack, JSON.stringify(report)].join('\n'))
      .join('\n');
    // The run did log at debug level, and did report failures.
    expect(everything).toContain('"level":"DEBUG"');
    expect(everything).toContain('rejected the credentials');
    for (const secret of [...passwords, String(db.password)]) {
      expect(everything).not.toContain(secret);
    }
  });
});
