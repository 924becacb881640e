import { statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { RefreshEnv } from '../../src/refresh-contract';
import { BenchContext, withConnection } from '../context';
import { HandlerProcessResult, successfulReports } from '../handler-process';
import { median, round } from '../stats';

/**
 * Section 3: the shipped handler bundle's size and cold start. A cold init is a fresh `node` process
 * that loads the bundle and completes its first invocation against the running database. It is
 * compared with a naive bundle of the same handler: AWS SDK bundled in, not minified.
 */
export interface HandlerSettings {
  /** Measured cold inits per bundle, after one discarded warm-up each. */
  readonly runs: number;
}

export interface BundleMeasurement {
  readonly label: string;
  readonly path: string;
  readonly bytes: number;
  /** Medians over the runs, in ms since the process started. */
  readonly coldInitMs: number;
  readonly loadMs: number;
  readonly firstInvocationMs: number;
  /** Spawn to exit, as the parent sees it. */
  readonly processMs: number;
  readonly coldInitRunsMs: number[];
}

export interface HandlerResult {
  readonly runs: number;
  readonly shipped: BundleMeasurement;
  readonly naive: BundleMeasurement;
  /** Shipped cold init over naive cold init. */
  readonly coldInitRatio: number;
}

const HANDLER_ENTRY = join(__dirname, '..', '..', 'src', 'refresh.lambda.ts');
const REPO_ROOT = join(__dirname, '..', '..');

export async function benchmarkHandler(context: BenchContext, settings: HandlerSettings): Promise<HandlerResult> {
  const naiveBundle = join(context.workDir, 'naive-bundle', 'index.js');
  context.log('handler: building the naive bundle (AWS SDK included, not minified)');
  await build({
    entryPoints: [HANDLER_ENTRY],
    outfile: naiveBundle,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    // pg's optional native binding is never installed, in either bundle.
    external: ['pg-native'],
    minify: false,
    tsconfig: join(REPO_ROOT, 'test', 'tsconfig.json'),
    logLevel: 'error',
  });

  const database = await context.server.createDatabase('bench_handler');
  await withConnection(database, async (client) => {
    await client.query('CREATE SCHEMA init');
    await client.query('CREATE MATERIALIZED VIEW init.ping AS SELECT 1 AS ok');
  });

  const bundles = [
    { label: 'shipped (minified, AWS SDK external)', path: context.bundle },
    { label: 'naive (AWS SDK bundled, not minified)', path: naiveBundle },
  ];
  const samples = new Map<string, HandlerProcessResult[]>(bundles.map((bundle) => [bundle.path, []]));
  const coldInit = async (bundle: string) => {
    const result = await context.handlers.run({ bundle, database, settings: { [RefreshEnv.VIEWS]: JSON.stringify(['init.ping']) } });
    successfulReports(result, `cold init of ${relative(REPO_ROOT, bundle)}`);
    return result;
  };

  // One warm-up each fills the OS file cache; then the bundles alternate so background load hits both alike.
  for (const bundle of bundles) {
    await coldInit(bundle.path);
  }
  for (let run = 1; run <= settings.runs; run++) {
    for (const bundle of bundles) {
      samples.get(bundle.path)!.push(await coldInit(bundle.path));
    }
    context.log(`handler: cold init run ${run}/${settings.runs}`);
  }

  const [shipped, naive] = bundles.map((bundle): BundleMeasurement => {
    const results = samples.get(bundle.path)!;
    const coldInitRuns = results.map((result) => result.invocations[0].startedAtMs + result.invocations[0].durationMs);
    return {
      label: bundle.label,
      path: relative(REPO_ROOT, bundle.path),
      bytes: statSync(bundle.path).size,
      coldInitMs: round(median(coldInitRuns)),
      loadMs: round(median(results.map((result) => result.loadMs))),
      firstInvocationMs: round(median(results.map((result) => result.invocations[0].durationMs))),
      processMs: round(median(results.map((result) => result.processMs))),
      coldInitRunsMs: coldInitRuns.map((ms) => round(ms)),
    };
  });
  return { runs: settings.runs, shipped, naive, coldInitRatio: round(shipped.coldInitMs / naive.coldInitMs, 2) };
}
