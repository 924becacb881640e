import '../../../local/promise-polyfill';
import { createRequire } from 'node:module';
import type * as Interpreter from 'aws-local-stepfunctions' with { 'resolution-mode': 'import' };
import { validateAsl } from '../../../local/asl';
import { RefreshCompute } from '../../../src';
import { RefreshTaskEnv } from '../../../src/shared/contract';
import { orchestratorFixture, stateMachineDefinition } from '../orchestrator-fixture';

// The package ships a CommonJS build, but declares its types as an ES module only.
const { StateMachine } = createRequire(__filename)('aws-local-stepfunctions') as typeof Interpreter;

type Definition = { States: Record<string, any> };

/** A machine for the definition, which `stateMachineDefinition` has already checked against asl-validator. */
function machineFor(definition: unknown): Interpreter.StateMachine {
  return new StateMachine(definition as any, { validationOptions: { noValidate: true } });
}

/**
 * `refresh.onlyChangedTables` in the synthesized definition: its control flow runs with the pipelines and
 * the refresh stubbed by state name, and the stubbed refresh records the event it receives.
 */
const withTables = stateMachineDefinition(
  orchestratorFixture({ refresh: { onlyChangedTables: true }, skipOverlappingExecutions: false }).template,
) as Definition;
const without = stateMachineDefinition(orchestratorFixture({ skipOverlappingExecutions: false }).template) as Definition;
const onFargate = stateMachineDefinition(
  orchestratorFixture({ refresh: { onlyChangedTables: true }, skipOverlappingExecutions: false, refreshCompute: RefreshCompute.fargate() }).template,
) as Definition;

/** The event the refresh function gets: its invocation's payload. */
const functionEvent = (input: unknown) => (input as { Payload: unknown }).Payload;

/** The event the refresh task gets: the JSON in its container's environment, as the task reads it. */
function taskEvent(input: unknown): unknown {
  const [container] = (input as { Overrides: { ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }> } })
    .Overrides.ContainerOverrides;
  const entry = container.Environment.find((variable) => variable.Name === RefreshTaskEnv.EVENT);
  expect(typeof entry?.Value).toBe('string');
  return JSON.parse(entry!.Value);
}

/**
 * Runs the definition; each pipeline returns the given Lambda result payload, or throws for `Error`.
 * The stubbed refresh records the event it was given.
 */
async function run(results: Record<'Demand' | 'VerifyPlus', unknown>, definition = withTables, eventOf = functionEvent) {
  const events: unknown[] = [];
  const pipeline = (name: 'Demand' | 'VerifyPlus') => async () => {
    const result = results[name];
    if (result instanceof Error) throw result;
    return { Payload: result } as any;
  };
  const machine = machineFor(definition);
  const execution = machine.run({ day: '2026-11-25' }, {
    context: { Task: { Token: 'task-token' } },
    overrides: {
      taskResourceLocalHandlers: {
        'Run pipeline Demand': pipeline('Demand'),
        'Run pipeline VerifyPlus': pipeline('VerifyPlus'),
        'Refresh materialized views': async (input: unknown) => {
          events.push(eventOf(input));
          return (definition === onFargate ? { status: 'succeeded' } : { Payload: { status: 'succeeded' } }) as any;
        },
      },
    },
  });
  try {
    await execution.result;
    return { events };
  } catch (error: any) {
    return { events, error: error.cause ?? error };
  }
}

describe('the definition with refresh.onlyChangedTables', () => {
  test('is valid Amazon States Language', () => {
    expect(validateAsl(withTables)).toMatchObject({ isValid: true });
  });

  test('the refresh gets the tables of every pipeline together', async () => {
    const { events, error } = await run({
      Demand: { loaded: 12, changedTables: ['sales.orders', 'sales.items'] },
      VerifyPlus: { changedTables: ['sales.checks', 'sales.orders'] },
    });
    expect(error).toBeUndefined();
    expect(events).toHaveLength(1);
    expect((events[0] as { tables: string[] }).tables.sort()).toEqual(['sales.checks', 'sales.items', 'sales.orders', 'sales.orders']);
    expect(Object.keys(events[0] as object)).toEqual(['tables']);
  });

  test('one pipeline with tables and one with an empty list: only the first one\'s tables', async () => {
    const { events } = await run({ Demand: { changedTables: [] }, VerifyPlus: { changedTables: ['sales.checks'] } });
    expect(events).toEqual([{ tables: ['sales.checks'] }]);
  });

  test('every list empty: the refresh still runs, with no tables', async () => {
    const { events, error } = await run({ Demand: { changedTables: [] }, VerifyPlus: { changedTables: [] } });
    expect(error).toBeUndefined();
    expect(events).toEqual([{ tables: [] }]);
  });

  test.each([
    ['no changedTables field', { loaded: 3 }, 'VerifyPlus returned no changedTables'],
    ['no result at all', null, 'VerifyPlus returned no changedTables'],
    ['a result that is not an object', 'done', 'VerifyPlus returned no changedTables'],
    ['a changedTables that is a string', { changedTables: 'sales.checks' }, 'VerifyPlus returned a changedTables that is not a list'],
    ['a changedTables that is null', { changedTables: null }, 'VerifyPlus returned a changedTables that is not a list'],
    ['a changedTables that is an object', { changedTables: { table: 'sales.checks' } }, 'VerifyPlus returned a changedTables that is not a list'],
  ])('%s: the refresh gets no tables, so everything is refreshed, and the reason', async (_case, result, reason) => {
    const { events, error } = await run({ Demand: { changedTables: ['sales.orders'] }, VerifyPlus: result });
    expect(error).toBeUndefined();
    expect(events).toEqual([{ fullRefreshReason: `not every pipeline reported its changed tables: ${reason}; ` }]);
  });

  test('a failing pipeline fails the execution with PipelineFailed, and the refresh does not run', async () => {
    const failure = new Error('could not load its source');
    failure.name = 'SourceUnavailable';
    const { events, error } = await run({ Demand: failure, VerifyPlus: { changedTables: ['sales.checks'] } });
    expect(events).toEqual([]);
    expect(error).toMatchObject({ name: 'PipelineFailed' });
  });
});

describe('the definition with refresh.onlyChangedTables and RefreshCompute.fargate()', () => {
  test('is valid Amazon States Language', () => {
    expect(validateAsl(onFargate)).toMatchObject({ isValid: true });
  });

  // Only names JSON writes without escapes: aws-local-stepfunctions 3.0 removes every backslash from the text an
  // intrinsic function returns, which Step Functions does not.
  test.each([
    ['tables of both pipelines', { Demand: { changedTables: ['sales.orders'] }, VerifyPlus: { changedTables: ['sales.checks'] } }],
    ['one empty list', { Demand: { changedTables: [] }, VerifyPlus: { changedTables: ['sales.checks'] } }],
    ['every list empty', { Demand: { changedTables: [] }, VerifyPlus: { changedTables: [] } }],
    ['a pipeline that reports no list', { Demand: { changedTables: ['sales.orders'] }, VerifyPlus: { loaded: 3 } }],
  ])('%s: the task gets exactly the event the function gets', async (_case, results) => {
    const viaFunction = await run(results);
    const viaTask = await run(results, onFargate, taskEvent);
    expect(viaFunction.error).toBeUndefined();
    expect(viaTask.error).toBeUndefined();
    expect(viaTask.events).toHaveLength(1);
    expect(viaTask.events).toEqual(viaFunction.events);
  });
});

describe('the definition without refresh.onlyChangedTables', () => {
  test('keeps no pipeline result and sends the refresh an empty event, as before', () => {
    const pipelines = Object.values(without.States).find((state) => state.Type === 'Parallel');
    for (const branch of pipelines.Branches) {
      const task = branch.States[branch.StartAt];
      expect(task.ResultSelector).toEqual({ pipeline: expect.any(String), failed: false, summary: '' });
      expect(task.End).toBe(true);
    }
    expect(without.States['Refresh materialized views'].Parameters.Payload).toEqual({});
    expect(Object.keys(without.States)).not.toContain('Did every pipeline report its changed tables?');
  });
});
