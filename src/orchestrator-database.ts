import { Aws, Stack, Token, Tokenization } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { checkInteger, checkNotBlank } from './private/validation';
import { RefreshEnv, TlsMode } from './shared/contract';

/** The port PostgreSQL, and RDS Proxy for PostgreSQL, listen on unless configured otherwise. */
const POSTGRES_PORT = 5432;
/** The `sslmode` values libpq understands. */
const LIBPQ_SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** Properties of {@link DatabaseAuthentication.plaintextPassword}. */
export interface PlaintextPasswordProps {
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

/**
 * How the refresh compute logs in to the database.
 *
 * @example
 * declare const secret: secretsmanager.ISecret;
 * const withSecret = DatabaseAuthentication.secret(secret);
 * const withIam = DatabaseAuthentication.iam('refresher');
 */
export abstract class DatabaseAuthentication {
  /**
   * Log in with the user name and password of a Secrets Manager secret in the JSON shape RDS uses
   * (`username`, `password` and optionally `host`, `port`, `dbname`).
   *
   * The refresh compute may read exactly this secret, and decrypt it with its KMS key if it has one.
   * The database's own host, port and name win over the secret's fields, so an RDS Proxy endpoint works
   * with the instance's secret.
   */
  public static secret(secret: secretsmanager.ISecret): DatabaseAuthentication {
    return new SecretAuthentication(secret);
  }

  /**
   * Log in as a database user with IAM database authentication: no password exists. The refresh compute
   * signs a token valid for 15 minutes for each new connection, and sends it only over TLS with the server
   * certificate verified. It may connect as exactly this user (`rds-db:connect`).
   *
   * The user needs the `rds_iam` role (`GRANT rds_iam TO refresher`), and the database or proxy needs IAM
   * authentication enabled.
   *
   * @param username the database user
   * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.html
   */
  public static iam(username: string): DatabaseAuthentication {
    checkNotBlank('DatabaseAuthentication.iam: `username`', username);
    return new IamAuthentication(username);
  }

  /**
   * For test stacks only: put the user name and password in the refresh compute's environment as the libpq
   * variables `PGUSER` and `PGPASSWORD`, with `PGHOST`, `PGPORT`, `PGDATABASE` (and `PGSSLMODE`) from the
   * database. No secret is read.
   *
   * The password is visible to anyone who can read the function's configuration or the template.
   * Use {@link DatabaseAuthentication.secret} or {@link DatabaseAuthentication.iam} for any database that
   * holds real data.
   */
  public static plaintextPassword(props: PlaintextPasswordProps): DatabaseAuthentication {
    return new PlaintextPasswordAuthentication(props);
  }

  /** @internal */
  public abstract readonly _kind: 'secret' | 'iam' | 'plaintext';

  /**
   * Grants the grantee what it needs to log in and returns the compute's database environment variables.
   *
   * @internal
   */
  public abstract _bind(grantee: iam.IGrantable, database: DatabaseAccess): Record<string, string>;
}

/** Where the database is and how the refresh compute may connect to it as a user, as the authentication sees it. */
interface DatabaseAccess {
  readonly host: string;
  readonly port: string;
  readonly databaseName?: string;
  readonly verifyServerCertificate?: boolean;
  /** Grants `rds-db:connect` as the user, on the database itself. */
  readonly grantConnect: (grantee: iam.IGrantable, username: string) => void;
}

class SecretAuthentication extends DatabaseAuthentication {
  public readonly _kind = 'secret';

  constructor(private readonly secret: secretsmanager.ISecret) {
    super();
  }

  public _bind(grantee: iam.IGrantable, database: DatabaseAccess): Record<string, string> {
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
    const tlsMode: TlsMode = database.verifyServerCertificate === false ? 'require' : 'verify-full';
    return {
      [RefreshEnv.SECRET_ARN]: this.secret.secretArn,
      [RefreshEnv.DB_HOST]: database.host,
      [RefreshEnv.DB_PORT]: database.port,
      ...optional(RefreshEnv.DB_NAME, database.databaseName),
      [RefreshEnv.TLS_MODE]: tlsMode,
    };
  }
}

class IamAuthentication extends DatabaseAuthentication {
  public readonly _kind = 'iam';

  constructor(private readonly username: string) {
    super();
  }

  public _bind(grantee: iam.IGrantable, database: DatabaseAccess): Record<string, string> {
    database.grantConnect(grantee, this.username);
    return {
      [RefreshEnv.IAM_USER]: this.username,
      [RefreshEnv.DB_HOST]: database.host,
      [RefreshEnv.DB_PORT]: database.port,
      ...optional(RefreshEnv.DB_NAME, database.databaseName),
      [RefreshEnv.TLS_MODE]: 'verify-full',
    };
  }
}

class PlaintextPasswordAuthentication extends DatabaseAuthentication {
  public readonly _kind = 'plaintext';

  constructor(private readonly props: PlaintextPasswordProps) {
    super();
    checkNotBlank('DatabaseAuthentication.plaintextPassword: `username`', props.username);
    const sslMode = props.sslMode;
    if (sslMode !== undefined && !Token.isUnresolved(sslMode) && !LIBPQ_SSL_MODES.includes(sslMode)) {
      throw new Error(
        `DatabaseAuthentication.plaintextPassword: \`sslMode\` must be one of ${LIBPQ_SSL_MODES.join(', ')}, got "${sslMode}"`,
      );
    }
  }

  public _bind(_grantee: iam.IGrantable, database: DatabaseAccess): Record<string, string> {
    return {
      PGHOST: database.host,
      PGPORT: database.port,
      ...optional('PGDATABASE', database.databaseName),
      PGUSER: this.props.username,
      PGPASSWORD: this.props.password,
      ...optional('PGSSLMODE', this.props.sslMode),
    };
  }
}

/** Options of every {@link OrchestratorDatabase} factory. */
export interface DatabaseOptions {
  /**
   * The database whose materialized views are refreshed. Wins over the secret's `dbname`.
   *
   * @default - the secret's `dbname`, else `postgres`
   */
  readonly databaseName?: string;

  /**
   * How the refresh compute logs in.
   *
   * @default - the instance's or cluster's generated secret, where it has one; required otherwise
   */
  readonly authentication?: DatabaseAuthentication;

  /**
   * Whether the refresh compute verifies the database's TLS certificate (`verify-full`): against the
   * Amazon RDS certificate authorities and the Amazon Trust Services roots of RDS Proxy, with the host
   * name checked. The connection is always encrypted with a secret or IAM authentication; turn
   * verification off only for servers whose certificate no such authority signed. IAM authentication
   * always verifies.
   *
   * @default true
   */
  readonly verifyServerCertificate?: boolean;
}

/** Where a database outside this app is, for {@link OrchestratorDatabase.fromEndpoint}. */
export interface DatabaseEndpointProps {
  /** The host name the refresh compute connects to, and that IAM tokens are signed for. */
  readonly host: string;

  /**
   * The port.
   *
   * @default 5432
   */
  readonly port?: number;

  /**
   * The database's security groups: each gets an ingress rule from the refresh compute on the port.
   * Security groups imported as immutable are left unchanged; allow the refresh compute's security
   * group (`ItcOrchestrator.connections`) yourself then.
   *
   * @default - no rule is added: the network path is yours to open
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /**
   * The resource ID that IAM database authentication names in `rds-db:connect`: the instance's
   * `DbiResourceId` (`db-...`), the cluster's `DbClusterResourceId` (`cluster-...`) or the proxy's ID
   * (`prx-...`). The RDS console shows it on the database's Configuration tab; the AWS CLI prints it with
   * `aws rds describe-db-instances --query 'DBInstances[].DbiResourceId'`. Required with
   * {@link DatabaseAuthentication.iam}.
   *
   * @default - none: IAM authentication is not possible
   */
  readonly resourceId?: string;
}

interface DatabaseDefinition {
  readonly factory: string;
  readonly host: string;
  readonly port: string;
  readonly connections?: ec2.Connections;
  readonly defaultSecret?: secretsmanager.ISecret;
  readonly grantConnect?: (grantee: iam.IGrantable, username: string) => void;
  /** Why `grantConnect` is missing, for the error. */
  readonly noGrantConnect?: string;
}

/**
 * The PostgreSQL database whose materialized views the orchestrator refreshes: where it is, how the
 * refresh compute logs in, and the network path to it, which the orchestrator opens.
 *
 * An explicitly known host, port and database name win over the secret's `host`, `port` and `dbname`.
 *
 * @example
 * declare const instance: rds.DatabaseInstance;
 * const database = OrchestratorDatabase.fromInstance(instance, { databaseName: 'warehouse' });
 */
export class OrchestratorDatabase {
  /**
   * An RDS DB instance. The refresh compute connects to its endpoint and is allowed to reach its port.
   *
   * @param instance the instance; its generated secret is the default authentication
   */
  public static fromInstance(instance: rds.IDatabaseInstance, options: DatabaseOptions = {}): OrchestratorDatabase {
    return new OrchestratorDatabase({
      factory: 'OrchestratorDatabase.fromInstance',
      host: instance.dbInstanceEndpointAddress,
      port: instance.dbInstanceEndpointPort,
      connections: instance.connections,
      defaultSecret: secretOf(instance),
      grantConnect: instance.instanceResourceId === undefined
        ? undefined
        : (grantee, username) => instance.grantConnect(grantee, username),
      noGrantConnect: '`instance` was imported without `instanceResourceId`, which `rds-db:connect` names for IAM authentication',
    }, options);
  }

  /**
   * An Aurora DB cluster, through its writer endpoint: a refresh writes. The refresh compute is allowed
   * to reach the cluster's port.
   *
   * @param cluster the cluster; its generated secret is the default authentication
   */
  public static fromCluster(cluster: rds.IDatabaseCluster, options: DatabaseOptions = {}): OrchestratorDatabase {
    let endpoint: rds.Endpoint;
    try {
      endpoint = cluster.clusterEndpoint;
    } catch {
      throw new Error(
        'OrchestratorDatabase.fromCluster: `cluster` has no writer endpoint; import it with `clusterEndpointAddress` and `port`',
      );
    }
    return new OrchestratorDatabase({
      factory: 'OrchestratorDatabase.fromCluster',
      host: endpoint.hostname,
      port: Tokenization.stringifyNumber(endpoint.port),
      connections: cluster.connections,
      defaultSecret: secretOf(cluster),
      grantConnect: hasResourceIdentifier(cluster)
        ? (grantee, username) => cluster.grantConnect(grantee, username)
        : undefined,
      noGrantConnect: '`cluster` was imported without `clusterResourceIdentifier`, which `rds-db:connect` names for IAM authentication',
    }, options);
  }

  /**
   * An RDS Proxy for PostgreSQL, on port 5432. The refresh compute is allowed to reach it when the proxy
   * has security groups (`DatabaseProxy`), and with IAM authentication may connect through it as the user.
   * The run lock's transaction stays open for the whole run and each refresh is a transaction of its own, so
   * a run uses up to `refresh.concurrency` + 1 of the proxy's database connections while it runs.
   *
   * @param proxy the proxy
   * @param options `authentication` is required: a proxy has no secret of its own
   */
  public static fromProxy(proxy: rds.IDatabaseProxy, options: DatabaseOptions = {}): OrchestratorDatabase {
    const connections = (proxy as Partial<ec2.IConnectable>).connections;
    return new OrchestratorDatabase({
      factory: 'OrchestratorDatabase.fromProxy',
      host: proxy.endpoint,
      port: String(POSTGRES_PORT),
      connections: connections && new ec2.Connections({
        securityGroups: connections.securityGroups,
        defaultPort: connections.defaultPort ?? ec2.Port.tcp(POSTGRES_PORT),
      }),
      grantConnect: (grantee, username) => proxy.grantConnect(grantee, username),
    }, options);
  }

  /**
   * A database this app does not define, by its host name: another account's instance, a database
   * imported without its attributes, or one outside RDS.
   *
   * @param endpoint the host, port, security groups to open and, for IAM authentication, resource ID
   * @param options `authentication` is required
   */
  public static fromEndpoint(endpoint: DatabaseEndpointProps, options: DatabaseOptions = {}): OrchestratorDatabase {
    const factory = 'OrchestratorDatabase.fromEndpoint';
    const host = endpoint.host as string | undefined;
    if (host === undefined || (!Token.isUnresolved(host) && host.trim() === '')) {
      throw new Error(`${factory}: \`host\` must be the database's host name, got ${JSON.stringify(host ?? null)}`);
    }
    const port = endpoint.port ?? POSTGRES_PORT;
    checkInteger(`${factory}: \`port\``, port, 1, 65535);
    const resourceId = endpoint.resourceId;
    return new OrchestratorDatabase({
      factory,
      host,
      port: Tokenization.stringifyNumber(port),
      connections: endpoint.securityGroups && endpoint.securityGroups.length > 0
        ? new ec2.Connections({ securityGroups: endpoint.securityGroups, defaultPort: ec2.Port.tcp(port) })
        : undefined,
      grantConnect: resourceId === undefined ? undefined : (grantee, username) => {
        grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({
          actions: ['rds-db:connect'],
          // The policy's own stack's region and account: an imported endpoint is in the compute's.
          resources: [`arn:${Aws.PARTITION}:rds-db:${Aws.REGION}:${Aws.ACCOUNT_ID}:dbuser:${resourceId}/${username}`],
        }));
      },
      noGrantConnect: '`resourceId` is required with DatabaseAuthentication.iam: `rds-db:connect` names it',
    }, options);
  }

  private readonly authentication: DatabaseAuthentication;

  private constructor(private readonly definition: DatabaseDefinition, private readonly options: DatabaseOptions) {
    const { factory } = definition;
    const databaseName = options.databaseName;
    checkNotBlank(`${factory}: \`databaseName\``, databaseName);
    const authentication = options.authentication
      ?? (definition.defaultSecret && DatabaseAuthentication.secret(definition.defaultSecret));
    if (!authentication) {
      throw new Error(
        `${factory}: \`authentication\` is required: the database has no generated secret; ` +
          'use DatabaseAuthentication.secret(secret) or DatabaseAuthentication.iam(username)',
      );
    }
    if (authentication._kind === 'iam') {
      if (options.verifyServerCertificate === false) {
        throw new Error(
          `${factory}: \`verifyServerCertificate\` cannot be false with DatabaseAuthentication.iam: ` +
            'IAM tokens are sent only to a verified server',
        );
      }
      if (!definition.grantConnect) {
        throw new Error(`${factory}: ${definition.noGrantConnect}`);
      }
    }
    if (authentication._kind === 'plaintext' && options.verifyServerCertificate !== undefined) {
      throw new Error(
        `${factory}: \`verifyServerCertificate\` applies to DatabaseAuthentication.secret and .iam; ` +
          `with DatabaseAuthentication.plaintextPassword set \`sslMode\` instead, got ${options.verifyServerCertificate}`,
      );
    }
    this.authentication = authentication;
  }

  /**
   * Grants the refresh compute's principal what it needs to log in, and returns its database environment.
   * Every refresh compute (the Lambda function, a container task) binds through this and
   * {@link _allowConnectionsFrom}.
   *
   * @internal
   */
  public _bind(grantee: iam.IGrantable): Record<string, string> {
    const { host, port, grantConnect } = this.definition;
    return this.authentication._bind(grantee, {
      host,
      port,
      databaseName: this.options.databaseName,
      verifyServerCertificate: this.options.verifyServerCertificate,
      grantConnect: (principal, username) => grantConnect!(principal, username),
    });
  }

  /**
   * Allows the refresh compute to reach the database's port. The rule lives beside the compute's security
   * group when the database is in another stack, so the database's stack never depends on the compute's.
   *
   * @internal
   */
  public _allowConnectionsFrom(compute: ec2.IConnectable): void {
    const database = this.definition.connections;
    if (!database?.defaultPort) {
      return;
    }
    // Only the ingress rule: the compute's own groups allow all outbound traffic or are the user's to manage,
    // and an egress rule on them would be ignored with a warning on every synth.
    for (const databaseGroup of database.securityGroups) {
      for (const computeGroup of compute.connections.securityGroups) {
        databaseGroup.addIngressRule(computeGroup, database.defaultPort, 'Refresh compute to the database', true);
      }
    }
  }
}

/** Whether the cluster's resource ID is known: an imported cluster throws when it was not given. */
function hasResourceIdentifier(cluster: rds.IDatabaseCluster): boolean {
  try {
    return cluster.clusterResourceIdentifier !== undefined;
  } catch {
    return false;
  }
}

function secretOf(database: rds.IDatabaseInstance | rds.IDatabaseCluster): secretsmanager.ISecret | undefined {
  return (database as { secret?: secretsmanager.ISecret }).secret;
}

function optional(name: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [name]: value };
}
