import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { ClientConfig } from 'pg';

/**
 * A loopback stand-in for AWS Secrets Manager's `GetSecretValue` (JSON 1.1 protocol), so the handler
 * can run in secret mode, as deployed: the AWS SDK loads, signs a request and reads the RDS-shaped
 * secret. The SDK reaches it through `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
 */
export class SecretsManagerStandIn {
  static async start(secretArn: string, database: ClientConfig): Promise<SecretsManagerStandIn> {
    const standIn = new SecretsManagerStandIn(secretArn, database);
    await new Promise<void>((resolve, reject) => {
      standIn.server.once('error', reject);
      standIn.server.listen(0, '127.0.0.1', () => resolve());
    });
    return standIn;
  }

  /** GetSecretValue calls answered; the bench checks each cold start made one. */
  requests = 0;
  private readonly server: Server;

  private constructor(readonly secretArn: string, database: ClientConfig) {
    const secretString = JSON.stringify({
      engine: 'postgres',
      host: database.host,
      port: database.port,
      dbname: database.database,
      username: database.user,
      password: database.password,
    });
    this.server = createServer((request, response) => {
      void readBody(request).then((body) => {
        const target = request.headers['x-amz-target'];
        const secretId = (JSON.parse(body || '{}') as { SecretId?: string }).SecretId;
        response.setHeader('content-type', 'application/x-amz-json-1.1');
        if (target !== 'secretsmanager.GetSecretValue' || secretId !== secretArn) {
          response.statusCode = 400;
          response.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: `No secret ${secretId} for ${target}` }));
          return;
        }
        this.requests++;
        response.end(JSON.stringify({ ARN: secretArn, Name: 'bench', VersionId: 'v1', SecretString: secretString, VersionStages: ['AWSCURRENT'] }));
      });
    });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
