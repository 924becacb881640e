import { Aws, SecretValue, Stack, Token, Tokenization } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  checkEndpointHost, checkResourceId, clusterLoginCheck, instanceLoginCheck, LoginCheck, LoginRequirements, proxyLoginCheck,
} from './private/database-checks';
import type { DatabaseLogin } from './private/refresh-compute-binding';
import { checkInteger, checkNotBlank } from './private/validation';
import { RefreshEnv, TlsMode } from './shared/contract';

/** The port PostgreSQL, and RDS Proxy for PostgreSQL, listen on unless configured otherwise. */
const POSTGRES_PORT = 5432;

/** How the refresh compute secures its connection to the database. */
export enum DatabaseTls {
  /**
   * TLS, with the server certificate verified and its host name checked. With a secret or IAM authentication the
   * certificate must chain to an Amazon RDS certificate authority, an Amazon Trust Services root (RDS Proxy) or
   * another root Node.js trusts; with a password, to a root Node.js trusts (`NODE_EXTRA_CA_CERTS` adds one).
   */
  VERIFY_FULL = 'verify-full',
  /** TLS without certificate verification: encrypted, but open to a server that impersonates the database. */
  REQUIRE = 'require',
  /** No TLS: for local test servers only. */
  DISABLE = 'disable',
}

/** The engine's name for each setting: `ITC_DB_TLS_MODE` with a secret or IAM, `PGSSLMODE` with a password. */
const TLS_MODES: Record<DatabaseTls, TlsMode> = {
  [DatabaseTls.VERIFY_FULL]: 'verify-full',
  [DatabaseTls.REQUIRE]: 'require',
  [DatabaseTls.DISABLE]: 'disable',
};

function tlsName(tls: DatabaseTls): string {
  const member = Object.entries(DatabaseTls).find(([, value]) => value === tls)?.[0];
  return member ? `DatabaseTls.${member}` : JSON.stringify(tls);
}

/** Where the database is and how the refresh compute may connect to it, as an authentication binds to it. */
interface DatabaseAccess {
  /** The factory that described the database, for errors. */
  readonly factory: string;
  readonly host: string;
  readonly port: string;
  readonly databaseName?: string;
  readonly tls: DatabaseTls;
  /** Grants `rds-db:connect` as the user, on the database itself; undefined when the database cannot name itself. */
  readonly grantConnect?: (grantee: iam.IGrantable, username: string) => void;
  /** Why `grantConnect` is missing, for the error. */
  readonly noGrantConnect?: string;
}

/** An authentication bound to a database: how the refresh compute logs in, and what it must be granted. */
interface BoundAuthentication extends DatabaseLogin {
  grant(grantee: iam.IGrantable): void;
}

/** One way of logging in, behind `DatabaseAuthentication`. */
interface AuthenticationStrategy {
  /** What the database must allow for this login, for the checks against the database's own settings. */
  readonly requirements: LoginRequirements;
  bind(database: DatabaseAccess): BoundAuthentication;
}

/**
 * How the refresh compute logs in to the database. Only the factories create one; the class cannot be
 * subclassed.
 *
 * @example
 * declare const secret: secretsmanager.ISecret;
 * const withSecret = DatabaseAuthentication.fromSecret(secret);
 * const withIam = DatabaseAuthentication.fromIam('refresher');
 */
export class DatabaseAuthentication {
  /**
   * Log in with the user name and password of a Secrets Manager secret in the JSON shape RDS uses
   * (`username`, `password` and optionally `host`, `port`, `dbname`).
   *
   * The refresh compute may read exactly this secret, and decrypt it with its KMS key if it has one.
   * The database's own host, port and name win over the secret's fields, so an RDS Proxy endpoint works
   * with the instance's secret.
   */
  public static fromSecret(secret: secretsmanager.ISecret): DatabaseAuthentication {
    return new DatabaseAuthentication(new SecretAuthentication(secret));
  }

  /**
   * Log in as a database user with IAM database authentication: no password exists. The refresh compute
   * signs a token valid for 15 minutes for each new connection, and sends it only over TLS with the server
   * certificate verified (`DatabaseTls.VERIFY_FULL`, the only `tls` it accepts). It may connect as exactly
   * this user (`rds-db:connect`).
   *
   * The user needs the `rds_iam` role (`GRANT rds_iam TO refresher`), and the database or proxy needs IAM
   * authentication enabled.
   *
   * @param username the database user
   * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.html
   */
  public static fromIam(username: string): DatabaseAuthentication {
    checkNotBlank('DatabaseAuthentication.fromIam: `username`', username);
    return new DatabaseAuthentication(new IamAuthentication(username));
  }

  /**
   * Log in with a user name and password that the refresh compute gets in its environment, as the libpq
   * variables `PGUSER` and `PGPASSWORD` (with `PGHOST`, `PGPORT`, `PGDATABASE` and `PGSSLMODE` from the
   * database). No secret is read.
   *
   * The password is resolved into the function's or task's configuration and the CloudFormation template, where
   * anyone who can read them sees it: meant for test stacks. Use {@link DatabaseAuthentication.fromSecret} or
   * {@link DatabaseAuthentication.fromIam} for any database that holds real data.
   *
   * @param username the database user
   * @param password the user's password, e.g. `SecretValue.unsafePlainText('...')` or a CloudFormation parameter
   */
  public static fromPassword(username: string, password: SecretValue): DatabaseAuthentication {
    checkNotBlank('DatabaseAuthentication.fromPassword: `username`', username);
    return new DatabaseAuthentication(new PasswordAuthentication(username, password));
  }

  private constructor(private readonly strategy: AuthenticationStrategy) {}

  /**
   * What the database must allow for this login, for the checks against the database's own settings.
   *
   * @internal
   */
  public get _requirements(): LoginRequirements {
    return this.strategy.requirements;
  }

  /**
   * Checks the authentication against the database, and returns the refresh compute's database environment and
   * what its principal must be granted.
   *
   * @internal
   */
  public _bind(database: DatabaseAccess): BoundAuthentication {
    return this.strategy.bind(database);
  }
}

class SecretAuthentication implements AuthenticationStrategy {
  public readonly requirements = { factory: 'DatabaseAuthentication.fromSecret', usesIam: false };
  constructor(private readonly secret: secretsmanager.ISecret) {}

  public bind(database: DatabaseAccess): BoundAuthentication {
    const secret = this.secret;
    return {
      environment: {
        [RefreshEnv.SECRET_ARN]: secret.secretArn,
        ...endpointEnvironment(database),
      },
      signsIamTokens: false,
      grant: (grantee) => {
        secret.grantRead(grantee);
        // grantRead puts the decrypt permission in the key policy when it can change it, and adds
        // nothing for an imported key; this identity statement covers both, through Secrets Manager only.
        if (secret.encryptionKey) {
          grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({
            actions: ['kms:Decrypt'],
            resources: [secret.encryptionKey.keyArn],
            conditions: {
              StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(secret).region}.amazonaws.com` },
            },
          }));
        }
      },
    };
  }
}

class IamAuthentication implements AuthenticationStrategy {
  public readonly requirements = { factory: 'DatabaseAuthentication.fromIam', usesIam: true };
  constructor(private readonly username: string) {}

  public bind(database: DatabaseAccess): BoundAuthentication {
    const { factory, grantConnect } = database;
    if (database.tls !== DatabaseTls.VERIFY_FULL) {
      throw new Error(
        `${factory}: \`tls\` must be DatabaseTls.VERIFY_FULL with DatabaseAuthentication.fromIam: ` +
          `IAM tokens are sent only to a verified server, got ${tlsName(database.tls)}`,
      );
    }
    if (!grantConnect) {
      throw new Error(`${factory}: ${database.noGrantConnect}`);
    }
    return {
      environment: {
        [RefreshEnv.IAM_USER]: this.username,
        ...endpointEnvironment(database),
      },
      signsIamTokens: true,
      grant: (grantee) => grantConnect(grantee, this.username),
    };
  }
}

class PasswordAuthentication implements AuthenticationStrategy {
  public readonly requirements = { factory: 'DatabaseAuthentication.fromPassword', usesIam: false };
  constructor(private readonly username: string, private readonly password: SecretValue) {}

  public bind(database: DatabaseAccess): BoundAuthentication {
    return {
      // The engine reads the libpq variables when neither a secret nor an IAM user is set.
      environment: {
        PGHOST: database.host,
        PGPORT: database.port,
        ...optional('PGDATABASE', database.databaseName),
        PGUSER: this.username,
        PGPASSWORD: this.password.unsafeUnwrap(),
        PGSSLMODE: TLS_MODES[database.tls],
      },
      signsIamTokens: false,
      grant: () => undefined,
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
   * How the refresh compute secures its connection, with every authentication. Lower it to
   * `DatabaseTls.REQUIRE` only for a server whose certificate no trusted authority signed, and to
   * `DatabaseTls.DISABLE` only for a local test server. `DatabaseAuthentication.fromIam` accepts only
   * `DatabaseTls.VERIFY_FULL`.
   *
   * @default DatabaseTls.VERIFY_FULL
   */
  readonly tls?: DatabaseTls;

  /**
   * Whether the orchestrator adds an ingress rule to the database's security groups that lets the refresh compute
   * reach the database's port. Turn it off when those groups are managed elsewhere; then allow TCP on the
   * database's port from the refresh compute's security groups (`ItcOrchestrator.connections`, or the
   * `securityGroups` you give the orchestrator) yourself.
   *
   * @default true
   */
  readonly addIngressRule?: boolean;
}

/** Where a database outside this app is, for {@link OrchestratorDatabase.fromEndpoint}. */
export interface DatabaseEndpointOptions {
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
   * {@link DatabaseAuthentication.fromIam}.
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
  /** Checks the login against the database's settings, when the app defines the database. */
  readonly checkLogin?: LoginCheck;
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
      checkLogin: instanceLoginCheck(instance),
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
      checkLogin: clusterLoginCheck(cluster),
    }, options);
  }

  /**
   * An RDS Proxy for PostgreSQL, on port 5432. The refresh compute is allowed to reach it when the proxy
   * has security groups (`DatabaseProxy`), and with IAM authentication may connect through it as the user.
   * The run lock's transaction stays open for the whole refresh run and each refresh is a transaction of its own,
   * so a refresh run uses up to `refresh.concurrency` + 1 of the proxy's database connections while it runs.
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
      checkLogin: proxyLoginCheck(proxy),
    }, options);
  }

  /**
   * A database this app does not define, by its host name: another account's instance, a database
   * imported without its attributes, or one outside RDS.
   *
   * @param endpoint the host, port, security groups to open and, for IAM authentication, resource ID
   * @param options `authentication` is required
   */
  public static fromEndpoint(endpoint: DatabaseEndpointOptions, options: DatabaseOptions = {}): OrchestratorDatabase {
    const factory = 'OrchestratorDatabase.fromEndpoint';
    const host = endpoint.host as string | undefined;
    if (host === undefined || (!Token.isUnresolved(host) && host.trim() === '')) {
      throw new Error(`${factory}: \`host\` must be the database's host name, got ${JSON.stringify(host ?? null)}`);
    }
    checkEndpointHost(factory, host);
    const port = endpoint.port ?? POSTGRES_PORT;
    checkInteger(`${factory}: \`port\``, port, 1, 65535);
    const resourceId = endpoint.resourceId;
    checkResourceId(factory, resourceId);
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
      noGrantConnect: '`resourceId` is required with DatabaseAuthentication.fromIam: `rds-db:connect` names it',
    }, options);
  }

  private readonly authentication: BoundAuthentication;
  private readonly addIngressRule: boolean;

  private constructor(private readonly definition: DatabaseDefinition, options: DatabaseOptions) {
    this.addIngressRule = options.addIngressRule ?? true;
    const { factory } = definition;
    const databaseName = options.databaseName;
    checkNotBlank(`${factory}: \`databaseName\``, databaseName);
    const authentication = options.authentication
      ?? (definition.defaultSecret && DatabaseAuthentication.fromSecret(definition.defaultSecret));
    if (!authentication) {
      throw new Error(
        `${factory}: \`authentication\` is required: the database has no generated secret; ` +
          'use DatabaseAuthentication.fromSecret(secret) or DatabaseAuthentication.fromIam(username)',
      );
    }
    definition.checkLogin?.(factory, authentication._requirements);
    const { host, port, grantConnect, noGrantConnect } = definition;
    this.authentication = authentication._bind({
      factory, host, port, databaseName, tls: options.tls ?? DatabaseTls.VERIFY_FULL, grantConnect, noGrantConnect,
    });
  }

  /**
   * Grants the refresh compute's principal what it needs to log in, and returns how it logs in.
   * Every refresh compute (the Lambda function, the ECS task) binds through this and
   * {@link _allowConnectionsFrom}.
   *
   * @internal
   */
  public _bind(grantee: iam.IGrantable): DatabaseLogin {
    const { environment, signsIamTokens } = this.authentication;
    this.authentication.grant(grantee);
    return { environment, signsIamTokens };
  }

  /**
   * Allows the refresh compute to reach the database's port. The rule lives beside the compute's security
   * group when the database is in another stack, so the database's stack never depends on the compute's.
   *
   * @internal
   */
  public _allowConnectionsFrom(compute: ec2.IConnectable): void {
    const database = this.definition.connections;
    if (!database?.defaultPort || !this.addIngressRule) {
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

/** The engine's variables for the endpoint and its TLS mode, which a secret and an IAM login both come with. */
function endpointEnvironment(database: DatabaseAccess): Record<string, string> {
  return {
    [RefreshEnv.DB_HOST]: database.host,
    [RefreshEnv.DB_PORT]: database.port,
    ...optional(RefreshEnv.DB_NAME, database.databaseName),
    [RefreshEnv.TLS_MODE]: TLS_MODES[database.tls],
  };
}

function optional(name: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [name]: value };
}
