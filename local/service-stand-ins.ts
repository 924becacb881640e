import { randomUUID } from 'node:crypto';

/** A Task error the way Step Functions reports it: `name` is the Error, `message` the Cause. */
export class TaskError extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

/** The work of a Glue job run or an ECS task: it resolves when the work succeeded, and throws when it failed. */
export type LocalJob = (input: unknown) => Promise<void> | void;

/** An execution of another state machine, run to its end (a nested `LocalStepFunctions`, for one). */
export interface LocalWorkflow {
  run(input: unknown): Promise<{ executionArn: string; status: string; output?: unknown; error?: string; cause?: string }>;
}

/** A call of an AWS SDK integration: its response, or a `TaskError` named as the service's error. */
export type LocalSdkCall = (parameters: unknown) => Promise<unknown> | unknown;

/** The services a pipeline's task may call, emulated. */
export interface ServiceStandInsOptions {
  /** `glue:startJobRun.sync`: Glue jobs by name. */
  readonly glueJobs?: Record<string, LocalJob>;
  /** `ecs:runTask.sync`: ECS tasks by their task definition's family. */
  readonly ecsTasks?: Record<string, LocalJob>;
  /** `states:startExecution.sync` and `.sync:2`: state machines by ARN. */
  readonly workflows?: Record<string, LocalWorkflow>;
  /** `aws-sdk:<service>:<action>`: calls by `<service>:<action>`. */
  readonly sdkCalls?: Record<string, LocalSdkCall>;
}

/** The integrations emulated here, with the key a fault is injected under. */
const INTEGRATIONS = {
  glue: /^arn:[a-z-]+:states:::glue:startJobRun\.sync$/,
  ecs: /^arn:[a-z-]+:states:::ecs:runTask\.sync$/,
  workflow: /^arn:[a-z-]+:states:::states:startExecution\.sync(:2)?$/,
  sdk: /^arn:[a-z-]+:states:::aws-sdk:([a-z0-9-]+):([A-Za-z0-9]+)$/,
};

/**
 * Stand-ins for the services that run pipelines: each answers as the service's integration does, with the
 * result a successful run returns and, for a failed run, `States.TaskFailed` with the service's description of
 * the run as the cause. A fault injected for a target fails the next calls with a service error instead.
 */
export class ServiceStandIns {
  private readonly faults = new Map<string, Array<{ error: string; cause: string }>>();

  constructor(private readonly options: ServiceStandInsOptions) {}

  /** Whether a Task state's resource is one of these integrations. */
  public emulates(resource: string): boolean {
    return Object.values(INTEGRATIONS).some((pattern) => pattern.test(resource));
  }

  /** The target a call is recorded and faulted under: `glue:<job>`, `ecs:<family>`, `states:<name>`, `<service>:<action>`. */
  public targetOf(resource: string, input: unknown): string {
    const parameters = (input ?? {}) as Record<string, unknown>;
    if (INTEGRATIONS.glue.test(resource)) return `glue:${String(parameters.JobName)}`;
    if (INTEGRATIONS.ecs.test(resource)) return `ecs:${familyOf(parameters.TaskDefinition)}`;
    if (INTEGRATIONS.workflow.test(resource)) return `states:${String(parameters.StateMachineArn).replace(/^.*:stateMachine:/, '')}`;
    const [, service, action] = INTEGRATIONS.sdk.exec(resource) ?? [];
    return `${service}:${action}`;
  }

  /** The next `times` calls to the target fail with a service error instead of running. */
  public injectFault(target: string, fault: { error: string; cause: string }, times = 1): void {
    const queue = this.faults.get(target) ?? [];
    queue.push(...Array.from({ length: times }, () => fault));
    this.faults.set(target, queue);
  }

  public async call(resource: string, input: unknown): Promise<unknown> {
    const target = this.targetOf(resource, input);
    const fault = this.faults.get(target)?.shift();
    if (fault) throw new TaskError(fault.error, fault.cause);
    const parameters = (input ?? {}) as Record<string, unknown>;
    if (INTEGRATIONS.glue.test(resource)) return this.runGlueJob(parameters);
    if (INTEGRATIONS.ecs.test(resource)) return this.runEcsTask(parameters);
    if (INTEGRATIONS.workflow.test(resource)) return this.runWorkflow(parameters, resource.endsWith(':2'));
    const call = this.options.sdkCalls?.[target];
    if (!call) throw new TaskError('States.Runtime', `No local stand-in answers ${target}`);
    return call(input);
  }

  private async runGlueJob(parameters: Record<string, unknown>): Promise<unknown> {
    const jobName = String(parameters.JobName);
    const job = this.options.glueJobs?.[jobName];
    if (!job) {
      throw new TaskError('Glue.EntityNotFoundException', `Cannot find job ${jobName} (Service: Glue; Status Code: 400; Error Code: EntityNotFoundException)`);
    }
    const startedOn = Date.now();
    const run = { Id: `jr_${randomUUID().replace(/-/g, '')}`, JobName: jobName, Arguments: parameters.Arguments ?? {}, StartedOn: startedOn, Attempt: 0 };
    try {
      await job(parameters.Arguments ?? {});
    } catch (err) {
      const failed = { ...run, JobRunState: 'FAILED', ErrorMessage: (err as Error).message, CompletedOn: Date.now() };
      throw new TaskError('States.TaskFailed', JSON.stringify(failed));
    }
    return { ...run, JobRunState: 'SUCCEEDED', CompletedOn: Date.now(), ExecutionTime: Math.round((Date.now() - startedOn) / 1000) };
  }

  private async runEcsTask(parameters: Record<string, unknown>): Promise<unknown> {
    const family = familyOf(parameters.TaskDefinition);
    const task = this.options.ecsTasks?.[family];
    if (!task) throw new TaskError('ECS.ClientException', `Unable to find task definition '${String(parameters.TaskDefinition)}'`);
    const described = { TaskArn: `arn:aws:ecs:local:000000000000:task/${randomUUID()}`, TaskDefinitionArn: parameters.TaskDefinition, LastStatus: 'STOPPED' };
    try {
      await task(parameters.Overrides ?? {});
    } catch (err) {
      const stopped = {
        ...described,
        StopCode: 'EssentialContainerExited',
        StoppedReason: 'Essential container in task exited',
        Containers: [{ ExitCode: 1, Reason: (err as Error).message }],
      };
      throw new TaskError('States.TaskFailed', JSON.stringify(stopped));
    }
    return { ...described, StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 0 }] };
  }

  private async runWorkflow(parameters: Record<string, unknown>, outputAsJson: boolean): Promise<unknown> {
    const arn = String(parameters.StateMachineArn);
    const workflow = this.options.workflows?.[arn];
    if (!workflow) throw new TaskError('StepFunctions.StateMachineDoesNotExistException', `State Machine Does Not Exist: '${arn}'`);
    const input = typeof parameters.Input === 'string' ? JSON.parse(parameters.Input) : parameters.Input ?? {};
    const execution = await workflow.run(input);
    const described = { ExecutionArn: execution.executionArn, StateMachineArn: arn, Status: execution.status, Input: JSON.stringify(input) };
    if (execution.status !== 'SUCCEEDED') {
      throw new TaskError('States.TaskFailed', JSON.stringify({ ...described, Error: execution.error, Cause: execution.cause }));
    }
    // `.sync:2` gives the output as JSON, `.sync` as the string of its JSON.
    return { ...described, Output: outputAsJson ? execution.output : JSON.stringify(execution.output) };
  }
}

function familyOf(taskDefinition: unknown): string {
  return String(taskDefinition).replace(/^.*:task-definition\//, '').replace(/:\d+$/, '');
}
