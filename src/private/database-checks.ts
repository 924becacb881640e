import { Stack, Token } from 'aws-cdk-lib';
import * as rds from 'aws-cdk-lib/aws-rds';
import { IConstruct } from 'constructs';

/** What a cross-check needs to know of how the refresh compute logs in. */
export interface LoginRequirements {
  /** The factory that made the authentication, as the user wrote it, e.g. `DatabaseAuthentication.fromSecret`. */
  readonly factory: string;
  /** Whether it logs in with IAM database authentication, which the database must allow. */
  readonly usesIam: boolean;
}

const IAM_FACTORY = 'DatabaseAuthentication.fromIam';

/** Checks the login against the database's own settings, where the app defines the database; throws naming both. */
export type LoginCheck = (factory: string, login: LoginRequirements) => void;

/** A host name only: a URL or a `host:port` would reach DNS as it is and fail at the first run. */
export function checkEndpointHost(factory: string, host: string): void {
  if (Token.isUnresolved(host)) {
    return;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host) || host.includes('/')) {
    throw new Error(
      `${factory}: \`host\` must be a host name, not a URL, got ${JSON.stringify(host)}: ` +
        'pass only the host (e.g. "warehouse.abc123.eu-west-1.rds.amazonaws.com"), the port as `port` and the database as `databaseName`',
    );
  }
  const withPort = /^(.+):(\d+)$/.exec(host);
  if (withPort && !withPort[1].includes(':')) {
    throw new Error(
      `${factory}: \`host\` must be a host name without a port, got ${JSON.stringify(host)}: ` +
        `pass { host: ${JSON.stringify(withPort[1])}, port: ${withPort[2]} }`,
    );
  }
  const hostName = /^[A-Za-z0-9._-]+$/.test(host);
  const ipv6 = /^[0-9A-Fa-f:.]+$/.test(host) && host.split(':').length > 2;
  if (!hostName && !ipv6) {
    throw new Error(
      `${factory}: \`host\` must be a host name (letters, digits, ".", "-" and "_") or an IP address, got ${JSON.stringify(host)}: ` +
        'a user name goes in `authentication`, a port in `port`',
    );
  }
}

/** The resource ID `rds-db:connect` names: an instance's, a cluster's or a proxy's, never its name or ARN. */
export function checkResourceId(factory: string, resourceId: string | undefined): void {
  if (resourceId === undefined || Token.isUnresolved(resourceId)) {
    return;
  }
  if (!/^(db|cluster|prx)-[A-Za-z0-9]+$/.test(resourceId)) {
    throw new Error(
      `${factory}: \`resourceId\` must be the resource ID IAM database authentication names: an instance's DbiResourceId ` +
        '("db-..."), a cluster\'s DbClusterResourceId ("cluster-...") or a proxy\'s ID ("prx-..."), not its name or ARN, ' +
        `got ${JSON.stringify(resourceId)}`,
    );
  }
}

/**
 * Whether IAM authentication is on, from an L1 resource's property as the app set it: undefined for a token that
 * resolves to no boolean (a parameter), and `unset` when nothing set it.
 */
function iamSetting(resource: IConstruct, value: unknown): boolean | 'unset' | undefined {
  const resolved = Stack.of(resource).resolve(value);
  if (resolved === undefined) {
    return 'unset';
  }
  return typeof resolved === 'boolean' ? resolved : undefined;
}

/**
 * An instance the app defines: `grantConnect` turns IAM authentication on when the app left it unset, so only
 * `iamAuthentication: false` stops it (and aws-rds then refuses the grant without naming the orchestrator's props).
 */
export function instanceLoginCheck(instance: rds.IDatabaseInstance): LoginCheck | undefined {
  const resource = instance.node.defaultChild;
  if (!(resource instanceof rds.CfnDBInstance)) {
    return undefined;
  }
  return iamFlagCheck(instance, 'instance', () => iamSetting(resource, resource.enableIamDatabaseAuthentication) !== false);
}

/** A cluster the app defines: its `grantConnect` leaves IAM authentication as it is, off unless `iamAuthentication: true`. */
export function clusterLoginCheck(cluster: rds.IDatabaseCluster): LoginCheck | undefined {
  const resource = cluster.node.defaultChild;
  if (!(resource instanceof rds.CfnDBCluster)) {
    return undefined;
  }
  return iamFlagCheck(cluster, 'cluster', () => {
    const setting = iamSetting(resource, resource.enableIamDatabaseAuthentication);
    return setting === undefined || setting === true;
  });
}

function iamFlagCheck(database: IConstruct, kind: string, enabled: () => boolean): LoginCheck {
  return (factory, login) => {
    if (login.usesIam && !enabled()) {
      throw new Error(
        `${factory}: \`authentication\` is ${IAM_FACTORY}, but the ${kind} ${database.node.path} has IAM database ` +
          `authentication off, so every login would fail: set \`iamAuthentication: true\` on the ${kind}, or log in with its secret`,
      );
    }
  };
}

/**
 * A proxy the app defines: with `iamAuth: true` it accepts IAM tokens only, without it only the passwords of its
 * secrets.
 */
export function proxyLoginCheck(proxy: rds.IDatabaseProxy): LoginCheck | undefined {
  const resource = proxy.node.defaultChild;
  if (!(resource instanceof rds.CfnDBProxy) || Token.isUnresolved(resource.auth) || !Array.isArray(resource.auth)) {
    return undefined;
  }
  const settings = (resource.auth as Array<rds.CfnDBProxy.AuthFormatProperty | unknown>)
    .map((auth) => (auth as rds.CfnDBProxy.AuthFormatProperty).iamAuth);
  if (settings.some((setting) => setting === undefined || Token.isUnresolved(setting))) {
    return undefined;
  }
  const requiresIam = settings.length > 0 && settings.every((setting) => setting === 'REQUIRED');
  const allowsIam = settings.some((setting) => setting === 'REQUIRED' || setting === 'ENABLED');
  return (factory, login) => {
    if (login.usesIam && !allowsIam) {
      throw new Error(
        `${factory}: \`authentication\` is ${IAM_FACTORY}, but the proxy ${proxy.node.path} does not accept IAM ` +
          'authentication, so every login would fail: set `iamAuth: true` on the proxy, or log in with one of its secrets',
      );
    }
    if (!login.usesIam && requiresIam) {
      throw new Error(
        `${factory}: \`authentication\` is ${login.factory}, but the proxy ${proxy.node.path} requires IAM ` +
          `authentication (\`iamAuth: true\`), so a password login would fail: use ${IAM_FACTORY}(username), or turn \`iamAuth\` off`,
      );
    }
  };
}
