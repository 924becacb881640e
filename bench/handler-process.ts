import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { build } from 'esbuild';
import { ClientConfig } from 'pg';
import { RUNNER_INPUT_ENV, RunnerInput, RunnerResult } from './handler-runner';
import { RefreshEnv, RefreshEvent, RefreshReport } from '../src/refresh/contract';

/**
 * Invokes the bundled refresh handler the way Lambda does: in a fresh `node` process, with a
 * Lambda-like context, connecting in local mode (libpq variables) or through a Secrets Manager
 * secret. The process's logs and metrics go to a pipe that is drained and dropped, so they cost
 * what they cost in Lambda.
 */
export interface HandlerProcessOptions {
  /** Absolute path of the bundle (`index.js`) exporting `handler`. */
  readonly bundle: string;
  /** Local mode: the handler connects with these settings as libpq variables. */
  readonly database: ClientConfig;
  /** Secret mode instead: the secret's ARN and the Secrets Manager endpoint that serves it. */
  readonly secret?: { readonly arn: string; readonly endpoint: string };
  /** Refresh settings, keyed by `RefreshEnv` names. */
  readonly settings?: Record<string, string>;
  readonly event?: RefreshEvent;
  /** Invocations in the same process: the first is cold, the rest warm. */
  readonly invocations?: number;
  readonly timeoutMs?: number;
}

export interface HandlerProcessResult extends RunnerResult {
  /** From spawning the process to its exit, measured by the bench. */
  readonly processMs: number;
}

/** Where the runner is compiled, and live processes to end if the bench is interrupted. */
export class HandlerProcesses {
  private readonly live = new Set<ChildProcess>();
  private runnerPath?: string;

  constructor(private readonly workDir: string) {}

  /** Compiles the runner to plain JavaScript once, so each process starts like a Lambda runtime. */
  async prepare(): Promise<void> {
    const outfile = join(this.workDir, 'handler-runner.js');
    await build({
      entryPoints: [join(__dirname, 'handler-runner.ts')],
      outfile,
      bundle: false,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'error',
    });
    this.runnerPath = outfile;
  }

  async run(options: HandlerProcessOptions): Promise<HandlerProcessResult> {
    if (!this.runnerPath) {
      throw new Error('HandlerProcesses.prepare() must run first');
    }
    const resultFile = join(this.workDir, `run-${randomBytes(6).toString('hex')}.json`);
    const input: RunnerInput = {
      bundle: options.bundle,
      resultFile,
      event: options.event ?? {},
      invocations: options.invocations ?? 1,
      timeoutMs: options.timeoutMs ?? 900_000,
    };
    const env = { ...lambdaLikeEnvironment(options), ...options.settings, [RUNNER_INPUT_ENV]: JSON.stringify(input) };

    const started = performance.now();
    const child = spawn(process.execPath, [this.runnerPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.live.add(child);
    let errorTail = '';
    child.stdout.resume();
    child.stderr.on('data', (chunk: Buffer) => {
      errorTail = (errorTail + chunk.toString()).slice(-4000);
    });
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => resolve(code));
    }).finally(() => this.live.delete(child));
    const processMs = performance.now() - started;

    try {
      if (exitCode !== 0 || !existsSync(resultFile)) {
        throw new Error(`The handler process exited with code ${exitCode}: ${errorTail.trim() || 'no output'}`);
      }
      const result = JSON.parse(readFileSync(resultFile, 'utf8')) as RunnerResult;
      return { ...result, processMs };
    } finally {
      rmSync(resultFile, { force: true });
    }
  }

  /** Ends every process still running (on Ctrl-C). */
  killAll(): void {
    for (const child of this.live) {
      child.kill('SIGKILL');
    }
    this.live.clear();
  }
}

/** The reports of a run's invocations; fails loudly if any invocation threw or did not succeed. */
export function successfulReports(result: RunnerResult, what: string): RefreshReport[] {
  return result.invocations.map((invocation, index) => {
    if (invocation.error || !invocation.report) {
      const error = invocation.error ? `${invocation.error.name}: ${invocation.error.message}` : 'no report';
      throw new Error(`${what}: invocation ${index + 1} failed: ${error}`);
    }
    if (invocation.report.status !== 'succeeded' || invocation.report.totals.failed > 0) {
      throw new Error(`${what}: invocation ${index + 1} did not succeed: ${JSON.stringify(invocation.report.totals)}`);
    }
    return invocation.report;
  });
}

/**
 * The process environment: the bench's own minus anything that could steer the handler (database,
 * AWS, Powertools, refresh settings), plus what Lambda sets and how to reach the database.
 */
function lambdaLikeEnvironment(options: HandlerProcessOptions): NodeJS.ProcessEnv {
  const steering = /^(PG|ITC_|AWS_|POWERTOOLS_|NODE_OPTIONS$|TS_NODE_)/;
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !steering.test(name)));
  const lambda = {
    AWS_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_NAME: 'itc-bench-refresh',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    POWERTOOLS_SERVICE_NAME: 'itc-orchestrator-bench',
    POWERTOOLS_METRICS_NAMESPACE: 'ItcOrchestratorBench',
  };
  if (options.secret) {
    return {
      ...inherited,
      ...lambda,
      // What the Lambda execution role provides, for the SDK to sign with.
      AWS_ACCESS_KEY_ID: 'AKIABENCHEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'bench-secret-access-key',
      AWS_SESSION_TOKEN: 'bench-session-token',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: options.secret.endpoint,
      [RefreshEnv.SECRET_ARN]: options.secret.arn,
      [RefreshEnv.TLS_MODE]: 'disable',
    };
  }
  const { database } = options;
  return {
    ...inherited,
    ...lambda,
    PGHOST: database.host,
    PGPORT: String(database.port),
    PGDATABASE: database.database,
    PGUSER: database.user,
    PGPASSWORD: typeof database.password === 'string' ? database.password : undefined,
    PGSSLMODE: 'disable',
  };
}
