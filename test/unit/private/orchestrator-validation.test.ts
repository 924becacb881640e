import { Duration, Lazy, SecretValue, Stack, TimeZone, Token } from 'aws-cdk-lib';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { DatabaseAuthentication, DatabaseTls, ItcOrchestrator, ItcOrchestratorProps, OrchestratorDatabase, Pipeline, RefreshCompute } from '../../../src';
import { minimalProps, newStack } from '../orchestrator-fixture';

function synthWith(overrides: Partial<ItcOrchestratorProps>) {
  const stack = newStack();
  return () => new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, overrides));
}

/** Nothing is added to the stack when the props are rejected. */
function expectRejected(overrides: Partial<ItcOrchestratorProps>, message: RegExp) {
  const stack = newStack();
  const props = minimalProps(stack, overrides);
  const before = stack.node.findAll().length;
  expect(() => new ItcOrchestrator(stack, 'Orchestrator', props)).toThrow(message);
  expect(stack.node.findAll().length).toBe(before + 1); // only the scope of the failed construct
  expect(stack.node.tryFindChild('Orchestrator')?.node.children ?? []).toEqual([]);
}

const arn = (name: string) => `arn:aws:lambda:eu-west-1:123456789012:function:${name}`;
const cron = (expression: string) => ({ expression: scheduler.ScheduleExpression.expression(expression, TimeZone.EUROPE_LONDON) });

describe('pipelines', () => {
  test('at least one is required', () => {
    expectRejected({ pipelines: [] }, /`pipelines` must hold at least one pipeline, got none/);
  });

  test('names must be unique', () => {
    expectRejected(
      { pipelines: [Pipeline.fromFunctionArn('Demand', arn('a')), Pipeline.fromFunctionArn('demand', arn('b'))] },
      /`pipelines` must have unique names.*"demand" twice/,
    );
  });

  test.each([
    ['', /Pipeline `name` must have 1 to 64 characters, got ""/],
    ['x'.repeat(65), /Pipeline `name` must have 1 to 64 characters.*\(65 characters\)/],
    ["Demand's", /Pipeline `name` may contain only.*got "Demand's"/],
    ['Demand {x}', /Pipeline `name` may contain only.*got "Demand \{x\}"/],
    [' Demand', /Pipeline `name` may contain only/],
  ])('a pipeline name %j is rejected', (name, message) => {
    expect(() => Pipeline.fromFunctionArn(name, arn('a'))).toThrow(message);
  });

  test('a pipeline name may not be a token', () => {
    expect(() => Pipeline.fromFunctionArn(Lazy.string({ produce: () => 'Demand' }), arn('a'))).toThrow(/`name` must be a literal string/);
  });

  test('names such as Verify+ and "Data 2.0" are accepted', () => {
    expect(Pipeline.fromFunctionArn('Verify+', arn('a')).name).toBe('Verify+');
    expect(Pipeline.fromFunctionArn('Data 2.0_x-y', arn('a')).name).toBe('Data 2.0_x-y');
  });

  test('a function ARN must be a Lambda function ARN', () => {
    expect(() => Pipeline.fromFunctionArn('Demand', 'arn:aws:s3:::bucket'))
      .toThrow(/Pipeline "Demand": `functionArn` must be a Lambda function ARN.*got "arn:aws:s3:::bucket"/);
  });

  test('a function ARN token is accepted as is', () => {
    expect(() => synthWith({ pipelines: [Pipeline.fromFunctionArn('Demand', Token.asString({ Ref: 'FunctionArn' }))] })()).not.toThrow();
  });
});

describe('the refresh function', () => {
  test.each([64, 127, 10241, 512.5])('memorySize %p is rejected', (memory) => {
    expectRejected({ refreshCompute: RefreshCompute.lambda({ memorySize: memory }) },
      new RegExp(`\`refreshCompute.memorySize\` must be a whole number of MiB from 128 to 10240, got ${memory}`));
  });

  test.each([
    [Duration.millis(500), '500 millis'],
    [Duration.minutes(16), '16 minutes'],
    [Duration.millis(1500), '1 second 500 millis'],
  ])('timeout %s is rejected', (timeout, shown) => {
    expectRejected({ refreshCompute: RefreshCompute.lambda({ timeout }) },
      new RegExp(`\`refreshCompute.timeout\` must be a whole number of seconds from 1 second to 15 minutes, got ${shown}`));
  });

  test('the limits themselves are accepted', () => {
    expect(synthWith({ refreshCompute: RefreshCompute.lambda({ memorySize: 10240, timeout: Duration.minutes(15) }) })).not.toThrow();
    expect(synthWith({ refreshCompute: RefreshCompute.lambda({ memorySize: 128, timeout: Duration.seconds(1) }) })).not.toThrow();
  });

  test('token memory sizes and timeouts are left to CloudFormation', () => {
    expect(synthWith({
      refreshCompute: RefreshCompute.lambda({ memorySize: Token.asNumber({ Ref: 'Memory' }), timeout: Duration.seconds(Token.asNumber({ Ref: 'Timeout' })) }),
    })).not.toThrow();
  });

  test('executionTimeout below one second is rejected', () => {
    expectRejected({ executionTimeout: Duration.millis(10) }, /`executionTimeout` must be a whole number of seconds, at least 1 second, got 10 millis/);
  });

  test('executionTimeout with a fraction of a second is rejected', () => {
    expectRejected({ executionTimeout: Duration.millis(1500) }, /`executionTimeout` must be a whole number of seconds, at least 1 second, got 1 second 500 millis/);
  });
});

describe('the database', () => {
  const secret = (stack: Stack) => secretsmanager.Secret.fromSecretCompleteArn(stack, `S${stack.node.children.length}`,
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:database-AbCdEf');
  const withSecret = (stack: Stack) => ({ authentication: DatabaseAuthentication.fromSecret(secret(stack)) });

  test.each([0, 65536, 5432.5])('fromEndpoint rejects port %p', (port) => {
    const stack = newStack();
    expect(() => OrchestratorDatabase.fromEndpoint({ host: 'db.internal', port }, withSecret(stack)))
      .toThrow(new RegExp(`OrchestratorDatabase.fromEndpoint: \`port\` must be a whole number from 1 to 65535, got ${port}`));
  });

  test.each([[''], ['  '], [undefined]])('fromEndpoint without a host (%p) is rejected', (host) => {
    const stack = newStack();
    expect(() => OrchestratorDatabase.fromEndpoint({ host: host as unknown as string }, withSecret(stack)))
      .toThrow(/OrchestratorDatabase.fromEndpoint: `host` must be the database's host name, got/);
  });

  test('an empty databaseName is rejected', () => {
    const stack = newStack();
    expect(() => OrchestratorDatabase.fromEndpoint({ host: 'db.internal' }, { ...withSecret(stack), databaseName: '' }))
      .toThrow(/`databaseName` must not be empty, got ""/);
  });

  test.each([[''], [' ']])('IAM authentication with the empty username %p is rejected', (username) => {
    expect(() => DatabaseAuthentication.fromIam(username)).toThrow(/DatabaseAuthentication.fromIam: `username` must not be empty/);
  });

  test.each([
    [DatabaseTls.REQUIRE, 'DatabaseTls.REQUIRE'],
    [DatabaseTls.DISABLE, 'DatabaseTls.DISABLE'],
  ])('IAM authentication without certificate verification (%s) is rejected, naming the prop, the value and the rule', (tls, shown) => {
    expect(() => OrchestratorDatabase.fromEndpoint(
      { host: 'db.internal', resourceId: 'db-ABCDEFGHIJKL' },
      { authentication: DatabaseAuthentication.fromIam('refresher'), tls },
    )).toThrow(new RegExp(
      `OrchestratorDatabase.fromEndpoint: \`tls\` must be DatabaseTls.VERIFY_FULL with DatabaseAuthentication.fromIam: IAM tokens are sent only to a verified server, got ${shown}`));
  });

  test('IAM authentication with full verification, given or by default, is accepted', () => {
    const endpoint = { host: 'db.internal', resourceId: 'db-ABCDEFGHIJKL' };
    expect(() => OrchestratorDatabase.fromEndpoint(endpoint, { authentication: DatabaseAuthentication.fromIam('refresher'), tls: DatabaseTls.VERIFY_FULL })).not.toThrow();
    expect(() => OrchestratorDatabase.fromEndpoint(endpoint, { authentication: DatabaseAuthentication.fromIam('refresher') })).not.toThrow();
  });

  test('IAM authentication with an endpoint needs its resource ID', () => {
    expect(() => OrchestratorDatabase.fromEndpoint({ host: 'db.internal' }, { authentication: DatabaseAuthentication.fromIam('refresher') }))
      .toThrow(/OrchestratorDatabase.fromEndpoint: `resourceId` is required with DatabaseAuthentication.fromIam/);
  });

  test('IAM authentication with an instance imported without its resource ID is rejected', () => {
    const stack = newStack();
    const instance = rds.DatabaseInstance.fromDatabaseInstanceAttributes(stack, 'Instance', {
      instanceIdentifier: 'warehouse', instanceEndpointAddress: 'warehouse.internal', port: 5432, securityGroups: [],
    });
    expect(() => OrchestratorDatabase.fromInstance(instance, { authentication: DatabaseAuthentication.fromIam('refresher') }))
      .toThrow(/OrchestratorDatabase.fromInstance: `instance` was imported without `instanceResourceId`/);
  });

  test('IAM authentication with a cluster imported without its resource ID is rejected', () => {
    const stack = newStack();
    const cluster = rds.DatabaseCluster.fromDatabaseClusterAttributes(stack, 'Cluster', {
      clusterIdentifier: 'warehouse', clusterEndpointAddress: 'warehouse.cluster.internal', port: 5432,
    });
    expect(() => OrchestratorDatabase.fromCluster(cluster, { authentication: DatabaseAuthentication.fromIam('refresher') }))
      .toThrow(/OrchestratorDatabase.fromCluster: `cluster` was imported without `clusterResourceIdentifier`/);
  });

  test('a cluster imported without its writer endpoint is rejected', () => {
    const stack = newStack();
    const cluster = rds.DatabaseCluster.fromDatabaseClusterAttributes(stack, 'Cluster', { clusterIdentifier: 'warehouse' });
    expect(() => OrchestratorDatabase.fromCluster(cluster, withSecret(stack)))
      .toThrow(/OrchestratorDatabase.fromCluster: `cluster` has no writer endpoint; import it with `clusterEndpointAddress` and `port`/);
  });

  test('a database without a generated secret needs an authentication', () => {
    const stack = newStack();
    const instance = rds.DatabaseInstance.fromDatabaseInstanceAttributes(stack, 'Instance', {
      instanceIdentifier: 'warehouse', instanceEndpointAddress: 'warehouse.internal', port: 5432, securityGroups: [],
    });
    expect(() => OrchestratorDatabase.fromInstance(instance)).toThrow(/OrchestratorDatabase.fromInstance: `authentication` is required/);
    expect(() => OrchestratorDatabase.fromProxy(rds.DatabaseProxy.fromDatabaseProxyAttributes(stack, 'Proxy', {
      dbProxyArn: 'arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-0123456789abcdef0', dbProxyName: 'warehouse', endpoint: 'proxy.internal', securityGroups: [],
    }))).toThrow(/OrchestratorDatabase.fromProxy: `authentication` is required/);
  });

  test('passwords reject an empty username', () => {
    const password = SecretValue.unsafePlainText('p');
    expect(() => DatabaseAuthentication.fromPassword('', password)).toThrow(/`username` must not be empty, got ""/);
    expect(() => DatabaseAuthentication.fromPassword('  ', password))
      .toThrow(/DatabaseAuthentication.fromPassword: `username` must not be empty, got " {2}"/);
  });
});

describe('refresh options', () => {
  test.each([
    [{ views: [] }, /`refresh.views` must name at least one entry when set, got an empty list/],
    [{ views: ['a', ' '] }, /`refresh.views` must not contain empty names/],
    [{ views: ['a', 'a'] }, /`refresh.views` must not name "a" twice/],
    [{ schemas: [] }, /`refresh.schemas` must name at least one entry/],
    [{ concurrency: 0 }, /`refresh.concurrency` must be a whole number from 1 to 64, got 0/],
    [{ concurrency: 65 }, /`refresh.concurrency` must be a whole number from 1 to 64, got 65/],
    [{ concurrency: 1.5 }, /`refresh.concurrency` must be a whole number from 1 to 64, got 1.5/],
    [{ maxAttempts: 0 }, /`refresh.maxAttempts` must be a whole number from 1 to 10, got 0/],
    [{ maxAttempts: 11 }, /`refresh.maxAttempts` must be a whole number from 1 to 10, got 11/],
    [{ viewLockTimeout: Duration.millis(0) }, /`refresh.viewLockTimeout` must be a whole number of milliseconds, at least 1 milli, got 0 millis/],
    [{ statementTimeout: Duration.millis(0.5) }, /`refresh.statementTimeout` must be a whole number of milliseconds/],
    [{ runLockWaitTimeout: Duration.minutes(15) }, /`refresh.runLockWaitTimeout` must be shorter than `refreshCompute.timeout` \(15 minutes\).*got 15 minutes/],
    [{ statementTimeout: Duration.minutes(20) }, /`refresh.statementTimeout` must be shorter than `refreshCompute.timeout`.*got 20 minutes/],
  ])('%j is rejected', (refresh, message) => {
    expectRejected({ refresh }, message);
  });

  test('the timeouts are compared with the configured function timeout', () => {
    expectRejected(
      { refreshCompute: RefreshCompute.lambda({ timeout: Duration.minutes(2) }), refresh: { runLockWaitTimeout: Duration.minutes(3) } },
      /`refresh.runLockWaitTimeout` must be shorter than `refreshCompute.timeout` \(2 minutes\)/,
    );
  });

  test('a zero run lock wait (never wait for another refresh run) is accepted', () => {
    expect(synthWith({ refresh: { runLockWaitTimeout: Duration.millis(0) } })).not.toThrow();
  });

  test('token names are left to the handler', () => {
    expect(synthWith({ refresh: { views: [Token.asString({ Ref: 'View' })] } })).not.toThrow();
  });
});

describe('the schedule', () => {
  test.each([
    ['cron(0 5 * * *)', /a cron expression has 6 fields.*got 5/],
    ['cron(0 5 * * * *)', /exactly one of day-of-month and day-of-week must be "\?"/],
    ['cron(0 5 ? * ? *)', /exactly one of day-of-month and day-of-week must be "\?"/],
    ['cron(60 5 * * ? *)', /the minutes field has an invalid value "60"/],
    ['cron(0 24 * * ? *)', /the hours field has an invalid value "24"/],
    ['cron(0 5 32 * ? *)', /the day-of-month field has an invalid value "32"/],
    ['cron(0 5 ? FOO MON *)', /the month field has an invalid value "FOO"/],
    ['cron(0 5 ? * MON#6 *)', /the day-of-week field has an invalid value "MON#6"/],
    ['cron(0 5 * * ? 1969)', /the year field has an invalid value "1969"/],
    ['cron(0/x 5 * * ? *)', /the minutes field has an invalid step in "0\/x"/],
    ['cron(0 5 L,15 * ? *)', /the day-of-month field cannot combine "L" with other values/],
    ['cron(0 1-2-3 * * ? *)', /the hours field has an invalid range "1-2-3"/],
    ['rate(0 minutes)', /a rate must be at least 1/],
    ['rate(5 weeks)', /a rate must be "<positive whole number> <minute\(s\)\|hour\(s\)\|day\(s\)>"/],
    ['rate(5 minute)', /a rate of 5 takes the plural unit: "5 minutes", not "5 minute"/],
    ['rate(2 day)', /a rate of 2 takes the plural unit: "2 days", not "2 day"/],
    ['rate(1 minutes)', /a rate of 1 takes the singular unit: "1 minute", not "1 minutes"/],
    ['rate(1 hours)', /a rate of 1 takes the singular unit: "1 hour", not "1 hours"/],
    ['every day', /expected rate\(<value> <unit>\), cron\(<6 fields>\) or at\(yyyy-mm-ddThh:mm:ss\)/],
  ])('%s is rejected', (expression, message) => {
    expectRejected({ schedule: cron(expression) }, new RegExp(`\`schedule.expression\` "${escape(expression)}" is invalid: ${message.source}`));
  });

  test.each([
    'cron(0 5 * * ? *)',
    'cron(15,45 8-18 ? * MON-FRI *)',
    'cron(0 3 L * ? *)',
    'cron(0 3 ? * 6#3 *)',
    'cron(0 */2 1W JAN,JUL ? 2026-2030)',
    'rate(1 hour)',
    'rate(1 minute)',
    'rate(5 minutes)',
    'rate(30 minutes)',
    'rate(1 day)',
    'at(2027-01-01T05:00:00)',
  ])('%s is accepted', (expression) => {
    expect(synthWith({ schedule: cron(expression) })).not.toThrow();
  });

  test.each([Duration.minutes(1), Duration.minutes(5), Duration.hours(1), Duration.days(2)])('a rate built by rate(%s) is accepted', (interval) => {
    expect(synthWith({ schedule: { expression: scheduler.ScheduleExpression.rate(interval) } })).not.toThrow();
  });

  test('a schedule expression built by cron() is accepted', () => {
    expect(synthWith({
      schedule: { expression: scheduler.ScheduleExpression.cron({ minute: '0', hour: '5', weekDay: 'MON-FRI', timeZone: TimeZone.AMERICA_NEW_YORK }) },
    })).not.toThrow();
  });

  test('a token expression is left to CloudFormation', () => {
    expect(synthWith({ schedule: { expression: scheduler.ScheduleExpression.expression(Token.asString({ Ref: 'Expression' })) } })).not.toThrow();
  });
});

describe('resourcePrefix', () => {
  test('a prefix too long for the schedule name is rejected', () => {
    const prefix = 'p'.repeat(56);
    expectRejected({ resourcePrefix: prefix },
      new RegExp(`\`resourcePrefix\` must have 1 to 55 characters, so that "<prefix>-schedule" fits the 64-character limit of schedule names, got "${prefix}" \\(56 characters\\)`));
  });

  test('the longest prefix is accepted', () => {
    expect(synthWith({ resourcePrefix: 'p'.repeat(55) })).not.toThrow();
  });

  test.each(['sales prod', 'sales/prod', '-sales', 'sales.prod'])('prefix %j with characters names cannot hold is rejected', (prefix) => {
    expectRejected({ resourcePrefix: prefix }, /`resourcePrefix` may contain only letters, digits, "-" and "_"/);
  });

  test('an empty prefix is rejected', () => {
    expectRejected({ resourcePrefix: '' }, /`resourcePrefix` must have 1 to 55 characters/);
  });

  test('a token prefix is left to CloudFormation', () => {
    expect(synthWith({ resourcePrefix: Token.asString({ Ref: 'Prefix' }) })).not.toThrow();
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
