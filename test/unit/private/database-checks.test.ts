/**
 * Login mistakes known at synth: IAM authentication against the instance's, cluster's or proxy's own setting, a
 * secret given to a proxy that requires IAM, a malformed `resourceId`, a host given as a URL or with its port.
 */
import { CfnParameter, SecretValue } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam_ from 'aws-cdk-lib/aws-iam';
import * as rds from 'aws-cdk-lib/aws-rds';
import { DatabaseAuthentication, OrchestratorDatabase } from '../../../src';
import { newStack } from '../orchestrator-fixture';

function databases(iam: boolean, instanceIam: boolean | undefined = iam || undefined) {
  const stack = newStack();
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const instance = new rds.DatabaseInstance(stack, 'Warehouse', {
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
    vpc,
    iamAuthentication: instanceIam,
  });
  const cluster = new rds.DatabaseCluster(stack, 'Cluster', {
    engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
    writer: rds.ClusterInstance.serverlessV2('Writer'),
    vpc,
    iamAuthentication: iam || undefined,
  });
  const proxy = instance.addProxy('Proxy', { vpc, secrets: [instance.secret!], iamAuth: iam });
  return { stack, instance, cluster, proxy };
}

const iam = () => DatabaseAuthentication.fromIam('refresher');

describe('IAM authentication against the database the app defines', () => {
  test('an instance with iamAuthentication: false fails, naming the factory, the authentication, the instance and the fix', () => {
    const { instance } = databases(false, false);
    expect(() => OrchestratorDatabase.fromInstance(instance, { authentication: iam() })).toThrow(
      /^OrchestratorDatabase.fromInstance: `authentication` is DatabaseAuthentication.fromIam, but the instance Stack\/Warehouse has IAM database authentication off, so every login would fail: set `iamAuthentication: true` on the instance/,
    );
  });

  test('a cluster without iamAuthentication fails the same way', () => {
    const { cluster } = databases(false);
    expect(() => OrchestratorDatabase.fromCluster(cluster, { authentication: iam() })).toThrow(
      /^OrchestratorDatabase.fromCluster: `authentication` is DatabaseAuthentication.fromIam, but the cluster Stack\/Cluster has IAM database authentication off/,
    );
  });

  test('a proxy without iamAuth refuses IAM; a proxy with iamAuth refuses a secret and a password', () => {
    expect(() => OrchestratorDatabase.fromProxy(databases(false).proxy, { authentication: iam() })).toThrow(
      /^OrchestratorDatabase.fromProxy: `authentication` is DatabaseAuthentication.fromIam, but the proxy Stack\/Warehouse\/Proxy does not accept IAM authentication.*set `iamAuth: true` on the proxy/,
    );
    const { instance, proxy } = databases(true);
    expect(() => OrchestratorDatabase.fromProxy(proxy, { authentication: DatabaseAuthentication.fromSecret(instance.secret!) })).toThrow(
      /^OrchestratorDatabase.fromProxy: `authentication` is DatabaseAuthentication.fromSecret, but the proxy Stack\/Warehouse\/Proxy requires IAM authentication \(`iamAuth: true`\), so a password login would fail: use DatabaseAuthentication.fromIam\(username\)/,
    );
    expect(() => OrchestratorDatabase.fromProxy(proxy, { authentication: DatabaseAuthentication.fromPassword('refresher', SecretValue.unsafePlainText('x')) }))
      .toThrow(/is DatabaseAuthentication.fromPassword, but the proxy .* requires IAM authentication/);
  });

  test('an instance with iamAuthentication unset is accepted: its grantConnect turns IAM authentication on', () => {
    const { stack, instance } = databases(false);
    OrchestratorDatabase.fromInstance(instance, { authentication: iam() })._bind(new iam_.Role(stack, 'Compute', { assumedBy: new iam_.AccountRootPrincipal() }));
    Template.fromStack(stack).hasResourceProperties('AWS::RDS::DBInstance', { EnableIAMDatabaseAuthentication: true });
  });

  test('matching settings are accepted: IAM where it is on, a secret where the proxy takes passwords', () => {
    const on = databases(true);
    expect(() => OrchestratorDatabase.fromInstance(on.instance, { authentication: iam() })).not.toThrow();
    expect(() => OrchestratorDatabase.fromCluster(on.cluster, { authentication: iam() })).not.toThrow();
    expect(() => OrchestratorDatabase.fromProxy(on.proxy, { authentication: iam() })).not.toThrow();
    const off = databases(false);
    expect(() => OrchestratorDatabase.fromInstance(off.instance)).not.toThrow();
    const secret = DatabaseAuthentication.fromSecret(off.instance.secret!);
    expect(() => OrchestratorDatabase.fromProxy(off.proxy, { authentication: secret })).not.toThrow();
  });

  test('an imported instance is left to run time: its setting may change outside the app', () => {
    const stack = newStack();
    const instance = rds.DatabaseInstance.fromDatabaseInstanceAttributes(stack, 'Imported', {
      instanceIdentifier: 'warehouse', instanceEndpointAddress: 'warehouse.internal', port: 5432, securityGroups: [], instanceResourceId: 'db-ABCDEFGH',
    });
    expect(() => OrchestratorDatabase.fromInstance(instance, { authentication: iam() })).not.toThrow();
  });
});

describe('fromEndpoint', () => {
  const endpoint = (host: string, resourceId?: string) => () =>
    OrchestratorDatabase.fromEndpoint({ host, resourceId }, { authentication: resourceId ? iam() : DatabaseAuthentication.fromSecret({} as any) });

  test.each([
    ['postgres://warehouse.internal:5432/sales', /`host` must be a host name, not a URL, got "postgres:\/\/warehouse.internal:5432\/sales": pass only the host/],
    ['https://warehouse.internal', /`host` must be a host name, not a URL/],
    ['warehouse.internal/sales', /`host` must be a host name, not a URL/],
    ['warehouse.internal:6432', /`host` must be a host name without a port, got "warehouse.internal:6432": pass \{ host: "warehouse.internal", port: 6432 \}/],
    ['warehouse.internal:abc', /`host` must be a host name \(letters, digits, ".", "-" and "_"\) or an IP address, got "warehouse.internal:abc"/],
    ['refresher@warehouse.internal', /`host` must be a host name .*got "refresher@warehouse.internal": a user name goes in `authentication`, a port in `port`/],
    ['warehouse internal', /`host` must be a host name .*got "warehouse internal"/],
  ])('host %j fails, saying what to pass instead', (host, message) => {
    expect(endpoint(host)).toThrow(message);
  });

  test.each([
    ['warehouse'], ['arn:aws:rds:eu-west-1:123456789012:db:warehouse'], ['db_ABC'], ['DB-ABC'], ['prx-'],
  ])('resourceId %j fails, naming the three shapes', (resourceId) => {
    expect(endpoint('warehouse.internal', resourceId)).toThrow(
      /^OrchestratorDatabase.fromEndpoint: `resourceId` must be the resource ID IAM database authentication names: .*\("db-\.\.\."\).*\("cluster-\.\.\."\).*\("prx-\.\.\."\), not its name or ARN/,
    );
    expect(endpoint('warehouse.internal', resourceId)).toThrow(`got ${JSON.stringify(resourceId)}`);
  });

  test('well-formed values and tokens are accepted', () => {
    expect(endpoint('warehouse.abc123.eu-west-1.rds.amazonaws.com', 'db-ABCDEFGHIJKLMNOP')).not.toThrow();
    expect(endpoint('10.0.0.12', 'cluster-ABC123')).not.toThrow();
    expect(endpoint('::1')).not.toThrow();
    expect(endpoint('proxy.internal', 'prx-0123456789abcdef')).not.toThrow();
    const stack = newStack();
    const host = new CfnParameter(stack, 'Host').valueAsString;
    const id = new CfnParameter(stack, 'ResourceId').valueAsString;
    expect(endpoint(host, id)).not.toThrow();
  });
});
