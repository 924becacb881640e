import { readFileSync } from 'node:fs';
import { AddressInfo, Server, Socket, connect as tcpConnect, createServer } from 'node:net';
import { join } from 'node:path';
import { TLSSocket, createSecureContext } from 'node:tls';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { invoke } from './support/refresh';
import { libpqEnvironment, runSql } from '../../local/pg';
import { RefreshEnv, RefreshErrors } from '../../src/refresh/contract';

process.env.AWS_REGION = 'eu-west-1';

const secretsManager = mockClient(SecretsManagerClient);

/** A self-signed certificate for localhost and 127.0.0.1, valid until 2126, that no CA store trusts. */
const FIXTURES = join(__dirname, 'fixtures');
const UNTRUSTED_CERTIFICATE = { cert: readFileSync(join(FIXTURES, 'untrusted-server.crt')), key: readFileSync(join(FIXTURES, 'untrusted-server.key')) };

/** The first message of a client that asks for TLS: length 8, request code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * A PostgreSQL endpoint with TLS, in front of the test server (which has none): it accepts only clients that
 * ask for TLS, answers them with the untrusted certificate, and forwards the decrypted protocol to the server.
 */
class TlsTerminatingProxy {
  static async start(upstream: ClientConfig): Promise<TlsTerminatingProxy> {
    const proxy = new TlsTerminatingProxy(upstream);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** Sessions whose TLS handshake completed: the client accepted the certificate. */
  secureSessions = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly context = createSecureContext(UNTRUSTED_CERTIFICATE);

  private constructor(private readonly upstream: ClientConfig) {
    this.server = createServer((socket) => this.accept(socket));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track<T extends Socket>(socket: T): T {
    this.sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    return socket;
  }

  private accept(socket: Socket): void {
    this.track(socket);
    socket.once('data', (first) => {
      if (!first.equals(SSL_REQUEST)) {
        socket.destroy();
        return;
      }
      socket.write('S');
      const secure = this.track(new TLSSocket(socket, { isServer: true, secureContext: this.context }));
      secure.once('secure', () => {
        this.secureSessions++;
        const server = this.track(tcpConnect(Number(this.upstream.port), String(this.upstream.host)));
        secure.pipe(server).pipe(secure);
        secure.on('close', () => server.destroy());
        server.on('close', () => secure.destroy());
      });
    });
  }
}

/**
 * The server certificate is verified: against a server with an untrusted certificate, the default TLS mode and
 * PGSSLMODE=verify-full refuse to connect, while the modes that only encrypt connect and refresh over TLS.
 */
describe('TLS certificate verification', () => {
  let db: ClientConfig;
  let proxy: TlsTerminatingProxy;
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:refresh-tls-AbCdEf';

  beforeAll(async () => {
    db = await createTestDatabase('refresh_tls');
    await runSql(db, `
      CREATE TABLE source (id serial PRIMARY KEY);
      CREATE MATERIALIZED VIEW counted AS SELECT count(*)::int AS n FROM source;
    `);
    proxy = await TlsTerminatingProxy.start(db);
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({
      SecretString: JSON.stringify({ host: '127.0.0.1', port: proxy.port, dbname: db.database, username: db.user, password: db.password }),
    });
  });

  afterAll(async () => {
    await proxy.stop();
    secretsManager.restore();
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
    ['ITC_DB_TLS_MODE=require (verifyServerCertificate: false), with a secret', () => ({ [RefreshEnv.SECRET_ARN]: arn, [RefreshEnv.TLS_MODE]: 'require' })],
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
});
