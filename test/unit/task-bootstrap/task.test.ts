import { createHash } from 'node:crypto';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { RDS_SIGNER_FILE, REFRESH_TASK_FAILED, RefreshErrors, RefreshTaskEnv } from '../../../src/shared/contract';
import { runTask } from '../../../src/task-bootstrap/task';

const s3 = mockClient(S3Client);
const sfn = mockClient(SFNClient);

const ENV = {
  [RefreshTaskEnv.TASK_TOKEN]: 'token-1',
  [RefreshTaskEnv.BUNDLE_BUCKET]: 'assets',
  [RefreshTaskEnv.BUNDLE_KEY]: 'bundle.js',
  [RefreshTaskEnv.RUN_TIMEOUT_MS]: '60000',
  [RefreshTaskEnv.HEARTBEAT_INTERVAL_MS]: '60000',
  [RefreshTaskEnv.EVENT]: '{"views":["a.b"]}',
};

/** The SHA-256 of the code each test serves, which the construct would have read at synth. */
const served: { bundle?: string; signer?: string } = {};
const sha256 = (code: string) => createHash('sha256').update(code).digest('hex');

/** A GetObject response holding the code, with the body method the task reads; its digest goes into {@link withDigests}. */
function bundle(code: string, role: 'bundle' | 'signer' = 'bundle') {
  served[role] = sha256(code);
  return { Body: { transformToString: async () => code } } as never;
}

/** The environment with the digests of the code served, as the construct sets them, unless it names its own. */
function withDigests(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return {
    [RefreshTaskEnv.BUNDLE_SHA256]: served.bundle ?? '0'.repeat(64),
    ...(env[RefreshTaskEnv.SIGNER_KEY] ? { [RefreshTaskEnv.SIGNER_SHA256]: served.signer ?? '0'.repeat(64) } : {}),
    ...env,
  };
}

beforeEach(() => {
  delete served.bundle;
  delete served.signer;
  s3.reset();
  sfn.reset();
  sfn.on(SendTaskHeartbeatCommand).resolves({});
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
});

test('runs the bundle\'s handler with the event and a deadline from the run timeout, and sends its report', async () => {
  s3.on(GetObjectCommand, { Bucket: 'assets', Key: 'bundle.js' }).resolves(bundle(
    'exports.handler = async (event, context) => ({ event, remaining: context.getRemainingTimeInMillis() });'));

  const outcome = await runTask(withDigests(ENV), () => undefined);

  expect(outcome).toEqual({ succeeded: true });
  const [success] = sfn.commandCalls(SendTaskSuccessCommand);
  expect(success.args[0].input.taskToken).toBe('token-1');
  const output = JSON.parse(success.args[0].input.output!);
  expect(output.event).toEqual({ views: ['a.b'] });
  expect(output.remaining).toBeGreaterThan(55_000);
  expect(output.remaining).toBeLessThanOrEqual(60_000);
  // A heartbeat at once, before the work.
  expect(sfn.commandCalls(SendTaskHeartbeatCommand).map((call) => call.args[0].input)).toEqual([{ taskToken: 'token-1' }]);
  expect(sfn.commandCalls(SendTaskFailureCommand)).toEqual([]);
});

test('a handler error is sent with its name and the cause Lambda would report', async () => {
  s3.on(GetObjectCommand).resolves(bundle(
    "exports.handler = async () => { const e = new Error('2 of 3 views were not refreshed'); e.name = 'MaterializedViewRefreshFailed'; throw e; };"));

  const outcome = await runTask(withDigests(ENV), () => undefined);

  expect(outcome).toEqual({ succeeded: false });
  const [failure] = sfn.commandCalls(SendTaskFailureCommand);
  expect(failure.args[0].input.error).toBe('MaterializedViewRefreshFailed');
  expect(JSON.parse(failure.args[0].input.cause!)).toEqual({
    errorType: 'MaterializedViewRefreshFailed',
    errorMessage: '2 of 3 views were not refreshed',
    trace: expect.arrayContaining([expect.stringContaining('MaterializedViewRefreshFailed: 2 of 3 views were not refreshed')]),
  });
});

test('a bundle that cannot be fetched fails the task with RefreshTaskFailed naming the object', async () => {
  s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));

  await runTask(withDigests(ENV), () => undefined);

  const [failure] = sfn.commandCalls(SendTaskFailureCommand);
  expect(failure.args[0].input.error).toBe(REFRESH_TASK_FAILED);
  expect(JSON.parse(failure.args[0].input.cause!).errorMessage)
    .toBe('Could not fetch the refresh bundle s3://assets/bundle.js: NoSuchKey: The specified key does not exist.');
});

describe('with IAM authentication', () => {
  const IAM_ENV = { ...ENV, [RefreshTaskEnv.SIGNER_BUCKET]: 'signer-assets', [RefreshTaskEnv.SIGNER_KEY]: 'signer.js' };

  test('fetches the RDS signer too and puts it beside the bundle, where the bundle loads it', async () => {
    s3.on(GetObjectCommand, { Bucket: 'assets', Key: 'bundle.js' }).resolves(bundle(
      `exports.handler = async () => ({ signer: require('./${RDS_SIGNER_FILE}').name });`));
    s3.on(GetObjectCommand, { Bucket: 'signer-assets', Key: 'signer.js' }).resolves(bundle("exports.name = 'the signer';", 'signer'));

    const outcome = await runTask(withDigests(IAM_ENV), () => undefined);

    expect(outcome).toEqual({ succeeded: true });
    const [success] = sfn.commandCalls(SendTaskSuccessCommand);
    expect(JSON.parse(success.args[0].input.output!)).toEqual({ signer: 'the signer' });
    expect(s3.commandCalls(GetObjectCommand).map((call) => call.args[0].input).sort((a, b) => a.Key!.localeCompare(b.Key!)))
      .toEqual([{ Bucket: 'assets', Key: 'bundle.js' }, { Bucket: 'signer-assets', Key: 'signer.js' }]);
  });

  test('a signer that cannot be fetched fails the task with RefreshTaskFailed naming the object', async () => {
    s3.on(GetObjectCommand, { Bucket: 'assets', Key: 'bundle.js' }).resolves(bundle('exports.handler = async () => ({});'));
    s3.on(GetObjectCommand, { Bucket: 'signer-assets', Key: 'signer.js' }).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));

    const outcome = await runTask(withDigests(IAM_ENV), () => undefined);

    expect(outcome).toEqual({ succeeded: false });
    const [failure] = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure.args[0].input.error).toBe(REFRESH_TASK_FAILED);
    expect(JSON.parse(failure.args[0].input.cause!).errorMessage)
      .toBe('Could not fetch the RDS signer s3://signer-assets/signer.js: NoSuchKey: The specified key does not exist.');
  });

  test(`a signer key without its bucket fails the task with RefreshTaskFailed naming ${RefreshTaskEnv.SIGNER_BUCKET}`, async () => {
    await runTask(withDigests({ ...IAM_ENV, [RefreshTaskEnv.SIGNER_BUCKET]: '' }), () => undefined);

    const [failure] = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure.args[0].input.error).toBe(REFRESH_TASK_FAILED);
    expect(JSON.parse(failure.args[0].input.cause!).errorMessage).toBe(`The environment variable ${RefreshTaskEnv.SIGNER_BUCKET} must be set`);
    expect(s3.commandCalls(GetObjectCommand)).toEqual([]);
  });
});

test('without IAM authentication only the bundle is fetched', async () => {
  s3.on(GetObjectCommand).resolves(bundle('exports.handler = async () => ({});'));

  await runTask(withDigests(ENV), () => undefined);

  expect(s3.commandCalls(GetObjectCommand).map((call) => call.args[0].input)).toEqual([{ Bucket: 'assets', Key: 'bundle.js' }]);
});

test.each([RefreshTaskEnv.RUN_TIMEOUT_MS, RefreshTaskEnv.HEARTBEAT_INTERVAL_MS])('a bad %s fails the task with RefreshTaskFailed naming it', async (name) => {
  await runTask(withDigests({ ...ENV, [name]: '4h' }), () => undefined);

  const [failure] = sfn.commandCalls(SendTaskFailureCommand);
  expect(failure.args[0].input.error).toBe(REFRESH_TASK_FAILED);
  expect(JSON.parse(failure.args[0].input.cause!).errorMessage).toContain(`Invalid environment variable ${name}="4h"`);
  expect(s3.commandCalls(GetObjectCommand)).toEqual([]);
});

test(`an ${RefreshTaskEnv.EVENT} that is not JSON fails the task with the handler's ${RefreshErrors.INVALID_REQUEST}, naming it, and runs nothing`, async () => {
  await runTask(withDigests({ ...ENV, [RefreshTaskEnv.EVENT]: '{"tables": ["a.b"' }), () => undefined);

  const [failure] = sfn.commandCalls(SendTaskFailureCommand);
  expect(failure.args[0].input.error).toBe(RefreshErrors.INVALID_REQUEST);
  expect(JSON.parse(failure.args[0].input.cause!)).toMatchObject({
    errorType: RefreshErrors.INVALID_REQUEST,
    errorMessage: expect.stringMatching(/^Nothing was refreshed: invalid environment variable ITC_REFRESH_EVENT="\{\\"tables\\": \[\\"a\.b\\"": expected the refresh event as JSON/),
  });
  expect(s3.commandCalls(GetObjectCommand)).toEqual([]);
  expect(sfn.commandCalls(SendTaskSuccessCommand)).toEqual([]);
});

test(`the event is passed to the handler as it is in ${RefreshTaskEnv.EVENT}; without it the handler gets {} as the function would`, async () => {
  s3.on(GetObjectCommand).resolves(bundle('exports.handler = async (event) => ({ event });'));
  const event = { tables: ['"Sales"."Orders ""2026"""', 'a\\b'] };

  await runTask(withDigests({ ...ENV, [RefreshTaskEnv.EVENT]: JSON.stringify(event) }), () => undefined);
  await runTask(withDigests({ ...ENV, [RefreshTaskEnv.EVENT]: undefined }), () => undefined);

  expect(sfn.commandCalls(SendTaskSuccessCommand).map((call) => JSON.parse(call.args[0].input.output!))).toEqual([{ event }, { event: {} }]);
});

describe('the code the task runs', () => {
  const ran = () => (globalThis as { itcReplacedCodeRan?: boolean }).itcReplacedCodeRan === true;
  const replaced = 'globalThis.itcReplacedCodeRan = true; exports.handler = async () => ({ dropped: true });';
  afterEach(() => delete (globalThis as { itcReplacedCodeRan?: boolean }).itcReplacedCodeRan);

  test('a bundle whose SHA-256 differs from the one known at synth is refused with RefreshTaskFailed, and none of it runs', async () => {
    s3.on(GetObjectCommand).resolves(bundle(replaced));

    const outcome = await runTask({ ...ENV, [RefreshTaskEnv.BUNDLE_SHA256]: sha256('exports.handler = async () => ({});') }, () => undefined);

    expect(outcome).toEqual({ succeeded: false });
    expect(ran()).toBe(false);
    const [failure] = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure.args[0].input.error).toBe(REFRESH_TASK_FAILED);
    expect(JSON.parse(failure.args[0].input.cause!).errorMessage)
      .toMatch(/^Refusing to run the refresh bundle s3:\/\/assets\/bundle\.js: its SHA-256 is [0-9a-f]{64}, not the [0-9a-f]{64} it had/);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toEqual([]);
  });

  test('a replaced RDS signer is refused the same way, before the bundle runs', async () => {
    const IAM_ENV = { ...ENV, [RefreshTaskEnv.SIGNER_BUCKET]: 'signer-assets', [RefreshTaskEnv.SIGNER_KEY]: 'signer.js' };
    s3.on(GetObjectCommand, { Bucket: 'assets', Key: 'bundle.js' }).resolves(bundle('exports.handler = async () => { globalThis.itcReplacedCodeRan = true; return {}; };'));
    s3.on(GetObjectCommand, { Bucket: 'signer-assets', Key: 'signer.js' }).resolves(bundle(replaced, 'signer'));

    const outcome = await runTask(withDigests({ ...IAM_ENV, [RefreshTaskEnv.SIGNER_SHA256]: sha256("exports.name = 'the signer';") }), () => undefined);

    expect(outcome).toEqual({ succeeded: false });
    expect(ran()).toBe(false);
    const [failure] = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure.args[0].input.error).toBe(REFRESH_TASK_FAILED);
    expect(JSON.parse(failure.args[0].input.cause!).errorMessage).toMatch(/^Refusing to run the RDS signer s3:\/\/signer-assets\/signer\.js/);
  });

  test(`without ${RefreshTaskEnv.BUNDLE_SHA256} nothing is fetched or run`, async () => {
    s3.on(GetObjectCommand).resolves(bundle(replaced));

    await runTask(ENV, () => undefined);

    const [failure] = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure.args[0].input.error).toBe(REFRESH_TASK_FAILED);
    expect(JSON.parse(failure.args[0].input.cause!).errorMessage).toBe(`The environment variable ${RefreshTaskEnv.BUNDLE_SHA256} must be set`);
    expect(s3.commandCalls(GetObjectCommand)).toEqual([]);
  });

  test('a fetch that stalls fails with RefreshTaskFailed at its deadline', async () => {
    s3.on(GetObjectCommand).callsFake(() => new Promise(() => undefined));
    const started = Date.now();

    const outcome = await runTask(withDigests({ ...ENV, [RefreshTaskEnv.FETCH_TIMEOUT_MS]: '300' }), () => undefined);

    expect(outcome).toEqual({ succeeded: false });
    expect(Date.now() - started).toBeLessThan(3_000);
    const [failure] = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure.args[0].input.error).toBe(REFRESH_TASK_FAILED);
    expect(JSON.parse(failure.args[0].input.cause!).errorMessage).toBe('Could not fetch the refresh bundle s3://assets/bundle.js: no complete answer within 300 ms');
  });
});
