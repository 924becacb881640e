import { Stack, Token, Tokenization } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RefreshEnv, TlsMode } from './refresh/contract';

/** The `sslmode` values libpq understands. */
const LIBPQ_SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** Properties of {@link DatabaseCredentials.fromEnvironment}. */
export interface EnvironmentCredentialsProps {
  /** The database user (`PGUSER`). */
  readonly username: string;

  /**
   * The user's password (`PGPASSWORD`). It is stored in plain text in the function's
   * configuration and in the CloudFormation template.
   */
  readonly password: string;

  /**
   * The libpq `sslmode` (`PGSSLMODE`): `disable`, `allow`, `prefer`, `require`, `verify-ca` or `verify-full`.
   *
   * @default - not set: libpq's default, `prefer`
   */
  readonly sslMode?: string;
}

/** The database connection props of the orchestrator, as the credentials see them. */
export interface DatabaseConnection {
  readonly endpoint?: string;
  readonly port?: number;
  readonly databaseName?: string;
  readonly verifyServerCertificate?: boolean;
}

/**
 * How the refresh function gets its database credentials.
 *
 * @example
 * declare const instance: rds.DatabaseInstance;
 * const credentials = DatabaseCredentials.fromSecret(instance.secret!);
 */
export abstract class DatabaseCredentials {
  /**
   * Read the credentials from a Secrets Manager secret in the JSON shape RDS uses
   * (`username`, `password` and optionally `host`, `port`, `dbname`).
   *
   * The refresh function may read exactly this secret, and decrypt it with its KMS key if it has one.
   * The `databaseEndpoint`, `databasePort` and `databaseName` props fill in what the secret lacks,
   * as with RDS-managed master user secrets, which hold only the user name and password.
   */
  public static fromSecret(secret: secretsmanager.ISecret): DatabaseCredentials {
    return new SecretCredentials(secret);
  }

  /**
   * For test stacks only: put the credentials in the refresh function's environment as the libpq
   * variables `PGUSER` and `PGPASSWORD`, with `PGHOST`, `PGPORT`, `PGDATABASE` (and `PGSSLMODE`)
   * from the connection props. No secret is read.
   *
   * The password is visible to anyone who can read the function's configuration or the template.
   * Use {@link DatabaseCredentials.fromSecret} for any database that holds real data.
   */
  public static fromEnvironment(props: EnvironmentCredentialsProps): DatabaseCredentials {
    return new EnvironmentCredentials(props);
  }

  /**
   * Throws if the connection props do not suit these credentials. Called before anything is created.
   *
   * @internal
   */
  public abstract _validate(connection: DatabaseConnection): void;

  /**
   * Grants the function what it needs to read the credentials and returns the function's
   * database environment variables.
   *
   * @internal
   */
  public abstract _bind(grantee: iam.IGrantable, connection: DatabaseConnection): Record<string, string>;
}

class SecretCredentials extends DatabaseCredentials {
  constructor(private readonly secret: secretsmanager.ISecret) {
    super();
  }

  public _validate(_connection: DatabaseConnection): void {
    // Every connection prop is optional with a secret: the secret may hold the host, port and name.
  }

  public _bind(grantee: iam.IGrantable, connection: DatabaseConnection): Record<string, string> {
    this.secret.grantRead(grantee);
    // grantRead puts the decrypt permission in the key policy when it can change it, and adds
    // nothing for an imported key; this identity statement covers both, through Secrets Manager only.
    if (this.secret.encryptionKey) {
      grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.secret.encryptionKey.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this.secret).region}.amazonaws.com` },
        },
      }));
    }
    const tlsMode: TlsMode = connection.verifyServerCertificate === false ? 'require' : 'verify-full';
    return {
      [RefreshEnv.SECRET_ARN]: this.secret.secretArn,
      ...optional(RefreshEnv.DB_HOST, connection.endpoint),
      ...optional(RefreshEnv.DB_PORT, portString(connection.port)),
      ...optional(RefreshEnv.DB_NAME, connection.databaseName),
      [RefreshEnv.TLS_MODE]: tlsMode,
    };
  }
}

class EnvironmentCredentials extends DatabaseCredentials {
  constructor(private readonly props: EnvironmentCredentialsProps) {
    super();
    if (!Token.isUnresolved(props.username) && props.username.length === 0) {
      throw new Error('DatabaseCredentials.fromEnvironment: `username` must not be empty, got ""');
    }
    const sslMode = props.sslMode;
    if (sslMode !== undefined && !Token.isUnresolved(sslMode) && !LIBPQ_SSL_MODES.includes(sslMode)) {
      throw new Error(
        `DatabaseCredentials.fromEnvironment: \`sslMode\` must be one of ${LIBPQ_SSL_MODES.join(', ')}, got "${sslMode}"`,
      );
    }
  }

  public _validate(connection: DatabaseConnection): void {
    if (connection.endpoint === undefined) {
      throw new Error(
        '`databaseEndpoint` is required with DatabaseCredentials.fromEnvironment: it becomes PGHOST, got nothing',
      );
    }
    if (connection.verifyServerCertificate !== undefined) {
      throw new Error(
        '`verifyServerCertificate` applies to DatabaseCredentials.fromSecret only; ' +
          `with DatabaseCredentials.fromEnvironment set \`sslMode\` instead, got ${connection.verifyServerCertificate}`,
      );
    }
  }

  public _bind(_grantee: iam.IGrantable, connection: DatabaseConnection): Record<string, string> {
    this._validate(connection);
    return {
      PGHOST: connection.endpoint!,
      ...optional('PGPORT', portString(connection.port)),
      ...optional('PGDATABASE', connection.databaseName),
      PGUSER: this.props.username,
      PGPASSWORD: this.props.password,
      ...optional('PGSSLMODE', this.props.sslMode),
    };
  }
}

function optional(name: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [name]: value };
}

function portString(port: number | undefined): string | undefined {
  return port === undefined ? undefined : Tokenization.stringifyNumber(port);
}
