import '../../../local/promise-polyfill';
import { createRequire } from 'node:module';
import type * as Interpreter from 'aws-local-stepfunctions' with { 'resolution-mode': 'import' };
import { orchestratorFixture, stateMachineDefinition } from '../orchestrator-fixture';

// The package ships a CommonJS build, but declares its types as an ES module only.
const { StateMachine } = createRequire(__filename)('aws-local-stepfunctions') as typeof Interpreter;
type ExecutionInput = Parameters<Interpreter.StateMachine['run']>[0];

// Validating a definition takes the interpreter a few hundred milliseconds; each definition is validated once, and
// its machine runs every execution of the file (each run is independent).
const machines = new Map<unknown, Interpreter.StateMachine>();
function machineFor(definition: unknown): Interpreter.StateMachine {
  let machine = machines.get(definition);
  if (!machine) {
    machine = new StateMachine(definition as any, { validationOptions: { checkArn: false, checkPaths: false } });
    machines.set(definition, machine);
  }
  return machine;
}

/**
 * Runs the synthesized definition's control flow with every task replaced by a stub, keyed by
 * state name: the overlap guard, the parallel pipelines and the failure handling.
 */
const definition = stateMachineDefinition(orchestratorFixture().template);
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:orchestrator';
const execution = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:orchestrator:${name}`;
const REPORT = { status: 'succeeded', views: [] };

/** A running execution as ListExecutions lists it. */
interface Listed {
  readonly arn: string;
  readonly startDate: string;
}

/**
 * An execution that started `minutes` before the run under test; negative means after it. The
 * interpreter sets the run's own `$$.Execution.StartTime` to the moment it starts.
 */
const listed = (name: string, minutes: number): Listed =>
  ({ arn: execution(name), startDate: new Date(Date.now() - minutes * 60_000).toISOString() });

interface RunOptions {
  readonly self: string;
  /** What ListExecutions returns: running executions, newest first. */
  readonly running: Listed[];
  readonly failing?: string[];
  /** Pipelines that take this many milliseconds before they return or fail. */
  readonly workMs?: Record<string, number>;
  readonly input?: ExecutionInput;
}

async function run(options: RunOptions) {
  const calls: Array<{ state: string; input: unknown }> = [];
  const finished: string[] = [];
  const stub = (state: string, result: (input: ExecutionInput) => ExecutionInput | Promise<ExecutionInput>) =>
    async (input: ExecutionInput) => {
      calls.push({ state, input });
      return result(input);
    };
  const pipeline = (name: string) => stub(`Run pipeline ${name}`, async () => {
    await new Promise((resolve) => setTimeout(resolve, options.workMs?.[name] ?? 0));
    finished.push(name);
    if (options.failing?.includes(name)) {
      const error = new Error(`${name} could not load its source`);
      error.name = 'SourceUnavailable';
      throw error;
    }
    return { Payload: { loaded: name } };
  });
  const machine = machineFor(definition);
  const started = machine.run(options.input ?? { day: '2026-11-25' }, {
    context: { StateMachine: { Id: MACHINE }, Execution: { Id: options.self } } as any,
    overrides: {
      taskResourceLocalHandlers: {
        'List running executions': stub('List running executions', () => ({
          Executions: options.running.map(({ arn, startDate }) =>
            ({ ExecutionArn: arn, StateMachineArn: MACHINE, StartDate: startDate, Status: 'RUNNING' })),
        })),
        'Run pipeline Demand': pipeline('Demand'),
        'Run pipeline VerifyPlus': pipeline('VerifyPlus'),
        'Refresh materialized views': stub('Refresh materialized views', () => ({ Payload: REPORT })),
      },
    },
  });
  try {
    return { output: await started.result, calls, finishedBeforeTheRunEnded: [...finished] };
  } catch (error: any) {
    return { error: error.cause ?? error, calls, finishedBeforeTheRunEnded: [...finished] };
  }
}

const states = (calls: Array<{ state: string }>) => calls.map((call) => call.state).sort();

describe('the overlap guard', () => {
  test('of two executions that started together and see each other, exactly the older one goes on', async () => {
    const running = [listed('b', 1), listed('a', 1)];
    const [a, b] = await Promise.all([run({ self: execution('a'), running }), run({ self: execution('b'), running })]);
    expect(a.output).toEqual(REPORT);
    expect(b.output).toEqual({
      status: 'skipped',
      reason: 'An earlier execution of this state machine is still running',
      runningExecutionArn: execution('a'),
    });
    expect(states(b.calls)).toEqual(['List running executions']);
  });

  test('an execution that sees only itself goes on', async () => {
    const { output, calls } = await run({ self: execution('a'), running: [listed('a', 0)] });
    expect(output).toEqual(REPORT);
    expect(states(calls)).toEqual(['List running executions', 'Refresh materialized views', 'Run pipeline Demand', 'Run pipeline VerifyPlus']);
  });

  test('an execution that does not see itself yet goes on when no other execution is listed', async () => {
    const { output } = await run({ self: execution('a'), running: [] });
    expect(output).toEqual(REPORT);
  });

  test('an execution that does not see itself yet is skipped when an earlier execution is listed', async () => {
    const { output } = await run({ self: execution('b'), running: [listed('a', 1)] });
    expect(output).toMatchObject({ status: 'skipped', runningExecutionArn: execution('a') });
  });

  test('a newer execution does not stop an older one', async () => {
    const { output } = await run({ self: execution('a'), running: [listed('c', -2), listed('b', -1), listed('a', 0)] });
    expect(output).toEqual(REPORT);
  });

  test('an older execution that sees only a newer one, not itself yet, goes on while the newer one is skipped', async () => {
    const [a, b] = await Promise.all([
      run({ self: execution('a'), running: [listed('b', -1)] }),
      run({ self: execution('b'), running: [listed('b', 0), listed('a', 1)] }),
    ]);
    expect(a.output).toEqual(REPORT);
    expect(b.output).toMatchObject({ status: 'skipped', runningExecutionArn: execution('a') });
  });
});

describe('the pipelines', () => {
  test('each receives the execution input, not the guard findings', async () => {
    const input = { day: '2026-11-25', sources: ['erp', 'crm'] };
    const { calls } = await run({ self: execution('a'), running: [listed('a', 0)], input });
    const pipelineInputs = calls.filter((call) => call.state.startsWith('Run pipeline')).map((call) => call.input);
    expect(pipelineInputs).toEqual([
      { FunctionName: expect.stringMatching(/Demand/), Payload: input },
      { FunctionName: 'arn:aws:lambda:eu-west-1:123456789012:function:verify-plus', Payload: input },
    ]);
  });

  test('a failed pipeline lets the others finish, skips the refresh and fails the execution naming it', async () => {
    const { error, calls } = await run({ self: execution('a'), running: [listed('a', 0)], failing: ['VerifyPlus'] });
    expect(states(calls)).toEqual(['List running executions', 'Run pipeline Demand', 'Run pipeline VerifyPlus']);
    expect(error.name).toBe('PipelineFailed');
    expect(error.message).toBe('[VerifyPlus failed with SourceUnavailable: VerifyPlus could not load its source]');
  });

  test('a failed pipeline does not cut the others short: the execution ends after the slowest branch', async () => {
    const { error, finishedBeforeTheRunEnded } = await run({
      self: execution('a'), running: [listed('a', 0)], failing: ['VerifyPlus'], workMs: { Demand: 300 },
    });
    expect(error.name).toBe('PipelineFailed');
    expect(finishedBeforeTheRunEnded).toEqual(['VerifyPlus', 'Demand']);
  });

  test('when several pipelines fail, the cause names each of them', async () => {
    const { error } = await run({ self: execution('a'), running: [listed('a', 0)], failing: ['Demand', 'VerifyPlus'] });
    expect(error.name).toBe('PipelineFailed');
    expect(error.message).toBe(
      '[Demand failed with SourceUnavailable: Demand could not load its source]' +
      '[VerifyPlus failed with SourceUnavailable: VerifyPlus could not load its source]',
    );
  });
});
