import type { ClientConfig } from 'pg';
import { BundleProcesses, localConfiguration, ProcessRun } from '../local/lambda';
import { libpqEnvironment } from '../local/pg';
import { RefreshEnv, RefreshEvent, RefreshReport } from '../src/shared/contract';

/**
 * The bench's runs of the bundled refresh handler: each in a fresh `node` process, as Lambda starts
 * one, connecting in local mode (libpq variables) or through a Secrets Manager secret.
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
}

export type HandlerProcessResult = ProcessRun;

const BENCH_FUNCTION = localConfiguration('itc-bench-refresh');

/** Runs handler processes; ends the live ones if the bench is interrupted. */
export class HandlerProcesses {
  private readonly processes = new BundleProcesses();

  run(options: HandlerProcessOptions): Promise<HandlerProcessResult> {
    return this.processes.run({
      bundle: options.bundle,
      configuration: BENCH_FUNCTION,
      environment: { ...handlerEnvironment(options), ...options.settings },
      event: options.event,
      invocations: options.invocations,
    });
  }

  /** Ends every process still running (on Ctrl-C). */
  killAll(): void {
    this.processes.killAll();
  }
}

/** The reports of a run's invocations; fails loudly if any invocation threw or did not succeed. */
export function successfulReports(result: HandlerProcessResult, what: string): RefreshReport[] {
  return result.invocations.map(({ outcome }, index) => {
    if (!outcome.ok) {
      throw new Error(`${what}: invocation ${index + 1} failed: ${outcome.errorType}: ${outcome.errorMessage}`);
    }
    const report = outcome.result as RefreshReport;
    if (report.status !== 'succeeded' || report.totals.failed > 0) {
      throw new Error(`${what}: invocation ${index + 1} did not succeed: ${JSON.stringify(report.totals)}`);
    }
    return report;
  });
}

/**
 * The process environment: the bench's own minus anything that could steer the handler (database,
 * AWS, Powertools, refresh settings), plus Powertools' metrics namespace and how to reach the database. The
 * Lambda runtime's own variables are added by the process runner.
 */
function handlerEnvironment(options: HandlerProcessOptions): Record<string, string | undefined> {
  const steering = /^(PG|ITC_|AWS_|POWERTOOLS_|NODE_OPTIONS$|TS_NODE_)/;
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !steering.test(name)));
  const powertools = {
    POWERTOOLS_METRICS_NAMESPACE: 'ItcOrchestratorBench',
  };
  if (options.secret) {
    return {
      ...inherited,
      ...powertools,
      // What the Lambda execution role provides, for the SDK to sign with.
      AWS_ACCESS_KEY_ID: 'AKIABENCHEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'bench-secret-access-key',
      AWS_SESSION_TOKEN: 'bench-session-token',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: options.secret.endpoint,
      [RefreshEnv.SECRET_ARN]: options.secret.arn,
      [RefreshEnv.TLS_MODE]: 'disable',
    };
  }
  return { ...inherited, ...powertools, ...libpqEnvironment(options.database) };
}
