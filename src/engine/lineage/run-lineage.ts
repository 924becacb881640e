import type { ClientBase } from 'pg';
import { LineageCatalog, readLineageCatalog } from './catalog';
import { LineageEmitter } from './emitter';
import { DatasetNames, errorFacet, JobRef, jobTypeFacet, Lineage, parentFacet, processingEngineFacet, refreshFacet, runEvent, viewJob } from './events';
import { newRunId, staticRunId } from './run-ids';
import { LineageSettings, readLineageSettings } from './settings';
import { lineageTransport } from './transports';
import { RefreshEnv, RefreshReport, LineageTotals } from '../../shared/contract';
import { DEFAULT_PORT } from '../credentials';
import type { ConnectionSettings } from '../credentials';
import { redact } from '../errors';
import { logger, recordLineage } from '../observability';
import type { ViewOutcome } from '../outcome';
import type { PlannedRefresh } from '../plan';

type Env = Record<string, string | undefined>;

/**
 * The OpenLineage events of one refresh run: a run of the job `{name}.refresh` for the whole refresh, and for each
 * materialized view a run of the job `{name}.refresh.{database}.{schema}.{view}`, child of the refresh run, with
 * the Step Functions execution (job `{name}`) as root; `{name}` is the state machine's name. Every method only
 * queues events and returns at once; {@link finish} waits for them, within the time budget.
 */
export interface RunLineage {
  /** Time the run keeps back for its lineage at the end, in milliseconds: 0 when lineage is off. */
  readonly reserveMs: number;
  /** The run is connected: datasets are named after this database. */
  connected(settings: ConnectionSettings): void;
  /**
   * The views are planned: reads their lineage from the catalog on `client`, the run lock's session, before the
   * run lock is taken. Never throws: without the catalog's answer, the events name no inputs.
   */
  planned(client: ClientBase, plan: readonly PlannedRefresh[]): Promise<void>;
  /** A view's first attempt starts. */
  viewStarted(step: PlannedRefresh): void;
  /** A view's outcome is known. */
  viewDone(step: PlannedRefresh, outcome: ViewOutcome): void;
  /** Ends the refresh run's lineage and waits for the events still being sent, at most the time budget. */
  finish(result: { report: RefreshReport } | { error: unknown }): Promise<LineageTotals | undefined>;
}

const OFF: RunLineage = {
  reserveMs: 0,
  connected: () => undefined,
  planned: async () => undefined,
  viewStarted: () => undefined,
  viewDone: () => undefined,
  finish: async () => undefined,
};

/**
 * Starts the run's lineage, emitting the refresh run's START; lineage off returns a recorder that does nothing.
 * @param remainingMs the invocation's time left: the reserve is the time budget, at most a quarter of it
 * @param write where the log transport writes
 */
export function startLineage(env: Env, event: unknown, remainingMs: number, write = (line: string) => void process.stdout.write(line)): RunLineage {
  const { settings, problem } = readLineageSettings(env, event);
  if (problem) logger.warn('Lineage is off for this run', { reason: problem });
  if (!settings) return OFF;
  return new RunLineageEvents(settings, env, Math.max(0, Math.min(settings.timeBudgetMs, Math.floor(remainingMs / 4))), write);
}

class RunLineageEvents implements RunLineage {
  private readonly emitter: LineageEmitter;
  private readonly refreshJob: JobRef;
  private readonly refreshRunId = newRunId();
  private readonly root?: Lineage['root'];
  private readonly viewRuns = new Map<string, string>();
  private names?: DatasetNames;
  private secrets: readonly string[] = [];
  private catalog?: LineageCatalog;

  constructor(private readonly settings: LineageSettings, env: Env, readonly reserveMs: number, write: (line: string) => void) {
    this.emitter = new LineageEmitter(lineageTransport(settings.transport, write));
    const { execution, namespace } = settings;
    // Outside an execution (a direct invocation), the jobs are named after the function or the task family.
    const name = execution?.stateMachineName ?? env.AWS_LAMBDA_FUNCTION_NAME ?? env[RefreshEnv.TASK_FAMILY] ?? 'itc-orchestrator';
    this.refreshJob = { namespace, name: `${name}.refresh` };
    if (execution) {
      this.root = {
        runId: staticRunId(new Date(execution.executionStartTime), execution.executionArn),
        job: { namespace, name: execution.stateMachineName },
      };
    }
    const facets = this.root ? parentFacet({ parent: this.root, root: this.root }) : {};
    this.emitter.emit(this.refreshRunId, () => runEvent('START', this.refreshRunId, this.refreshRunJob(), facets));
  }

  private refreshRunJob() {
    return { ...this.refreshJob, facets: { jobType: jobTypeFacet('TASK') } };
  }

  connected(connection: ConnectionSettings): void {
    const { host, port, database } = connection.config;
    const namespace = this.settings.datasetNamespace ?? `postgres://${(host ?? 'localhost').toLowerCase()}:${port ?? DEFAULT_PORT}`;
    this.names = new DatasetNames(namespace, database ?? '');
    this.secrets = connection.secrets;
  }

  async planned(client: ClientBase, plan: readonly PlannedRefresh[]): Promise<void> {
    if (plan.length === 0) return;
    try {
      this.catalog = await readLineageCatalog(client, plan.map((step) => step.view.oid));
    } catch (error) {
      logger.warn('The lineage of the views could not be read from the catalog; their events name no inputs', { error: (error as Error).message });
    }
  }

  viewStarted(step: PlannedRefresh): void {
    if (this.viewRuns.has(step.view.qualifiedName)) return;
    const runId = newRunId();
    this.viewRuns.set(step.view.qualifiedName, runId);
    this.emitter.emit(runId, () => this.viewEvent('START', runId, step, {}));
  }

  viewDone(step: PlannedRefresh, outcome: ViewOutcome): void {
    // A view skipped or failed before any attempt starts and ends at once, so the history shows it with the reason.
    this.viewStarted(step);
    const runId = this.viewRuns.get(step.view.qualifiedName)!;
    const reason = redact(outcome.reason ?? '', this.secrets);
    const type = outcome.status === 'refreshed' ? 'COMPLETE' : outcome.status === 'failed' ? 'FAIL' : 'ABORT';
    this.emitter.emit(runId, () => this.viewEvent(type, runId, step, outcome.status === 'refreshed' ? {} : errorFacet(reason)));
  }

  private viewEvent(type: 'START' | 'COMPLETE' | 'FAIL' | 'ABORT', runId: string, step: PlannedRefresh, facets: Record<string, object>) {
    const catalog = this.catalog;
    const facts = catalog?.views.get(step.view.oid);
    const names = this.names ?? new DatasetNames(this.settings.datasetNamespace ?? 'postgres://localhost:5432', '');
    const job = viewJob({ namespace: this.settings.namespace, name: `${this.refreshJob.name}.${names.name(step.view.schema, step.view.name)}` }, facts);
    const refreshRun = { runId: this.refreshRunId, job: this.refreshJob };
    const runFacets = {
      ...parentFacet({ parent: refreshRun, root: this.root ?? refreshRun }),
      ...type !== 'START' && catalog ? processingEngineFacet(catalog.serverVersion) : {},
      ...facets,
    };
    return runEvent(type, runId, job, runFacets, names.viewDatasets(step.view.schema, step.view.name, facts));
  }

  async finish(result: { report: RefreshReport } | { error: unknown }): Promise<LineageTotals> {
    const parent = this.root ? parentFacet({ parent: this.root, root: this.root }) : {};
    if ('report' in result) {
      const { status, lock, totals, selection } = result.report;
      const why = { basis: selection.basis, ...selection.reason ? { reason: selection.reason } : {} };
      const facet = refreshFacet({ status, lock, totals, selection: why });
      this.emitter.emit(this.refreshRunId, () => runEvent('COMPLETE', this.refreshRunId, this.refreshRunJob(), { ...parent, ...facet }));
    } else {
      const { name, message } = result.error as Error;
      const facets = { ...parent, ...refreshFacet({ status: 'failed', errorName: String(name) }), ...errorFacet(redact(String(message), this.secrets)) };
      this.emitter.emit(this.refreshRunId, () => runEvent('FAIL', this.refreshRunId, this.refreshRunJob(), facets));
    }
    const { lastError, ...totals } = await this.emitter.drain(this.reserveMs);
    recordLineage(totals);
    if (totals.failed > 0 || totals.dropped > 0) logger.warn('Lineage events not sent', { lineage: totals, lastError });
    else logger.info('Lineage events sent', { lineage: totals });
    return totals;
  }
}
