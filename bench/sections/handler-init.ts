import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { withClient } from '../../local/pg';
import { RefreshEnv } from '../../src/shared/contract';
import { BenchContext } from '../context';
import { HandlerProcessResult, successfulReports } from '../handler-process';
import { SecretsManagerStandIn } from '../secrets-manager-stand-in';
import { median, round } from '../stats';

/**
 * Section 3: the shipped handler bundle's size and cold start. A cold init is a fresh `node` process
 * that loads the bundle and completes its first invocation (one small refresh) against the running
 * database. It is compared with a naive bundle of the same handler: AWS SDK bundled in, not minified.
 * Both connect two ways: local mode (libpq variables) and secret mode, as deployed, where the
 * AWS SDK loads and reads the secret from a loopback Secrets Manager stand-in.
 */
export interface HandlerSettings {
  /** Measured cold inits per bundle and mode, after one discarded warm-up each. */
  readonly runs: number;
}

export type ConnectionMode = 'local' | 'secret';

export interface ColdInit {
  /** Medians over the runs, in ms since the process started. */
  readonly coldInitMs: number;
  /** Node.js start-up, before the bundle loads: the same for every bundle. */
  readonly nodeStartMs: number;
  readonly loadMs: number;
  readonly firstInvocationMs: number;
  /** Spawn to exit, as the parent sees it. */
  readonly processMs: number;
  readonly coldInitRunsMs: number[];
}

export interface BundleMeasurement {
  readonly label: string;
  readonly path: string;
  readonly bytes: number;
  readonly coldInit: Record<ConnectionMode, ColdInit>;
}

export interface HandlerResult {
  readonly runs: number;
  readonly shipped: BundleMeasurement;
  readonly naive: BundleMeasurement;
  /** Shipped cold init over naive cold init, per connection mode. */
  readonly coldInitRatio: Record<ConnectionMode, number>;
  /** Loading the AWS SDK's Secrets Manager client alone, from node_modules as the Lambda runtime has it (median). */
  readonly sdkClientLoadMs: number;
}

const REPO_ROOT = join(__dirname, '..', '..');
const HANDLER_ENTRY = join(REPO_ROOT, 'src', 'engine', 'refresh.lambda.ts');
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:itc-bench-AbCdEf';
export const CONNECTION_MODES: readonly ConnectionMode[] = ['local', 'secret'];

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
  await withClient(database, async (client) => {
    await client.query('CREATE SCHEMA init');
    await client.query('CREATE MATERIALIZED VIEW init.ping AS SELECT 1 AS ok');
  });
  const secretsManager = await SecretsManagerStandIn.start(SECRET_ARN, database);

  try {
    const bundles = [
      { label: 'shipped: minified, AWS SDK external', path: context.bundle },
      { label: 'naive: AWS SDK bundled, not minified', path: naiveBundle },
    ];
    const samples = new Map<string, HandlerProcessResult[]>();
    const key = (bundle: string, mode: ConnectionMode) => `${mode} ${bundle}`;
    const coldInit = async (bundle: string, mode: ConnectionMode) => {
      const secretReads = secretsManager.requests;
      const result = await context.handlers.run({
        bundle,
        database,
        secret: mode === 'secret' ? { arn: SECRET_ARN, endpoint: secretsManager.endpoint } : undefined,
        settings: { [RefreshEnv.VIEWS]: JSON.stringify(['init.ping']) },
      });
      const what = `cold init of ${relative(REPO_ROOT, bundle)} in ${mode} mode`;
      successfulReports(result, what);
      const expectedReads = mode === 'secret' ? 1 : 0;
      if (secretsManager.requests - secretReads !== expectedReads) {
        throw new Error(`${what}: expected ${expectedReads} Secrets Manager read(s), saw ${secretsManager.requests - secretReads}`);
      }
      return result;
    };

    // One warm-up each fills the OS file cache; then bundles and modes alternate so background load hits all alike.
    for (const mode of CONNECTION_MODES) {
      for (const bundle of bundles) {
        await coldInit(bundle.path, mode);
      }
    }
    for (let run = 1; run <= settings.runs; run++) {
      for (const mode of CONNECTION_MODES) {
        for (const bundle of bundles) {
          const results = samples.get(key(bundle.path, mode)) ?? [];
          results.push(await coldInit(bundle.path, mode));
          samples.set(key(bundle.path, mode), results);
        }
      }
      context.log(`handler: cold init run ${run}/${settings.runs}`);
    }

    const [shipped, naive] = bundles.map((bundle): BundleMeasurement => ({
      label: bundle.label,
      path: relative(REPO_ROOT, bundle.path),
      bytes: statSync(bundle.path).size,
      coldInit: {
        local: summarize(samples.get(key(bundle.path, 'local'))!),
        secret: summarize(samples.get(key(bundle.path, 'secret'))!),
      },
    }));
    const sdkLoads: number[] = [];
    for (let run = 0; run < settings.runs; run++) {
      sdkLoads.push(await moduleLoadMs('@aws-sdk/client-secrets-manager'));
    }
    return {
      runs: settings.runs,
      shipped,
      naive,
      coldInitRatio: {
        local: round(shipped.coldInit.local.coldInitMs / naive.coldInit.local.coldInitMs, 2),
        secret: round(shipped.coldInit.secret.coldInitMs / naive.coldInit.secret.coldInitMs, 2),
      },
      sdkClientLoadMs: round(median(sdkLoads)),
    };
  } finally {
    await secretsManager.stop();
  }
}

function summarize(results: HandlerProcessResult[]): ColdInit {
  const coldInitRuns = results.map((result) => result.invocations[0].startedAtMs + result.invocations[0].durationMs);
  return {
    coldInitMs: round(median(coldInitRuns)),
    nodeStartMs: round(median(results.map((result) => result.loadStartMs))),
    loadMs: round(median(results.map((result) => result.loadMs))),
    firstInvocationMs: round(median(results.map((result) => result.invocations[0].durationMs))),
    processMs: round(median(results.map((result) => result.processMs))),
    coldInitRunsMs: coldInitRuns.map((ms) => round(ms)),
  };
}

/** How long a fresh `node` process takes to require one package, resolved from the repository's node_modules. */
async function moduleLoadMs(moduleName: string): Promise<number> {
  const script = [
    "const { performance } = require('node:perf_hooks');",
    'const started = performance.now();',
    `require(${JSON.stringify(moduleName)});`,
    'process.stdout.write(String(performance.now() - started));',
  ].join('\n');
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: REPO_ROOT });
  return Number(stdout);
}
