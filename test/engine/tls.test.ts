import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { ClientConfig } from 'pg';
import { CERTIFICATES, PostgresTlsProxy, PROXY_ROOT_CA } from './postgres-tls-proxy';
import { createTestDatabase } from './support/database';
import { invoke } from './support/refresh';
import { libpqEnvironment, runSql } from '../../local/pg';
import { RefreshEnv, RefreshErrors } from '../../src/shared/contract';

process.env.AWS_REGION = 'eu-west-1';

const secretsManager = mockClient(SecretsManagerClient);
afterAll(() => secretsManager.restore());

/**
 * The server certificate is verified: against a server with an untrusted certificate, the default TLS mode and
 * PGSSLMODE=verify-full refuse to connect, while the modes that only encrypt connect and refresh over TLS.
 */
describe('TLS certificate verification', () => {
  let db: ClientConfig;
  let proxy: PostgresTlsProxy;
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:refresh-tls-AbCdEf';

  beforeAll(async () => {
    db = await createTestDatabase('refresh_tls');
    await runSql(db, `
      CREATE TABLE source (id serial PRIMARY KEY);
      CREATE MATERIALIZED VIEW counted AS SELECT count(*)::int AS n FROM source;
    `);
    proxy = await PostgresTlsProxy.start(db, CERTIFICATES.selfSigned);
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({
      SecretString: JSON.stringify({ host: '127.0.0.1', port: proxy.port, dbname: db.database, username: db.user, password: db.password }),
    });
  });

  afterAll(async () => {
    await proxy.stop();
  });

  async function addRow(): Promise<number> {
    await runSql(db, 'INSERT INTO source DEFAULT VALUES');
    return (await runSql<{ n: number }>(db, 'SELECT count(*)::int AS n FROM source'))[0].n;
  }

  const counted = async () => (await runSql<{ n: number }>(db, 'SELECT n FROM counted'))[0].n;
  const localMode = (sslMode: string) => ({ ...libpqEnvironment(db), PGHOST: '127.0.0.1', PGPORT: String(proxy.port), PGSSLMODE: sslMode });

  test.each([
    ['the default TLS mode (verify-full), with a secret', () => ({ [RefreshEnv.SECRET_ARN]: arn })],
    ['PGSSLMODE=verify-full, in local mode', () => localMode('verify-full')],
  ])('%s refuses a certificate no trusted CA signed, and nothing is refreshed', async (_case, env) => {
    const before = await counted();
    await addRow();
    const sessions = proxy.secureSessions;

    const { error, report } = await invoke({ views: ['counted'] }, env());

    expect(report).toBeUndefined();
    expect(error?.name).toBe(RefreshErrors.CONNECTION_FAILED);
    expect(error?.message).toMatch(/the connection failed: .*self-signed certificate/);
    expect(proxy.secureSessions).toBe(sessions);
    expect(await counted()).toBe(before);
  });

  test.each([
    ['ITC_DB_TLS_MODE=require (tls: DatabaseTls.REQUIRE), with a secret', () => ({ [RefreshEnv.SECRET_ARN]: arn, [RefreshEnv.TLS_MODE]: 'require' })],
    ['PGSSLMODE=require, in local mode', () => localMode('require')],
  ])('%s encrypts without verifying: it connects over TLS and refreshes', async (_case, env) => {
    const rows = await addRow();
    const sessions = proxy.secureSessions;

    const { error, report } = await invoke({ views: ['counted'] }, env());

    expect(error).toBeUndefined();
    expect(report!.totals.refreshed).toBe(1);
    // The run lock's connection and the refresh's connection, both through TLS.
    expect(proxy.secureSessions - sessions).toBe(2);
    expect(await counted()).toBe(rows);
  });

  test('an unset PGSSLMODE, in local mode, behaves as libpq\'s prefer: it encrypts when the server offers TLS', async () => {
    const rows = await addRow();
    const sessions = proxy.secureSessions;
    const { PGSSLMODE: _unset, ...env } = localMode('');

    const { error, report } = await invoke({ views: ['counted'] }, env);

    expect(error).toBeUndefined();
    expect(report!.totals.refreshed).toBe(1);
    expect(proxy.secureSessions - sessions).toBe(2);
    expect(await counted()).toBe(rows);
  });

  test('an unset PGSSLMODE, in local mode, connects without TLS to a server that offers none', async () => {
    const rows = await addRow();
    const { PGSSLMODE: _unset, ...env } = libpqEnvironment(db);

    const { error, report } = await invoke({ views: ['counted'] }, env);

    expect(error).toBeUndefined();
    expect(report!.totals.refreshed).toBe(1);
    expect(await counted()).toBe(rows);
  });
});

/**
 * RDS Proxy presents a leaf certificate with its intermediate, chaining to an Amazon Trust Services root that only
 * the client holds. The fixture chain has that shape; its root stands in for the Amazon root, trusted the way Node
 * trusts an extra CA (NODE_EXTRA_CA_CERTS), beside the root store and the Lambda runtime's RDS CA bundle.
 */
describe('TLS with a proxy-style certificate chain', () => {
  let db: ClientConfig;
  let trusted: PostgresTlsProxy;
  let rogue: PostgresTlsProxy;
  const arns = {
    trusted: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:refresh-tls-proxy-AbCdEf',
    rogue: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:refresh-tls-rogue-AbCdEf',
  };

  beforeAll(async () => {
    db = await createTestDatabase('refresh_tls_chain');
    await runSql(db, `
      CREATE TABLE source (id serial PRIMARY KEY);
      CREATE MATERIALIZED VIEW counted AS SELECT count(*)::int AS n FROM source;
    `);
    trusted = await PostgresTlsProxy.start(db, CERTIFICATES.proxyStyle);
    rogue = await PostgresTlsProxy.start(db, CERTIFICATES.rogueProxyStyle);
    for (const [arn, proxy] of [[arns.trusted, trusted], [arns.rogue, rogue]] as const) {
      secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({
        SecretString: JSON.stringify({ host: '127.0.0.1', port: proxy.port, dbname: db.database, username: db.user, password: db.password }),
      });
    }
  });

  afterAll(async () => {
    await trusted.stop();
    await rogue.stop();
  });

  const counted = async () => (await runSql<{ n: number }>(db, 'SELECT n FROM counted'))[0].n;
  const env = (arn: string) => ({ [RefreshEnv.SECRET_ARN]: arn, NODE_EXTRA_CA_CERTS: PROXY_ROOT_CA });

  test('verify-full accepts a leaf and intermediate that chain to a trusted root, and refreshes over TLS', async () => {
    await runSql(db, 'INSERT INTO source DEFAULT VALUES');
    const rows = (await runSql<{ n: number }>(db, 'SELECT count(*)::int AS n FROM source'))[0].n;

    const { error, report } = await invoke({ views: ['counted'] }, env(arns.trusted));

    expect(error).toBeUndefined();
    expect(report!.totals.refreshed).toBe(1);
    expect(trusted.secureSessions).toBe(2);
    expect(await counted()).toBe(rows);
  });

  test('verify-full refuses the same shape of chain from an untrusted root, and nothing is refreshed', async () => {
    const before = await counted();
    await runSql(db, 'INSERT INTO source DEFAULT VALUES');

    const { error, report } = await invoke({ views: ['counted'] }, env(arns.rogue));

    expect(report).toBeUndefined();
    expect(error?.name).toBe(RefreshErrors.CONNECTION_FAILED);
    expect(error?.message).toMatch(/the connection failed: .*unable to get local issuer certificate/);
    expect(rogue.secureSessions).toBe(0);
    expect(await counted()).toBe(before);
  });
});
