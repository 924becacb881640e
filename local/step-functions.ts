import './promise-polyfill';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Interpreter from 'aws-local-stepfunctions' with { 'resolution-mode': 'import' };
import { assertValidDefinition } from './asl';
import type { LocalEcs, TaskTokens } from './ecs';
import { InvocationOutcome, LocalFunction, newRequestId } from './lambda';
import { ServiceStandIns, TaskError } from './service-stand-ins';
import type { LocalStateMachine } from './template';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

/** One visit of a state, from the interpreter's events. */
export interface StateRecord {
  readonly name: string;
  readonly type: string;
  readonly enteredAt: number;
  exitedAt?: number;
  /** `failed`: the error left the state; `caught`: a Catch handled it. */
  outcome: 'running' | 'succeeded' | 'failed' | 'caught';
  /** Attempts made, retries included. */
  attempts: number;
  error?: string;
}

/** One call a Task state made to an emulated service. */
export interface InvocationRecord {
  readonly state: string;
  /** The function name, or the SDK action for SDK integrations. */
  readonly target: string;
  readonly startedAt: number;
  endedAt?: number;
  /** The error name when the call failed. */
  error?: string;
}

export interface LocalExecution {
  readonly executionArn: string;
  readonly name: string;
  readonly input: unknown;
  readonly startDate: Date;
  stopDate?: Date;
  status: ExecutionStatus;
  output?: unknown;
  error?: string;
  cause?: string;
  readonly states: StateRecord[];
  readonly invocations: InvocationRecord[];
}

/** An error of the Lambda service itself, raised instead of invoking the function. */
export interface ServiceFault {
  readonly error: string;
  readonly cause: string;
}

export interface StartExecutionOptions {
  /** The execution name. @default - a random UUID, as the service generates */
  readonly name?: string;
}

export interface LocalStepFunctionsOptions {
  readonly stateMachine: LocalStateMachine;
  /** The functions Task states may invoke, keyed by function ARN. */
  readonly functions: ReadonlyMap<string, LocalFunction>;
  /**
   * Replaces every Retry interval by this many milliseconds, so tests of retries stay fast.
   * @default - the intervals of the definition
   */
  readonly retryIntervalMs?: number;
  /**
   * How `listExecutions` writes an execution's `StartDate`, e.g. as epoch seconds to see a definition cope with a
   * format other than the one it expects.
   * @default - an ISO 8601 timestamp
   */
  readonly listedStartDate?: (startDate: Date) => unknown;
  /**
   * The ECS tasks `ecs:runTask.waitForTaskToken` states start, and the tokens they answer.
   * @default - such states are not emulated
   */
  readonly ecs?: { readonly tasks: LocalEcs; readonly tokens: TaskTokens };
  /**
   * The services pipelines run on: Glue `startJobRun.sync`, ECS `runTask.sync`, `states:startExecution.sync` and
   * SDK calls.
   * @default - such states are not emulated
   */
  readonly services?: ServiceStandIns;
}

// The package ships a CommonJS build, but declares its types as an ES module only.
const { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError, StateMachine } = createRequire(__filename)('aws-local-stepfunctions') as typeof Interpreter;
type RunOptions = Interpreter.RunOptions;
type StateMachineDefinition = Interpreter.StateMachineDefinition;

const LAMBDA_INVOKE = /^arn:[a-z-]+:states:::lambda:invoke$/;
const LAMBDA_FUNCTION_ARN = /^arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:[^:]+(:[^:]+)?$/;
const SFN_LIST_EXECUTIONS = /^arn:[a-z-]+:states:::aws-sdk:sfn:listExecutions$/;
const ECS_RUN_TASK_WAIT = /^arn:[a-z-]+:states:::ecs:runTask\.waitForTaskToken$/;
/** What `$$.Task.Token` reads; each attempt of a state gets its own token in its place. */
const TOKEN_PLACEHOLDER = 'local-task-token-placeholder';

type TaskHandler = (input: unknown) => Promise<unknown>;
interface TaskState {
  readonly Type: 'Task';
  readonly Resource: string;
  readonly Retry?: unknown[];
  readonly HeartbeatSeconds?: number;
}

/**
 * Runs a synthesized state machine definition with `aws-local-stepfunctions`, unchanged. Only the
 * services behind its Task states are emulated:
 * - `arn:aws:states:::lambda:invoke` and direct function ARNs invoke the local functions, with
 *   the service's result shape (`Payload`, `StatusCode`, ...) and error shape (Error = the
 *   function's error type, Cause = `{errorType, errorMessage, trace}` as JSON);
 * - `arn:aws:states:::aws-sdk:sfn:listExecutions` lists the executions this runner is running;
 * - Glue `startJobRun.sync`, ECS `runTask.sync`, `states:startExecution.sync` and SDK calls go to the
 *   `services` stand-ins, which answer as the services do;
 * - `arn:aws:states:::ecs:runTask.waitForTaskToken` starts the task on the local ECS with a task token of its
 *   own for each attempt, and waits for the token's answer, failing with `States.HeartbeatTimeout` when the
 *   state's HeartbeatSeconds pass without a heartbeat (the interpreter has no heartbeats of its own).
 */
export class LocalStepFunctions {
  private readonly executions: LocalExecution[] = [];
  private readonly faults = new Map<string, ServiceFault[]>();
  private readonly stateMachine: Interpreter.StateMachine;
  private readonly tasks: Record<string, TaskState>;
  private readonly issuedTokens = new WeakMap<LocalExecution, Set<string>>();

  constructor(private readonly options: LocalStepFunctionsOptions) {
    // Checked here with the validator the template resolver uses, whose results are kept; the interpreter's own
    // (older) copy of asl-validator would compile its schemas again for every runner.
    assertValidDefinition(options.stateMachine.definition, `State machine ${options.stateMachine.logicalId}`);
    this.stateMachine = new StateMachine(options.stateMachine.definition as unknown as StateMachineDefinition, {
      validationOptions: { noValidate: true },
    });
    this.tasks = collectTaskStates(options.stateMachine.definition);
    const emulated = [LAMBDA_INVOKE, LAMBDA_FUNCTION_ARN, SFN_LIST_EXECUTIONS, ...(options.ecs ? [ECS_RUN_TASK_WAIT] : [])];
    for (const [name, state] of Object.entries(this.tasks)) {
      if (!emulated.some((pattern) => pattern.test(state.Resource)) && !options.services?.emulates(state.Resource)) {
        throw new Error(`Task state "${name}" uses ${state.Resource}, which the local runner does not emulate`);
      }
    }
  }

  /** The ARN of the state machine this runner runs. */
  public get stateMachineArn(): string {
    return this.options.stateMachine.arn;
  }

  /** The next `times` invocations of the function fail with a service error instead of running. */
  public injectFault(functionArn: string, fault: ServiceFault, times = 1): void {
    if (!this.options.functions.has(functionArn)) {
      throw new Error(`No local function has the ARN ${functionArn}`);
    }
    const queue = this.faults.get(functionArn) ?? [];
    queue.push(...Array.from({ length: times }, () => fault));
    this.faults.set(functionArn, queue);
  }

  /**
   * Starts an execution and resolves when it has ended and every invocation it made has
   * returned (a failed branch does not stop a function that is already running).
   */
  public async run(input: unknown, options: StartExecutionOptions = {}): Promise<LocalExecution> {
    const { stateMachine } = this.options;
    const name = options.name ?? randomUUID();
    if (this.executions.some((execution) => execution.name === name)) {
      throw new Error(`ExecutionAlreadyExists: this state machine already has an execution named "${name}"`);
    }
    const executionArn = stateMachine.arn.replace(':stateMachine:', ':execution:') + `:${name}`;
    const pending = new Set<Promise<unknown>>();
    const states: StateRecord[] = [];
    const invocations: InvocationRecord[] = [];

    const startDate = new Date();
    const execution: LocalExecution = { executionArn, name, input, startDate, status: 'RUNNING', states, invocations };
    this.executions.push(execution);

    const runOptions: RunOptions = {
      overrides: {
        taskResourceLocalHandlers: this.taskHandlers(execution, pending) as NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers'],
        retryIntervalOverrides: this.retryIntervals(),
      },
      context: {
        Execution: { Id: executionArn, Name: name, RoleArn: `arn:aws:iam::${stateMachine.arn.split(':')[4]}:role/${stateMachine.name}Role` },
        StateMachine: { Id: stateMachine.arn, Name: stateMachine.name },
        Task: { Token: TOKEN_PLACEHOLDER },
      },
    };
    const { result, eventLogs } = this.stateMachine.run(input as never, runOptions);
    const recording = recordStates(eventLogs, states);

    try {
      execution.output = await result;
      execution.status = 'SUCCEEDED';
    } catch (err) {
      if (err instanceof ExecutionTimeoutError) {
        // The definition's TimeoutSeconds elapsed.
        execution.status = 'TIMED_OUT';
        execution.error = 'States.Timeout';
      } else if (err instanceof ExecutionAbortedError) {
        execution.status = 'ABORTED';
      } else {
        execution.status = 'FAILED';
        const failure = err instanceof ExecutionError && err.cause instanceof Error ? err.cause : (err as Error);
        execution.error = failure.name;
        execution.cause = failure.message;
      }
    } finally {
      execution.stopDate = new Date();
    }
    // A state that timed out stops waiting for its token, as the service does.
    this.options.ecs?.tokens.abandon(this.tokensOf(execution));
    await Promise.allSettled([...pending]);
    await recording;
    return execution;
  }

  private taskHandlers(execution: LocalExecution, pending: Set<Promise<unknown>>): Record<string, TaskHandler> {
    const handlers: Record<string, TaskHandler> = {};
    for (const [stateName, state] of Object.entries(this.tasks)) {
      const services = this.options.services;
      const byService = services?.emulates(state.Resource) && !SFN_LIST_EXECUTIONS.test(state.Resource) ? services : undefined;
      const call = byService
        ? (input: unknown) => byService.call(state.Resource, input)
        : SFN_LIST_EXECUTIONS.test(state.Resource)
          ? (input: unknown) => this.listExecutions(input)
          : ECS_RUN_TASK_WAIT.test(state.Resource)
            ? (input: unknown) => this.runTaskAndWait(state, input, execution)
            : (input: unknown) => this.invokeFunction(state, input);
      handlers[stateName] = (input) => {
        const target = byService ? byService.targetOf(state.Resource, input) : targetOf(state, input);
        const record: InvocationRecord = { state: stateName, target, startedAt: Date.now() };
        execution.invocations.push(record);
        const promise = call(input).then(
          (output) => {
            record.endedAt = Date.now();
            return output;
          },
          (err: Error) => {
            record.endedAt = Date.now();
            record.error = err.name;
            throw err;
          },
        );
        pending.add(promise.catch(() => undefined));
        return promise;
      };
    }
    return handlers;
  }

  private async invokeFunction(state: TaskState, input: unknown): Promise<unknown> {
    const integration = LAMBDA_INVOKE.test(state.Resource);
    const functionName = integration ? (input as { FunctionName?: unknown })?.FunctionName : state.Resource;
    const payload = integration ? (input as { Payload?: unknown }).Payload ?? {} : input;
    const fn = this.findFunction(functionName);
    const fault = this.faults.get(fn.configuration.functionArn)?.shift();
    if (fault) throw new TaskError(fault.error, fault.cause);

    const requestId = newRequestId();
    const outcome: InvocationOutcome = await fn.invoke(payload, requestId);
    if (!outcome.ok) {
      const cause = JSON.stringify({ errorType: outcome.errorType, errorMessage: outcome.errorMessage, trace: outcome.trace });
      throw new TaskError(outcome.errorType, cause);
    }
    if (!integration) return outcome.result;
    return {
      ExecutedVersion: '$LATEST',
      Payload: outcome.result,
      SdkHttpMetadata: {
        AllHttpHeaders: { 'X-Amz-Executed-Version': ['$LATEST'], 'x-amzn-RequestId': [requestId], 'Content-Type': ['application/json'] },
        HttpHeaders: { 'X-Amz-Executed-Version': '$LATEST', 'x-amzn-RequestId': requestId, 'Content-Type': 'application/json' },
        HttpStatusCode: 200,
      },
      SdkResponseMetadata: { RequestId: requestId },
      StatusCode: 200,
    };
  }

  private async runTaskAndWait(state: TaskState, input: unknown, execution: LocalExecution): Promise<unknown> {
    const { tasks, tokens } = this.options.ecs!;
    const { token, answer } = tokens.issue(state.HeartbeatSeconds);
    this.tokensOf(execution).add(token);
    const parameters = JSON.parse(JSON.stringify(input).split(TOKEN_PLACEHOLDER).join(token)) as Record<string, unknown>;
    try {
      await tasks.runTask(parameters);
    } catch (err) {
      tokens.failure(token, 'ECS.AmazonECSException', (err as Error).message);
    }
    const outcome = await answer;
    if (!outcome.ok) throw new TaskError(outcome.error, outcome.cause);
    return outcome.output;
  }

  private tokensOf(execution: LocalExecution): Set<string> {
    let issued = this.issuedTokens.get(execution);
    if (!issued) this.issuedTokens.set(execution, (issued = new Set()));
    return issued;
  }

  private findFunction(functionName: unknown): LocalFunction {
    if (typeof functionName !== 'string') {
      throw new TaskError('States.Runtime', `FunctionName must be a string, got ${JSON.stringify(functionName)}`);
    }
    // FunctionName may be a name, a full ARN or a qualified ARN.
    const unqualified = functionName.replace(/^(arn:[^:]+:lambda:[^:]+:\d{12}:function:[^:]+):[^:]+$/, '$1');
    for (const fn of this.options.functions.values()) {
      if ([fn.configuration.functionArn, fn.configuration.functionName].includes(unqualified)) return fn;
    }
    throw new TaskError(
      'Lambda.ResourceNotFoundException',
      `Function not found: ${functionName} (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException)`,
    );
  }

  private async listExecutions(input: unknown): Promise<unknown> {
    const { StateMachineArn, StatusFilter } = (input ?? {}) as { StateMachineArn?: string; StatusFilter?: string };
    if (StateMachineArn !== this.options.stateMachine.arn) {
      throw new TaskError('Sfn.StateMachineDoesNotExistException', `State Machine Does Not Exist: '${StateMachineArn}'`);
    }
    const listed = this.executions
      .filter((execution) => StatusFilter === undefined || execution.status === StatusFilter)
      // The service lists the most recent execution first; of two started in the same millisecond,
      // the one started last.
      .reverse()
      .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
    return {
      Executions: listed.map((execution) => ({
        ExecutionArn: execution.executionArn,
        Name: execution.name,
        StartDate: (this.options.listedStartDate ?? ((date: Date) => date.toISOString()))(execution.startDate),
        StateMachineArn,
        Status: execution.status,
        ...(execution.stopDate && execution.status !== 'RUNNING' ? { StopDate: execution.stopDate.toISOString() } : {}),
      })),
    };
  }

  private retryIntervals(): Record<string, number> | undefined {
    const interval = this.options.retryIntervalMs;
    if (interval === undefined) return undefined;
    return Object.fromEntries(retryableStateNames(this.options.stateMachine.definition).map((name) => [name, interval]));
  }
}

function targetOf(state: TaskState, input: unknown): string {
  if (SFN_LIST_EXECUTIONS.test(state.Resource)) return 'sfn:listExecutions';
  if (ECS_RUN_TASK_WAIT.test(state.Resource)) return `ecs:${String((input as { TaskDefinition?: unknown })?.TaskDefinition).replace(/^.*:task-definition\//, '')}`;
  const name = LAMBDA_INVOKE.test(state.Resource) ? String((input as { FunctionName?: unknown })?.FunctionName) : state.Resource;
  return name.replace(/^arn:[^:]+:lambda:[^:]+:\d{12}:function:/, '');
}

type StatesContainer = { States?: Record<string, Record<string, unknown>> };

function allStates(definition: StatesContainer): Array<[string, Record<string, unknown>]> {
  return Object.entries(definition.States ?? {}).flatMap(([name, state]) => {
    const nested = [
      ...((state.Branches as StatesContainer[] | undefined) ?? []),
      ...[state.Iterator, state.ItemProcessor].filter((child): child is StatesContainer => child !== undefined),
    ];
    return [[name, state] as [string, Record<string, unknown>], ...nested.flatMap(allStates)];
  });
}

function collectTaskStates(definition: StatesContainer): Record<string, TaskState> {
  return Object.fromEntries(allStates(definition).filter(([, state]) => state.Type === 'Task')) as unknown as Record<string, TaskState>;
}

function retryableStateNames(definition: StatesContainer): string[] {
  return allStates(definition)
    .filter(([, state]) => Array.isArray(state.Retry) && state.Retry.length > 0)
    .map(([name]) => name);
}

/** Turns the interpreter's event log into one record per state visit. */
async function recordStates(eventLogs: AsyncGenerator<Record<string, any>>, states: StateRecord[]): Promise<void> {
  const open = new Map<string, StateRecord>();
  for await (const event of eventLogs) {
    const stateName: string | undefined = event.state?.name;
    if (stateName === undefined) continue;
    switch (event.type) {
      case 'StateEntered': {
        const record: StateRecord = { name: stateName, type: event.state.type, enteredAt: event.timestamp, outcome: 'running', attempts: 1 };
        states.push(record);
        open.set(stateName, record);
        break;
      }
      case 'StateRetried': {
        const record = open.get(stateName);
        if (record) record.attempts += 1;
        break;
      }
      case 'StateFailed': {
        const record = open.get(stateName);
        if (record) {
          record.outcome = 'failed';
          record.error = event.Error;
          record.exitedAt = event.timestamp;
        }
        break;
      }
      case 'StateCaught': {
        const record = open.get(stateName);
        if (record) record.outcome = 'caught';
        break;
      }
      case 'StateExited': {
        const record = open.get(stateName);
        if (record) {
          if (record.outcome === 'running' || record.outcome === 'failed') record.outcome = 'succeeded';
          record.exitedAt = event.timestamp;
          open.delete(stateName);
        }
        break;
      }
    }
  }
}
