import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forwardLines } from './lambda';

/** The refresh task's entry point, which the task definition holds inline: `npx projen bundle` writes it. */
export const REFRESH_BOOTSTRAP = join(__dirname, '..', 'assets', 'task-bootstrap', 'bootstrap', 'index.js');

/** The task role's credentials, as ECS gives them to a task: static ones here, for the stand-ins to check. */
export const LOCAL_TASK_ROLE = {
  accessKeyId: 'ASIALOCALTASKROLE',
  secretAccessKey: 'local-task-role-secret',
  sessionToken: 'local-task-role-session',
} as const;

/** Most characters of JSON a RunTask call's overrides may take, as ECS counts them. */
export const MAX_OVERRIDES_CHARS = 8192;

/** An error of an AWS API, as the SDK reads it from the response. */
export class ServiceError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message);
    this.name = code;
  }
}

/** The answer a task token got: what the Task state returns or throws. */
export type TaskAnswer = { readonly ok: true; readonly output: unknown } | { readonly ok: false; readonly error: string; readonly cause: string };

interface Waiter {
  readonly settle: (answer: TaskAnswer) => void;
  readonly heartbeatMs?: number;
  timer?: NodeJS.Timeout;
}

/**
 * The task tokens of `.waitForTaskToken` states, answered as Step Functions answers them: SendTaskSuccess,
 * SendTaskFailure and SendTaskHeartbeat for a token that is waited for; `TaskTimedOut` for a token whose state
 * timed out; `TaskDoesNotExist` for a token never issued. A state with HeartbeatSeconds fails with
 * `States.HeartbeatTimeout` when no heartbeat (or answer) came for that long.
 */
export class TaskTokens {
  private readonly waiting = new Map<string, Waiter>();
  private readonly ended = new Set<string>();
  private readonly timedOut = new Set<string>();

  /** Issues the token of one attempt of a task state; `answer` settles with its outcome. */
  public issue(heartbeatSeconds?: number): { token: string; answer: Promise<TaskAnswer> } {
    const token = `local-task-token-${randomUUID()}`;
    const answer = new Promise<TaskAnswer>((resolve) => {
      const waiter: Waiter = {
        heartbeatMs: heartbeatSeconds === undefined ? undefined : heartbeatSeconds * 1000,
        settle: (result) => {
          clearTimeout(waiter.timer);
          this.waiting.delete(token);
          this.ended.add(token);
          resolve(result);
        },
      };
      this.waiting.set(token, waiter);
      this.armHeartbeat(token, waiter);
    });
    return { token, answer };
  }

  public success(token: string, output: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch {
      throw new ServiceError('InvalidOutput', 'The output is not valid JSON');
    }
    this.waiter(token).settle({ ok: true, output: parsed });
  }

  public failure(token: string, error = '', cause = ''): void {
    this.waiter(token).settle({ ok: false, error, cause });
  }

  public heartbeat(token: string): void {
    const waiter = this.waiter(token);
    this.armHeartbeat(token, waiter);
  }

  /** Stops waiting for these tokens, e.g. when their execution ended; a later answer gets `TaskTimedOut`. */
  public abandon(tokens: Iterable<string>): void {
    for (const token of tokens) {
      const waiter = this.waiting.get(token);
      if (!waiter) continue;
      this.timedOut.add(token);
      waiter.settle({ ok: false, error: 'States.Timeout', cause: 'The execution ended' });
    }
  }

  private waiter(token: string): Waiter {
    const waiter = this.waiting.get(token);
    if (waiter) return waiter;
    if (this.timedOut.has(token)) throw new ServiceError('TaskTimedOut', 'Task Timed Out');
    if (this.ended.has(token)) throw new ServiceError('TaskTimedOut', 'Task already answered');
    throw new ServiceError('TaskDoesNotExist', 'Task does not exist');
  }

  private armHeartbeat(token: string, waiter: Waiter): void {
    if (waiter.heartbeatMs === undefined) return;
    clearTimeout(waiter.timer);
    waiter.timer = setTimeout(() => {
      this.timedOut.add(token);
      waiter.settle({ ok: false, error: 'States.HeartbeatTimeout', cause: `No heartbeat for ${waiter.heartbeatMs! / 1000} seconds` });
    }, waiter.heartbeatMs);
  }
}

/**
 * A loopback stand-in for the two AWS APIs a refresh task calls: Step Functions' task token actions
 * (JSON 1.0 protocol) and S3 GetObject (path-style, which the SDK uses for an IP endpoint). The task's SDK
 * reaches it through `AWS_ENDPOINT_URL_SFN` and `AWS_ENDPOINT_URL_S3`.
 */
export class AwsStandIn {
  /** The Step Functions calls made, in order, e.g. `SendTaskHeartbeat`. */
  public readonly calls: string[] = [];
  /** Resolves once the stand-in listens. */
  public readonly ready: Promise<void>;
  private readonly objects = new Map<string, Buffer>();
  private readonly server: Server;

  constructor(private readonly tokens: TaskTokens) {
    this.server = createServer((request, response) => {
      void readBody(request).then((body) => this.handle(request, body, response));
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
  }

  /** The endpoint, once {@link ready}. */
  public get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Stores an S3 object. */
  public putObject(bucket: string, key: string, content: Buffer): void {
    this.objects.set(`${bucket}/${key}`, content);
  }

  public async stop(): Promise<void> {
    await this.ready.catch(() => undefined);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, body: string, response: ServerResponse): void {
    const target = request.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('AWSStepFunctions.')) {
      this.stepFunctions(target.slice('AWSStepFunctions.'.length), body, response);
      return;
    }
    if (request.method === 'GET') {
      const path = decodeURIComponent((request.url ?? '/').split('?')[0].slice(1));
      const object = this.objects.get(path);
      if (!object) {
        response.statusCode = 404;
        response.setHeader('content-type', 'application/xml');
        response.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>${path}</Key></Error>`);
        return;
      }
      response.setHeader('content-type', 'application/octet-stream');
      response.setHeader('content-length', object.length);
      response.end(object);
      return;
    }
    response.statusCode = 400;
    response.end(`No stand-in for ${request.method} ${request.url}`);
  }

  private stepFunctions(action: string, body: string, response: ServerResponse): void {
    this.calls.push(action);
    response.setHeader('content-type', 'application/x-amz-json-1.0');
    try {
      const input = JSON.parse(body || '{}') as { taskToken: string; output?: string; error?: string; cause?: string };
      switch (action) {
        case 'SendTaskSuccess':
          this.tokens.success(input.taskToken, input.output ?? '');
          break;
        case 'SendTaskFailure':
          this.tokens.failure(input.taskToken, input.error, input.cause);
          break;
        case 'SendTaskHeartbeat':
          this.tokens.heartbeat(input.taskToken);
          break;
        default:
          throw new ServiceError('UnknownOperationException', `No stand-in for ${action}`);
      }
      response.end('{}');
    } catch (err) {
      const error = err instanceof ServiceError ? err : new ServiceError('InternalFailure', String(err), 500);
      response.statusCode = error.status;
      response.end(JSON.stringify({ __type: `com.amazonaws.swf.service.v2.model#${error.code}`, message: error.message }));
    }
  }
}

/** A container of a task definition, as the synthesized template declares it. */
export interface LocalContainerDefinition {
  readonly name: string;
  readonly entryPoint: string[];
  readonly command: string[];
  readonly environment: Record<string, string>;
}

/** A task definition, as the synthesized template declares it. */
export interface LocalTaskDefinition {
  readonly arn: string;
  readonly containers: LocalContainerDefinition[];
}

export interface LocalEcsOptions {
  readonly taskDefinitions: LocalTaskDefinition[];
  readonly standIn: AwsStandIn;
  readonly region: string;
  /**
   * Directories that replace the image's, e.g. `/var/runtime/node_modules` (the AWS SDK of the Lambda base
   * image) by the repository's `node_modules`.
   */
  readonly pathMappings?: Record<string, string>;
  /** Receives each line a task writes. @default - discarded */
  readonly onLog?: (line: string) => void;
}

/** One task started by RunTask. */
export interface LocalTask {
  readonly taskArn: string;
  readonly startedAt: number;
  /** Settles once every container has exited: a task answers the state machine before its process ends. */
  exited: Promise<void>;
  stoppedAt?: number;
  exitCode?: number | null;
}

/**
 * Runs ECS tasks as child processes: each container's entry point and command, with the environment of its
 * definition and of the RunTask overrides, plus what ECS and the task role would provide (region and
 * credentials) and the stand-in's endpoints. The `node` of an entry point is this process's Node.js.
 */
export class LocalEcs {
  public readonly tasks: LocalTask[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly workDirs: string[] = [];

  constructor(private readonly options: LocalEcsOptions) {}

  /** Kills every running task at once, as a crash or an out-of-memory stop would: it answers nothing. */
  public killRunningTasks(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }

  /** RunTask: starts the task and returns at once, as the API does. */
  public async runTask(parameters: Record<string, any>): Promise<LocalTask> {
    await this.options.standIn.ready;
    const definition = this.options.taskDefinitions.find((candidate) => candidate.arn === parameters.TaskDefinition);
    if (!definition) {
      throw new ServiceError('ECS.InvalidParameterException', `TaskDefinition not found: ${parameters.TaskDefinition}`);
    }
    if (JSON.stringify(parameters.Overrides ?? {}).length > MAX_OVERRIDES_CHARS) {
      throw new ServiceError('ECS.InvalidParameterException', `Container Overrides length must be at most ${MAX_OVERRIDES_CHARS}`);
    }
    const overrides = new Map<string, Array<{ Name: string; Value: string }>>(
      (parameters.Overrides?.ContainerOverrides ?? []).map((override: { Name: string; Environment?: Array<{ Name: string; Value: string }> }) =>
        [override.Name, override.Environment ?? []]),
    );
    for (const name of overrides.keys()) {
      if (!definition.containers.some((container) => container.name === name)) {
        throw new ServiceError('ECS.InvalidParameterException', `Override for container ${name}, which the task definition does not have`);
      }
    }
    const task: LocalTask = {
      taskArn: `${definition.arn.replace(/:task-definition\/.*/, ':task/')}${randomUUID()}`,
      startedAt: Date.now(),
      exited: Promise.resolve(),
    };
    this.tasks.push(task);
    const exits = definition.containers.map((container) => {
      const overridden = Object.fromEntries((overrides.get(container.name) ?? []).map((entry) => [entry.Name, entry.Value]));
      const child = this.startContainer(container, { ...container.environment, ...overridden }, task);
      return new Promise<void>((resolve) => child.once('exit', () => resolve()));
    });
    task.exited = Promise.all(exits).then(() => undefined);
    return task;
  }

  /** Stops every task still running. */
  public async close(): Promise<void> {
    await Promise.all([...this.children].map((child) => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    })));
    for (const dir of this.workDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }

  private startContainer(container: LocalContainerDefinition, environment: Record<string, string>, task: LocalTask): ChildProcess {
    const [executable, ...args] = [...container.entryPoint, ...container.command];
    if (executable !== 'node') {
      throw new ServiceError('ECS.ClientException', `The local ECS runs only entry points that start with node, got ${executable}`);
    }
    const mapped = (value: string) => Object.entries(this.options.pathMappings ?? {}).reduce((text, [from, to]) => text.split(from).join(to), value);
    const workDir = mkdtempSync(join(tmpdir(), 'itc-task-'));
    this.workDirs.push(workDir);
    const child = spawn(process.execPath, args, {
      cwd: workDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...Object.fromEntries(Object.entries(environment).map(([name, value]) => [name, mapped(value)])),
        PATH: process.env.PATH ?? '',
        TMPDIR: workDir,
        AWS_REGION: this.options.region,
        AWS_DEFAULT_REGION: this.options.region,
        AWS_ACCESS_KEY_ID: LOCAL_TASK_ROLE.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_TASK_ROLE.secretAccessKey,
        AWS_SESSION_TOKEN: LOCAL_TASK_ROLE.sessionToken,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ENDPOINT_URL_S3: this.options.standIn.endpoint,
        AWS_ENDPOINT_URL_SFN: this.options.standIn.endpoint,
        TZ: 'UTC',
      },
    });
    this.children.add(child);
    forwardLines([child.stdout!, child.stderr!], this.options.onLog);
    child.once('exit', (code) => {
      this.children.delete(child);
      task.stoppedAt = Date.now();
      task.exitCode = code;
    });
    return child;
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
