/**
 * `npx projen demo`: runs the orchestration locally, end to end.
 *
 * 1. starts an embedded PostgreSQL and creates the sample warehouse;
 * 2. synthesizes the example stack (an ItcOrchestrator with a function, a Glue job, a nested workflow and an ECS task);
 * 3. runs the synthesized state machine definition in aws-local-stepfunctions, with the sample
 *    pipelines in place of the pipeline functions and the real refresh bundle in local mode; with
 *    `--compute fargate` the refresh runs as the ECS task: the task definition's entry point in a child process;
 * 4. prints the run: states, timeline, views; checks every view matches its tables; writes the refresh run's
 *    timeline as SVG (`--timeline <file>`, by default demo/.out/refresh-timeline.svg);
 * 5. runs again with `refresh.onlyChangedTables` (the refresh as a Lambda function): Demand loads a batch and
 *    reports `warehouse.demand`, VerifyPlus has nothing new; only the views downstream of demand are refreshed;
 * 6. runs with `refresh.detectChangesInDatabase`: a plain SQL write refreshes only the views downstream of it, and
 *    a run after no change refreshes nothing.
 *
 * Everything it starts lives under one temporary directory, removed on exit, also on Ctrl-C.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { runDetectedChanges } from './detected-changes';
import { REFRESH_BUNDLE } from '../local/lambda';
import { LineageReceiver, OpenLineageValidator } from '../local/openlineage';
import { LocalOrchestration } from '../local/orchestration';
import { PostgresServer, startPostgres } from '../local/postgres';
import { formatRunReport } from '../local/report';
import { createWarehouse, readViews, samplePipelines, staleViews, WAREHOUSE_VIEWS } from '../local/warehouse';
import { LineageTransport, RefreshCompute } from '../src';
import type { RefreshReport } from '../src/shared/contract';
import { renderTimelineSvg } from '../src/timeline/timeline';

const INTERRUPTED_EXIT_CODE = 130;
const CLEANUP_TIMEOUT_MS = 10_000;
/** Where the demo writes the first run's timeline unless `--timeline` names another file. */
const DEFAULT_TIMELINE = join(__dirname, '.out', 'refresh-timeline.svg');
/** Where the demo writes the lineage events the local receiver got, with `--lineage`. */
const LINEAGE_EVENTS = join(__dirname, '.out', 'lineage-events.jsonl');

let workDir: string | undefined;
let serverStarting: Promise<PostgresServer> | undefined;
let orchestration: LocalOrchestration | undefined;
let cleaningUp: Promise<void> | undefined;
let interrupted = false;

/**
 * Takes over Ctrl-C and SIGTERM: the demo stops its PostgreSQL (once initdb has finished with the data
 * directory, if it was still running) and removes its work directory before it exits.
 */
async function handleSignals(): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      interrupted = true;
      console.error(`\n${signal}: stopping the local PostgreSQL and removing ${workDir ?? 'the work directory'}`);
      void cleanUp().finally(() => process.exit(INTERRUPTED_EXIT_CODE));
    });
  }
  process.on('exit', removeWorkDir);
}

/**
 * The server's data directory and the synthesis output are created under os.tmpdir(): pointing
 * it at a directory of our own lets one removal clean up everything, however the demo ends.
 */
function createWorkDir(): void {
  workDir = mkdtempSync(join(tmpdir(), 'itc-demo-'));
  // PostgreSQL runs as its own user when the demo runs as root, and must reach its data directory.
  chmodSync(workDir, 0o755);
  process.env.TMPDIR = workDir;
}

/** Stops what is still running and removes the work directory. Runs once. */
function cleanUp(): Promise<void> {
  cleaningUp ??= (async () => {
    const stopping = (async () => {
      await orchestration?.close();
      // A server still starting is stopped once started; if its start fails, it removes its own directory.
      const server = await serverStarting?.catch(() => undefined);
      await server?.stop();
    })();
    await Promise.race([stopping.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, CLEANUP_TIMEOUT_MS).unref())]);
    removeWorkDir();
  })();
  return cleaningUp;
}

/** The last resort, synchronous so it also runs on process.exit(): no server or directory survives. */
function removeWorkDir(): void {
  if (workDir === undefined || !existsSync(workDir)) return;
  for (const entry of readdirSync(workDir)) {
    const pidFile = join(workDir, entry, 'postmaster.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    try {
      // Immediate shutdown: the postmaster stops its backends and exits.
      process.kill(pid, 'SIGQUIT');
    } catch {
      // already gone
    }
  }
  try {
    rmSync(workDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (err) {
    console.error(`Could not remove ${workDir}: ${(err as Error).message}`);
  }
}

type Compute = 'lambda' | 'fargate';

/**
 * The demo's options: `--compute lambda` (the default) or `--compute fargate`; `--timeline <file>`, where the
 * refresh run's timeline goes; `--lineage`, OpenLineage events to a local receiver, or `--lineage <url>`, to an
 * OpenLineage receiver such as Marquez (`http://localhost:5000`).
 */
export function readOptions(argv: readonly string[]): { compute: Compute; timeline: string; lineage?: string } {
  const args = argv.filter((arg) => arg !== '--');
  let compute: string = 'lambda';
  let timeline = DEFAULT_TIMELINE;
  let lineage: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    if (flag === '--compute') {
      compute = inline ?? args[++i] ?? '';
    } else if (flag === '--timeline') {
      const file = inline ?? args[++i] ?? '';
      if (file === '') throw new Error('--timeline needs a file name, e.g. --timeline run.svg');
      timeline = resolvePath(file);
    } else if (flag === '--lineage') {
      lineage = inline ?? (args[i + 1]?.startsWith('http') ? args[++i] : 'local');
    } else {
      throw new Error(`Unknown option ${JSON.stringify(args[i])}: the demo takes --compute lambda or --compute fargate, --timeline <file> and --lineage [<url>]`);
    }
  }
  if (compute !== 'lambda' && compute !== 'fargate') {
    throw new Error(`--compute must be lambda or fargate, got ${JSON.stringify(compute)}`);
  }
  return { compute, timeline, lineage };
}

async function main(): Promise<boolean> {
  const began = Date.now();
  const { compute, timeline, lineage } = readOptions(process.argv.slice(2));
  await handleSignals();
  createWorkDir();
  if (!existsSync(REFRESH_BUNDLE)) {
    throw new Error(`${relative(process.cwd(), REFRESH_BUNDLE)} is missing: run \`npx projen bundle\` (\`npx projen demo\` does)`);
  }

  console.log('Starting an embedded PostgreSQL ...');
  serverStarting = startPostgres();
  const server = await serverStarting;
  const database = await server.createDatabase('itc_demo');
  await createWarehouse(database);
  console.log(`  PostgreSQL on ${server.host}:${server.port}, database itc_demo`);
  console.log(`  Sample warehouse: tables demand and verify_plus, ${WAREHOUSE_VIEWS.length} materialized views`);
  console.log(`  Not up to date before the run: ${(await staleViews(database)).join(', ')}`);

  const receiver = lineage === 'local' ? await LineageReceiver.start() : undefined;
  const lineageUrl = receiver?.url ?? lineage;
  console.log('\nSynthesizing the example stack ...');
  const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  orchestration = LocalOrchestration.create({
    database,
    pipelineWorkMs: 600,
    refreshCompute: compute === 'fargate' ? RefreshCompute.fargate() : undefined,
    // Four kinds of pipeline: a function, a Glue job, a nested workflow and an ECS task.
    pipelineKinds: 'mixed',
    jobs: { Orders: () => pause(400), Dbt: () => pause(300) },
    lineage: lineageUrl ? { transport: LineageTransport.http({ url: lineageUrl }) } : undefined,
  });
  const { stateMachine, stack } = orchestration;
  console.log(`  ${stack.stackName}: state machine ${stateMachine.name} (${Object.keys(stateMachine.definition.States as object).length} top-level states)`);
  console.log('  Task states run locally:');
  console.log('    Run pipeline Demand (a Lambda function) -> the sample pipeline that inserts a batch of demand rows');
  console.log('    Run pipeline Verify (a nested workflow, startExecution.sync:2) -> its own definition, whose function is the sample');
  console.log('      pipeline that inserts a batch of verify_plus rows');
  console.log('    Run pipeline Orders (a Glue job, startJobRun.sync) -> a local stand-in for Glue, whose job run takes 0.4 s');
  console.log('    Run the data tests (an ECS task, runTask.sync) -> a local stand-in for ECS, whose task takes 0.3 s');
  if (compute === 'fargate') {
    console.log('    Refresh materialized views -> the ECS task: the task definition\'s entry point (the bootstrap) in a child process,');
    console.log(`      which fetches ${relative(process.cwd(), REFRESH_BUNDLE)} from the S3 asset and answers the task token (local stand-ins for S3 and Step Functions)`);
  } else {
    console.log(`    Refresh materialized views -> ${relative(process.cwd(), REFRESH_BUNDLE)} in local mode (PG* variables from the template)`);
  }
  console.log('    List running executions -> the executions of this local runner');

  console.log('\nRunning the state machine in aws-local-stepfunctions ...\n');
  const execution = await orchestration.run({ batch: 'demo-1' }, { name: 'demo-1' });
  if (interrupted) return false;
  console.log(formatRunReport(execution, stateMachine.definition));
  if (execution.status === 'SUCCEEDED') writeTimeline(execution.output as RefreshReport, timeline);
  if (lineageUrl) console.log(`\nLineage events to ${lineageUrl}: ${JSON.stringify((execution.output as RefreshReport | undefined)?.lineage)}`);
  if (receiver) {
    const valid = checkLineage(receiver);
    await receiver.close();
    if (!valid) return false;
  }

  const stale = await staleViews(database);
  console.log('');
  if (execution.status !== 'SUCCEEDED' || stale.length > 0) {
    console.log(`The run did not bring every view up to date: ${execution.status}; not up to date: ${stale.join(', ') || 'none'}`);
    return false;
  }
  console.log('Every view matches its tables, including the rows the pipelines inserted.');

  if (!await runChangedTablesOnly(database)) return false;
  await orchestration?.close();
  if (!await runDetectedChanges(database, (created) => { orchestration = created; }, () => interrupted)) return false;
  console.log(`\nDone in ${((Date.now() - began) / 1000).toFixed(1)} s.`);
  return true;
}

/**
 * Validates each event the local receiver got against the pinned OpenLineage schemas, prints the jobs, and writes
 * the events, one JSON line each. Returns whether every event is valid.
 */
function checkLineage(receiver: LineageReceiver): boolean {
  const validator = new OpenLineageValidator();
  mkdirSync(dirname(LINEAGE_EVENTS), { recursive: true });
  writeFileSync(LINEAGE_EVENTS, receiver.events.map((event) => `${JSON.stringify(event)}\n`).join(''));
  let valid = true;
  for (const event of receiver.events) {
    const problems = validator.problems(event);
    console.log(`  ${event.eventType.padEnd(8)} ${event.job.name}${event.inputs?.length ? ` <- ${event.inputs.map((input: { name: string }) => input.name).join(', ')}` : ''}`);
    for (const problem of problems) console.log(`    invalid: ${problem}`);
    valid &&= problems.length === 0;
  }
  console.log(`${receiver.events.length} lineage events, ${valid ? 'each valid' : 'NOT all valid'} against the OpenLineage schemas: `
    + `${relative(process.cwd(), LINEAGE_EVENTS)}`);
  return valid;
}

/** Writes the refresh run's timeline, as `itc-orchestrator-timeline` does from an execution's output. */
function writeTimeline(report: RefreshReport, file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, renderTimelineSvg(report));
  console.log(`\nThe refresh run's timeline (views by dependency chain, critical path outlined): ${relative(process.cwd(), file)}`);
}

/**
 * A second run with `refresh: { schemas: ['warehouse'], onlyChangedTables: true }`: each pipeline returns the
 * tables it changed, and only the views reading them are refreshed.
 */
async function runChangedTablesOnly(database: Parameters<typeof createWarehouse>[0]): Promise<boolean> {
  console.log('\nSynthesizing the example stack again, with refresh.onlyChangedTables ...');
  await orchestration?.close();
  const sample = samplePipelines(database, { workMs: 300 });
  orchestration = LocalOrchestration.create({
    database,
    refresh: { schemas: ['warehouse'], onlyChangedTables: true },
    pipelines: {
      Demand: async (event, context) => ({ ...(await sample.Demand(event, context) as object), changedTables: ['warehouse.demand'] }),
      VerifyPlus: () => ({ pipeline: 'VerifyPlus', inserted: 0, changedTables: [] }),
    },
  });
  console.log('  Demand loads a batch and returns {"changedTables": ["warehouse.demand"]}; VerifyPlus has nothing new: {"changedTables": []}');
  const before = await readViews(database);

  console.log('\nRunning the state machine again ...\n');
  const execution = await orchestration.run({ batch: 'demo-2' }, { name: 'demo-2' });
  if (interrupted) return false;
  console.log(formatRunReport(execution, orchestration.stateMachine.definition));

  const after = await readViews(database);
  const changed = WAREHOUSE_VIEWS.filter((view) => JSON.stringify(after[view]) !== JSON.stringify(before[view]));
  const report = execution.output as RefreshReport | undefined;
  const stale = await staleViews(database);
  console.log('');
  for (const table of report?.selection?.tables ?? []) {
    console.log(`  ${table.table} changed: selected ${table.selected} view(s): ${table.views.join(', ')}`);
  }
  const untouched = WAREHOUSE_VIEWS.filter((view) => !report?.views.some((entry) => entry.view === view));
  console.log(`  Refreshed ${report?.totals.refreshed ?? 0} of ${WAREHOUSE_VIEWS.length} views; not refreshed, as nothing they read changed: ${untouched.join(', ')}`);
  console.log(`  Views whose contents changed: ${changed.join(', ') || 'none'}`);
  if (execution.status === 'SUCCEEDED' && stale.length === 0 && untouched.length > 0) {
    console.log('Every view matches its tables again, after refreshing only part of the warehouse.');
    return true;
  }
  console.log(`The partial run did not leave every view up to date: ${execution.status}; not up to date: ${stale.join(', ') || 'none'}`);
  return false;
}

/**
 * Lets a signal that arrived while a synchronous child process ran (the binaries' checks) reach its handler,
 * which runs on a later turn of the event loop than the failure it caused.
 */
function signalsDelivered(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 100));
}

// Ctrl-C reaches the servers and initdb too, so what was starting can fail before this process has
// handled its own SIGINT: whether the demo was interrupted is read once the cleanup is done.
main()
  .then(async (ok) => {
    await signalsDelivered();
    await cleanUp();
    process.exit(interrupted ? INTERRUPTED_EXIT_CODE : ok ? 0 : 1);
  })
  .catch(async (err: unknown) => {
    await signalsDelivered();
    await cleanUp();
    // After Ctrl-C, whatever was starting fails; that is no news.
    if (!interrupted) console.error(err);
    process.exit(interrupted ? INTERRUPTED_EXIT_CODE : 1);
  });
