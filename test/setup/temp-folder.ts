/**
 * Every test run writes its temporary files into a folder of its own, removed when the run ends, so a run leaves the
 * machine's temporary folder as it found it: a CDK App without `outdir` synthesizes into a fresh `cdk.out*` folder
 * under os.tmpdir(), and the local runtime puts data directories, pooler configs and task work directories there.
 */
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * As /tmp: anyone may enter and create, since PostgreSQL and pgbouncer run as their own users when the tests run as
 * root, and must reach the data directories and configs made inside.
 */
const SHARED_TEMP_MODE = 0o1777;

/** The folder of a worker of `test:unit` (test/setup/light-runner.ts), removed with everything in it when it exits. */
export const WORKER_FOLDER_PREFIX = 'itc-test-worker-';

/** A fresh folder in the current temporary folder, open like /tmp. */
export function makeTempFolder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, SHARED_TEMP_MODE);
  return dir;
}

/** Points os.tmpdir() (which reads TMPDIR on every call) and every child process started from here at `dir`. */
export function useTempFolder(dir: string | undefined): void {
  if (dir === undefined) {
    delete process.env.TMPDIR;
  } else {
    process.env.TMPDIR = dir;
  }
}

interface RunTempFolder {
  readonly dir: string;
  /** TMPDIR as it was before the run. */
  readonly outer: string | undefined;
  /** The jest projects of this run that set it up and have not torn it down yet. */
  projects: number;
}

/** Global setup and teardown run in the same process, one after the other for each project of the run. */
const RUN_KEY = '__ITC_RUN_TEMP_FOLDER__';
const state = globalThis as { [RUN_KEY]?: RunTempFolder };

/** Gives the run its own temporary folder, or joins the one an earlier project of the same run made. */
export function startRunTempFolder(): void {
  const run = state[RUN_KEY];
  if (run) {
    run.projects += 1;
    return;
  }
  const outer = process.env.TMPDIR;
  const dir = makeTempFolder('itc-test-run-');
  useTempFolder(dir);
  state[RUN_KEY] = { dir, outer, projects: 1 };
}

/**
 * When the last project of the run is done: removes the run's folder and restores TMPDIR. What the tests left in it
 * is named, so a leak shows where it comes from, though it can no longer escape.
 */
export function endRunTempFolder(): void {
  const run = state[RUN_KEY];
  if (!run) return;
  run.projects -= 1;
  if (run.projects > 0) return;
  // A light-runner worker's folder goes with the worker, which may still be exiting: it is not a leak.
  const leftovers = readdirSync(run.dir).filter((entry) => !entry.startsWith(WORKER_FOLDER_PREFIX));
  if (leftovers.length > 0) {
    process.stderr.write(`The tests left ${leftovers.length} entries in their temporary folder (removed now): ${leftovers.sort().join(', ')}\n`);
  }
  rmSync(run.dir, { recursive: true, force: true });
  useTempFolder(run.outer);
  delete state[RUN_KEY];
}
