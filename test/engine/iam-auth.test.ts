import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Client, ClientConfig } from 'pg';
import { CERTIFICATES, IamExpectation, PostgresTlsProxy, PROXY_ROOT_CA } from './postgres-tls-proxy';
import { createTestDatabase } from './support/database';
import { CANARY_SQL, Invocation, armCanary, expectCanaryUnchanged, invoke } from './support/refresh';
import { AwsStandIn, LOCAL_TASK_ROLE, LocalEcs, TaskTokens } from '../../local/ecs';
import { readFileAssets } from '../../local/example-stack';
import { BundleProcesses, REFRESH_BUNDLE } from '../../local/lambda';
import { connect, runSql } from '../../local/pg';
import { CloudFormationTemplate, LOCAL_ACCOUNT, TemplateResolver } from '../../local/template';
import { DatabaseAuthentication, ItcOrchestrator, OrchestratorDatabase, Pipeline, RefreshCompute } from '../../src';
import { runLockKey } from '../../src/engine/run-lock';
import { OverlapPolicy, RefreshEnv, RefreshErrors, RefreshReport, RefreshTaskEnv } from '../../src/shared/contract';

// Fake static credentials, as Lambda puts the execution role's in the environment; the stand-in checks the
// signature with them. Debug logs too must never carry a token.
const credentials = {
  accessKeyId: 'AKIAITCORCHESTRATOR1',
  secretAccessKey: `fake-${randomBytes(12).toString('hex')}`,
  sessionToken: `session-${randomBytes(12).toString('hex')}`,
};
Object.assign(process.env, {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_SESSION_TOKEN: credentials.sessionToken,
  POWERTOOLS_LOG_LEVEL: 'DEBUG',
});

/**
 * IAM database authentication through the bundled handler. The embedded server cannot check IAM tokens, so a TLS
 * stand-in in front of it plays RDS's part: it asks for a cleartext password, checks the token (endpoint, user,
 * `Action=connect`, the SigV4 signature with the fake credentials, expiry) and only then logs in to the server with
 * the user's real password.
 */
describe('IAM database authentication', () => {
  let db: ClientConfig;
  let proxy: PostgresTlsProxy;
  const user = `iam_refresher_${randomBytes(3).toString('hex')}`;
  const password = `Pw-${randomBytes(8).toString('hex')}`;
  const invocations: Invocation[] = [];

  const expectation = (): IamExpectation => ({
    host: '127.0.0.1',
    port: () => proxy.port,
    user,
    region: 'eu-west-1',
    ...credentials,
    password,
  });

  function iamEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      [RefreshEnv.IAM_USER]: user,
      [RefreshEnv.DB_HOST]: '127.0.0.1',
      [RefreshEnv.DB_PORT]: String(proxy.port),
      [RefreshEnv.DB_NAME]: String(db.database),
      // The stand-in's root, standing in for the Amazon Trust Services root of a real RDS Proxy certificate.
      NODE_EXTRA_CA_CERTS: PROXY_ROOT_CA,
      ...extra,
    };
  }

  async function run(event: unknown, env: Record<string, string>): Promise<Invocation> {
    const invocation = await invoke(event, env);
    invocations.push(invocation);
    return invocation;
  }

  beforeAll(async () => {
    db = await createTestDatabase('refresh_iam');
    // The user owns the views it refreshes, as the README asks of an IAM user.
    await runSql(db, `
      CREATE ROLE ${user} LOGIN PASSWORD '${password}';
      GRANT ALL ON SCHEMA public TO ${user};
      SET ROLE ${user};
      ${CANARY_SQL}
      CREATE MATERIALIZED VIEW whoami AS SELECT session_user::text AS who;
      CREATE MATERIALIZED VIEW later AS SELECT now() AS at;
      RESET ROLE;
    `);
    proxy = await PostgresTlsProxy.start(db, CERTIFICATES.proxyStyle, expectation());
  });

  afterAll(async () => {
    await proxy.stop();
    await runSql(db, `DROP OWNED BY ${user}; DROP ROLE IF EXISTS ${user}`).catch(() => undefined);
  });

  test('the handler signs a token for the endpoint and user and sends it as the password; the views are refreshed', async () => {
    const received = proxy.tokens.length;
    const before = await armCanary(db);

    const { report, error } = await run({ views: ['canary', 'whoami'] }, iamEnv());

    expect(error).toBeUndefined();
    expect(report!.totals).toEqual({ selected: 2, refreshed: 2, failed: 0, skipped: 0 });
    expect(await runSql(db, 'SELECT n FROM canary')).toEqual([{ n: before + 1 }]);
    expect(await runSql(db, 'SELECT who FROM whoami')).toEqual([{ who: user }]);
    // The run lock's connection and the refresh connections: each presented a token the stand-in accepted.
    const tokens = proxy.tokens.slice(received);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    expect(tokens.map((token) => token.problems)).toEqual(tokens.map(() => []));
    expect(proxy.secureSessions).toBeGreaterThanOrEqual(tokens.length);
  });

  test('the asset alone signs the token: copied where no node_modules holds the RDS signer, as Lambda unpacks it, it loads the signer it ships', async () => {
    const task = mkdtempSync(join(tmpdir(), 'itc-lambda-task-'));
    try {
      cpSync(dirname(REFRESH_BUNDLE), task, { recursive: true });
      const entry = join(task, 'index.js');
      // Only what the Lambda runtime sets: the function's variables and the role's credentials, no NODE_PATH.
      const environment = {
        ...iamEnv(),
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_SESSION_TOKEN: credentials.sessionToken,
      };
      const resolve = spawnSync(process.execPath, ['-e', "require('node:module').createRequire(process.argv[1]).resolve('@aws-sdk/rds-signer')", entry], {
        env: environment,
        encoding: 'utf8',
      });
      expect(resolve.stderr).toContain("Cannot find module '@aws-sdk/rds-signer'");
      const received = proxy.tokens.length;

      const { invocations: [{ outcome }] } = await new BundleProcesses().run({
        bundle: entry,
        environment,
        event: { views: ['whoami'] },
        region: 'eu-west-1',
      });

      // On failure the diff shows the handler's error.
      const totals = { selected: 1, refreshed: 1, failed: 0, skipped: 0 };
      expect(outcome).toEqual({ ok: true, result: expect.objectContaining<Partial<RefreshReport>>({ totals }) });
      const tokens = proxy.tokens.slice(received);
      expect(tokens.length).toBeGreaterThanOrEqual(2);
      expect(tokens.map((token) => token.problems)).toEqual(tokens.map(() => []));
    } finally {
      rmSync(task, { recursive: true, force: true });
    }
  });

  test('on Fargate the task fetches the RDS signer beside the bundle: on an image whose AWS SDK lacks it, the task signs its tokens', async () => {
    // The image's AWS SDK directory (NODE_PATH) with the clients the task uses, and no RDS signer.
    const work = mkdtempSync(join(tmpdir(), 'itc-iam-fargate-'));
    const imageSdk = join(work, 'image-sdk');
    mkdirSync(join(imageSdk, '@aws-sdk'), { recursive: true });
    for (const client of ['client-s3', 'client-sfn']) {
      symlinkSync(join(__dirname, '..', '..', 'node_modules', '@aws-sdk', client), join(imageSdk, '@aws-sdk', client), 'dir');
    }
    const resolve = spawnSync(process.execPath, ['-e', "require.resolve('@aws-sdk/client-sfn'); require.resolve('@aws-sdk/rds-signer')"], {
      cwd: work,
      env: { NODE_PATH: imageSdk },
      encoding: 'utf8',
    });
    expect(resolve.stderr).toContain("Cannot find module '@aws-sdk/rds-signer'");
    // The task signs with the task role's credentials.
    const taskRoleExpectation = { ...expectation(), port: () => taskProxy.port, ...LOCAL_TASK_ROLE };
    const taskProxy: PostgresTlsProxy = await PostgresTlsProxy.start(db, CERTIFICATES.proxyStyle, taskRoleExpectation);
    const tokens = new TaskTokens();
    const standIn = new AwsStandIn(tokens);
    let ecs: LocalEcs | undefined;
    try {
      const app = new App({ outdir: join(work, 'cdk.out') });
      const stack = new Stack(app, 'IamFargate');
      const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
      const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', {
        vpc,
        database: OrchestratorDatabase.fromEndpoint({ host: '127.0.0.1', port: taskProxy.port, resourceId: 'db-LOCALIAMFARGATE' }, {
          databaseName: String(db.database),
          authentication: DatabaseAuthentication.fromIam(user),
        }),
        pipelines: [Pipeline.fromFunctionArn('Demand', `arn:aws:lambda:${LOCAL_ACCOUNT.region}:${LOCAL_ACCOUNT.accountId}:function:demand`)],
        refresh: { views: ['whoami'] },
        refreshCompute: RefreshCompute.fargate(),
      });
      const template = Template.fromStack(stack).toJSON() as CloudFormationTemplate;
      const resolver = new TemplateResolver(template, stack.stackName);
      const taskDefinition = resolver.taskDefinition(stack.getLogicalId(orchestrator.refreshTaskDefinition!.node.defaultChild as CfnElement));
      expect(taskDefinition.containers[0].environment).toHaveProperty(RefreshTaskEnv.SIGNER_KEY);
      for (const asset of readFileAssets(app.outdir, stack.stackName)) {
        const bucket = asset.bucketName.replace('${AWS::AccountId}', LOCAL_ACCOUNT.accountId).replace('${AWS::Region}', LOCAL_ACCOUNT.region);
        standIn.putObject(bucket, asset.objectKey, asset.content);
      }
      ecs = new LocalEcs({ taskDefinitions: [taskDefinition], standIn, region: 'eu-west-1', pathMappings: { '/var/runtime/node_modules': imageSdk } });
      const { token, answer } = tokens.issue();

      await ecs.runTask({
        TaskDefinition: taskDefinition.arn,
        Overrides: {
          ContainerOverrides: [{
            Name: taskDefinition.containers[0].name,
            // The stand-in's root, standing in for the Amazon Trust Services root of a real RDS Proxy certificate.
            Environment: [{ Name: RefreshTaskEnv.TASK_TOKEN, Value: token }, { Name: 'NODE_EXTRA_CA_CERTS', Value: PROXY_ROOT_CA }],
          }],
        },
      });

      const totals = { selected: 1, refreshed: 1, failed: 0, skipped: 0 };
      expect(await answer).toEqual({ ok: true, output: expect.objectContaining<Partial<RefreshReport>>({ totals }) });
      expect(taskProxy.tokens.length).toBeGreaterThanOrEqual(2);
      expect(taskProxy.tokens.map((received) => received.problems)).toEqual(taskProxy.tokens.map(() => []));
    } finally {
      await ecs?.close();
      await standIn.stop();
      await taskProxy.stop();
      rmSync(work, { recursive: true, force: true });
    }
  });

  test('each new connection gets a token signed when it opens: pool connections opened after a wait carry a later token', async () => {
    const received = proxy.tokens.length;
    // Another run holds the lock for 2.5 s; this run connects, waits for it, then opens its refresh connections.
    const holder: Client = await connect(db);
    const [{ oid }] = (await holder.query("SELECT 'later'::regclass::oid AS oid")).rows;
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [runLockKey([Number(oid)])]);
    const released = new Promise<void>((resolve) => setTimeout(() => {
      void holder.end().finally(resolve);
    }, 2_500));

    const { report, error } = await run({ views: ['later'] }, iamEnv({ [RefreshEnv.OVERLAP_POLICY]: OverlapPolicy.WAIT }));
    await released;

    expect(error).toBeUndefined();
    expect(report!.lock).toBe('acquired-after-wait');
    const tokens = proxy.tokens.slice(received);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    expect(tokens.flatMap((token) => token.problems)).toEqual([]);
    const [first, ...later] = tokens;
    for (const token of later) {
      // Signed at least 2 s after the run's first token (X-Amz-Date has whole seconds), so not reused from it.
      expect(token.signedAt!.getTime() - first.signedAt!.getTime()).toBeGreaterThanOrEqual(2_000);
      expect(token.token).not.toBe(first.token);
    }
  });

  test('a token the server rejects fails the run with the connection error, which says what IAM authentication needs', async () => {
    const before = await armCanary(db);
    const received = proxy.tokens.length;

    // Signed for another user than the one the stand-in expects: as RDS answers a user without rds_iam.
    const { report, error } = await run({ views: ['canary'] }, iamEnv({ [RefreshEnv.IAM_USER]: 'someone_else' }));

    expect(report).toBeUndefined();
    expect(error?.name).toBe(RefreshErrors.CONNECTION_FAILED);
    expect(error?.message).toMatch(/^Could not connect to PostgreSQL as someone_else@127\.0\.0\.1:\d+\/\S+ \(iam\): the server rejected the IAM authentication token \(.*rds_iam.*rds-db:connect.*\): 28P01 PAM authentication failed/);
    expect(proxy.tokens.slice(received).map((token) => token.problems)).toEqual([[expect.stringMatching(/^DBUser is "someone_else"/)]]);
    await expectCanaryUnchanged(db, before);
  });

  test('the token is never sent to a server whose certificate does not verify', async () => {
    const rogue = await PostgresTlsProxy.start(db, CERTIFICATES.rogueProxyStyle, expectation());
    try {
      const { error } = await run({ views: ['canary'] }, iamEnv({ [RefreshEnv.DB_PORT]: String(rogue.port) }));

      expect(error?.name).toBe(RefreshErrors.CONNECTION_FAILED);
      expect(error?.message).toMatch(/the connection failed: .*unable to get local issuer certificate/);
      expect(rogue.secureSessions).toBe(0);
      expect(rogue.tokens).toEqual([]);
    } finally {
      await rogue.stop();
    }
  });

  test.each([
    ['together with a secret', { [RefreshEnv.SECRET_ARN]: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf' }, /ITC_DB_IAM_USER and ITC_DB_SECRET_ARN are both set/],
    ['without a host', { [RefreshEnv.DB_HOST]: '' }, /ITC_DB_IAM_USER is set but ITC_DB_HOST is not/],
    ['with TLS that does not verify', { [RefreshEnv.TLS_MODE]: 'require' }, /ITC_DB_TLS_MODE must be verify-full, got "require"/],
  ])('is refused %s, before any connection', async (_case, extra, message) => {
    const received = proxy.tokens.length;
    const sessions = proxy.secureSessions;

    const { error } = await run({ views: ['canary'] }, iamEnv(extra));

    expect(error?.name).toBe(RefreshErrors.INVALID_REQUEST);
    expect(error?.message).toMatch(message);
    expect(proxy.tokens.length).toBe(received);
    expect(proxy.secureSessions).toBe(sessions);
  });

  test('no token, signature or secret key ever appears in logs, errors or reports', () => {
    const signatures = proxy.tokens.map((token) => new URLSearchParams(token.token.split('?')[1]).get('X-Amz-Signature')!);
    expect(signatures.length).toBeGreaterThan(3);
    const everything = invocations.map((invocation) => [
      invocation.output,
      invocation.error ? `${invocation.error.name} ${invocation.error.message} ${invocation.error.stack}` : '',
      JSON.stringify(invocation.report ?? {}),
    ].join('\n')).join('\n');
    // The logs were captured: the planned runs logged their plans.
    expect(everything).toContain('Refresh run planned');
    const secrets = [...proxy.tokens.map((token) => token.token), ...signatures, credentials.secretAccessKey, credentials.sessionToken, password];
    for (const secret of secrets) {
      expect(everything).not.toContain(secret);
    }
  });
});
