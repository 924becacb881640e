import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AddressInfo, Server, Socket, connect as tcpConnect, createServer } from 'node:net';
import { join } from 'node:path';
import { TLSSocket, createSecureContext } from 'node:tls';
import type { ClientConfig } from 'pg';

// pg's own SCRAM-SHA-256 client: the stand-in logs in to the test server with it after checking an IAM token.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sasl = require('pg/lib/crypto/sasl') as {
  startSession(mechanisms: string[]): { mechanism: string; response: string };
  continueSession(session: object, password: string, serverData: string): Promise<void>;
  finalizeSession(session: object, serverData: string): void;
};

const FIXTURES = join(__dirname, 'fixtures');
const read = (name: string) => readFileSync(join(FIXTURES, name));

/** A server certificate and key, with the intermediate certificates the server sends along. */
export interface ServerCertificate {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export const CERTIFICATES = {
  /** A self-signed certificate for localhost and 127.0.0.1, valid until 2126, that no CA store trusts. */
  selfSigned: { cert: read('untrusted-server.crt'), key: read('untrusted-server.key') },
  /**
   * Shaped like RDS Proxy's: a leaf for localhost and 127.0.0.1 sent with its intermediate, chaining to a root
   * the server does not send ({@link PROXY_ROOT_CA}), as RDS Proxy's chain to an Amazon Trust Services root.
   */
  proxyStyle: { cert: read('proxy-server-chain.crt'), key: read('proxy-server.key') },
  /** The same shape, from a root nobody trusts. */
  rogueProxyStyle: { cert: read('rogue-server-chain.crt'), key: read('rogue-server.key') },
} satisfies Record<string, ServerCertificate>;

/** The root CA of {@link CERTIFICATES.proxyStyle}, for a client to trust. */
export const PROXY_ROOT_CA = join(FIXTURES, 'proxy-root-ca.crt');

/** The first message of a client that asks for TLS: length 8, request code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** What the stand-in expects of an IAM authentication token, as RDS checks it. */
export interface IamExpectation {
  /** The endpoint the token must be signed for. */
  readonly host: string;
  readonly port: () => number;
  readonly user: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** The user's real password on the test server, which the stand-in logs in with once the token passed. */
  readonly password: string;
}

/** One token the stand-in received, with what it found wrong (nothing, for a token RDS would accept). */
export interface ReceivedToken {
  readonly token: string;
  readonly receivedAt: Date;
  /** When the token was signed (its X-Amz-Date). */
  readonly signedAt?: Date;
  readonly problems: string[];
}

/**
 * A PostgreSQL endpoint with TLS in front of the test server (which has none): it accepts only clients that ask
 * for TLS and forwards the decrypted protocol to the server.
 *
 * With an {@link IamExpectation} it plays RDS's part in IAM database authentication: it asks the client for a
 * cleartext password, checks that it is a token signed for this endpoint and user with the expected credentials and
 * still valid, then logs in to the test server with the user's real password and lets the session through. A token
 * that fails a check gets the error RDS gives (28P01).
 */
export class PostgresTlsProxy {
  static async start(upstream: ClientConfig, certificate: ServerCertificate, iam?: IamExpectation): Promise<PostgresTlsProxy> {
    const proxy = new PostgresTlsProxy(upstream, certificate, iam);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** Sessions whose TLS handshake completed: the client accepted the certificate. */
  secureSessions = 0;
  /** Every token received, in order. */
  readonly tokens: ReceivedToken[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly context;

  private constructor(private readonly upstream: ClientConfig, certificate: ServerCertificate, private readonly iam?: IamExpectation) {
    this.context = createSecureContext(certificate);
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
        if (this.iam) {
          this.authenticate(secure, this.iam).catch(() => secure.destroy());
        } else {
          this.pipe(secure, this.connectUpstream());
        }
      });
    });
  }

  private connectUpstream(): Socket {
    return this.track(tcpConnect(Number(this.upstream.port), String(this.upstream.host)));
  }

  private pipe(client: Socket, server: Socket, serverBuffered?: Buffer): void {
    if (serverBuffered && serverBuffered.length > 0) client.write(serverBuffered);
    client.pipe(server).pipe(client);
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
  }

  private async authenticate(client: TLSSocket, iam: IamExpectation): Promise<void> {
    const fromClient = new MessageReader(client);
    const startup = await fromClient.startupMessage();
    // AuthenticationCleartextPassword, as RDS asks an IAM user.
    client.write(message('R', int32(3)));
    const password = await fromClient.next();
    if (password.type !== 'p') throw new Error(`expected a password message, got ${password.type}`);
    const token = password.body.subarray(0, password.body.indexOf(0)).toString('utf8');
    const receivedAt = new Date();
    const { problems, signedAt } = checkToken(token, iam, receivedAt);
    this.tokens.push({ token, receivedAt, signedAt, problems });
    if (problems.length > 0) {
      client.end(errorResponse('28P01', `PAM authentication failed for user "${iam.user}"`));
      return;
    }

    const server = this.connectUpstream();
    const fromServer = new MessageReader(server);
    server.write(startup);
    let session: object | undefined;
    for (;;) {
      const reply = await fromServer.next();
      if (reply.type !== 'R') {
        // An error before authentication ended: pass it on.
        client.end(reply.raw);
        return;
      }
      const code = reply.body.readInt32BE(0);
      const data = reply.body.subarray(4).toString('utf8');
      if (code === 10) {
        const mechanisms = data.split('\0').filter(Boolean);
        const started = sasl.startSession(mechanisms);
        session = started;
        const response = Buffer.from(started.response, 'utf8');
        server.write(message('p', Buffer.concat([cstring(started.mechanism), int32(response.length), response])));
      } else if (code === 11) {
        await sasl.continueSession(session!, iam.password, data);
        server.write(message('p', Buffer.from((session as { response: string }).response, 'utf8')));
      } else if (code === 12) {
        sasl.finalizeSession(session!, data);
      } else if (code === 0) {
        const fromClientRest = fromClient.release();
        if (fromClientRest.length > 0) server.write(fromClientRest);
        client.write(reply.raw);
        this.pipe(client, server, fromServer.release());
        return;
      } else {
        throw new Error(`unexpected authentication request ${code}`);
      }
    }
  }
}

/**
 * Checks an IAM authentication token as RDS does: a presigned `connect` request for this endpoint and user, signed
 * with Signature Version 4 for the `rds-db` service by the expected credentials, and not expired.
 */
export function checkToken(token: string, iam: IamExpectation, at: Date): { problems: string[]; signedAt?: Date } {
  const problems: string[] = [];
  const match = /^([^/:]+):(\d+)\/\?(.+)$/.exec(token);
  if (!match) return { problems: ['not of the form host:port/?query'] };
  const [, host, port, query] = match;
  const params = new URLSearchParams(query);
  const expect = (name: string, wanted: string) => {
    if (params.get(name) !== wanted) problems.push(`${name} is ${JSON.stringify(params.get(name))}, expected ${JSON.stringify(wanted)}`);
  };
  if (host !== iam.host) problems.push(`signed for host ${host}, expected ${iam.host}`);
  if (Number(port) !== iam.port()) problems.push(`signed for port ${port}, expected ${iam.port()}`);
  expect('Action', 'connect');
  expect('DBUser', iam.user);
  expect('X-Amz-Algorithm', 'AWS4-HMAC-SHA256');
  expect('X-Amz-SignedHeaders', 'host');
  if (iam.sessionToken) expect('X-Amz-Security-Token', iam.sessionToken);

  const amzDate = params.get('X-Amz-Date') ?? '';
  const dateMatch = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!dateMatch) return { problems: [...problems, `X-Amz-Date ${JSON.stringify(amzDate)} is not a timestamp`] };
  const [, y, mo, d, h, mi, s] = dateMatch;
  const signedAt = new Date(Date.UTC(+y, +mo - 1, +d, +h, +mi, +s));
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${iam.region}/rds-db/aws4_request`;
  expect('X-Amz-Credential', `${iam.accessKeyId}/${scope}`);

  const expires = Number(params.get('X-Amz-Expires'));
  if (!(expires > 0 && expires <= 900)) problems.push(`X-Amz-Expires is ${params.get('X-Amz-Expires')}, expected at most 900 seconds`);
  // Valid at its time: signed no later than now (one second of clock skew), and not yet expired.
  if (signedAt.getTime() > at.getTime() + 1_000) problems.push(`signed in the future: ${signedAt.toISOString()}`);
  if (signedAt.getTime() + expires * 1_000 <= at.getTime()) problems.push(`expired at ${new Date(signedAt.getTime() + expires * 1_000).toISOString()}`);

  const signature = params.get('X-Amz-Signature') ?? '';
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    problems.push('X-Amz-Signature is not a SHA-256 HMAC');
  } else {
    const expected = presignedSignature(params, `${host}:${port}`, amzDate, scope, iam.secretAccessKey, iam.region);
    if (!timingSafeEqual(Buffer.from(signature), Buffer.from(expected))) problems.push('X-Amz-Signature does not match the request');
  }
  return { problems, signedAt };
}

/** Signature Version 4 of a presigned GET of `/` on `hostHeader`, computed from the query's other parameters. */
function presignedSignature(params: URLSearchParams, hostHeader: string, amzDate: string, scope: string, secret: string, region: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const canonicalQuery = [...params.entries()]
    .filter(([key]) => key !== 'X-Amz-Signature')
    .map(([key, value]) => [encode(key), encode(value)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${hostHeader}`, '', 'host', sha256('')].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, scope.slice(0, 8)), region), 'rds-db'), 'aws4_request');
  return createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
}

interface ProtocolMessage {
  readonly type: string;
  readonly body: Buffer;
  readonly raw: Buffer;
}

/** Reads PostgreSQL protocol messages from a socket until {@link release} hands the rest over. */
class MessageReader {
  private buffer = Buffer.alloc(0);
  private waiter?: () => void;
  private closed = false;
  private readonly onData: (chunk: Buffer) => void;

  constructor(private readonly socket: Socket) {
    this.onData = (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiter?.();
    };
    socket.on('data', this.onData);
    socket.once('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  /** The untyped first message of a session: length, protocol version and parameters. */
  async startupMessage(): Promise<Buffer> {
    await this.available(4);
    const length = this.buffer.readInt32BE(0);
    await this.available(length);
    return this.take(length);
  }

  async next(): Promise<ProtocolMessage> {
    await this.available(5);
    const length = this.buffer.readInt32BE(1);
    await this.available(1 + length);
    const raw = this.take(1 + length);
    return { type: String.fromCharCode(raw[0]), body: raw.subarray(5), raw };
  }

  /** Stops reading; returns what was read but not taken. */
  release(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.pause();
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }

  private take(length: number): Buffer {
    const taken = this.buffer.subarray(0, length);
    this.buffer = this.buffer.subarray(length);
    return taken;
  }

  private async available(length: number): Promise<void> {
    while (this.buffer.length < length) {
      if (this.closed) throw new Error('connection closed');
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = undefined;
    }
  }
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

function cstring(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0])]);
}

function message(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type, 'ascii'), int32(body.length + 4), body]);
}

function errorResponse(code: string, text: string): Buffer {
  const fields = Buffer.concat([
    Buffer.from('S'), cstring('FATAL'), Buffer.from('V'), cstring('FATAL'), Buffer.from('C'), cstring(code), Buffer.from('M'), cstring(text), Buffer.from([0]),
  ]);
  return message('E', fields);
}
