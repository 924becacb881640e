/**
 * Set-up of each worker of `npx projen test:unit`, after its loader (light-runner-loader.mjs). That task runs the unit
 * tests on jest-light-runner: the files a worker runs share one worker thread and its module cache, so aws-cdk-lib loads once per worker instead of once per file
 * (most of a synthesizing test file's time under jest's own runner). That runner reads no test environment and sets
 * no timeout, so this file gives the worker what test/setup/environment.ts gives each file under jest's runner:
 * - a temporary folder of its own, inside the run's, removed when the worker exits;
 * - the unit project's test timeout (`testEnvironmentOptions.testTimeout` in .projenrc.ts), for tests and hooks.
 * `npx projen test` runs the same files on jest's own runner, each in its own module registry, with coverage.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bind as bindEach } from 'jest-each';
import { makeTempFolder, useTempFolder, WORKER_FOLDER_PREFIX } from './temp-folder';

type TestFn = (this: unknown, ...args: unknown[]) => unknown;
type Register = (name: string, fn: TestFn, timeout?: number) => unknown;
type Hook = (fn: TestFn, timeout?: number) => unknown;

const UNIT_PROJECT = 'unit';

/** The unit project's timeout, as package.json (written by projen from .projenrc.ts) declares it. */
function projectTimeout(): number {
  const config = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    jest: { projects: Array<{ displayName: string; testEnvironmentOptions?: { testTimeout?: number } }> };
  };
  const timeout = config.jest.projects.find((project) => project.displayName === UNIT_PROJECT)?.testEnvironmentOptions?.testTimeout;
  if (typeof timeout !== 'number') throw new Error(`package.json: the jest project "${UNIT_PROJECT}" declares no testEnvironmentOptions.testTimeout`);
  return timeout;
}

/** `fn`, failing once it has run `ms` without settling, as jest's runner fails it. */
function withTimeout(fn: TestFn, ms: number, what: string): TestFn {
  // A function that takes jest's `done` callback settles through it: the runner calls it as it is.
  if (fn.length >= 1) return fn;
  return function (this: unknown) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Exceeded timeout of ${ms} ms for ${what}`)), ms);
      Promise.resolve().then(() => fn.call(this)).then(resolve, reject).finally(() => clearTimeout(timer));
    });
  };
}

const timeout = projectTimeout();
const globals = globalThis as unknown as Record<'test' | 'it', Register & Record<string, unknown>> & Record<string, Hook>;

for (const name of ['test', 'it'] as const) {
  const register = globals[name];
  const timed = (original: Register): Register => (title, fn, ms) => original(title, withTimeout(fn, ms ?? timeout, `the test "${title}"`), ms);
  const only = timed(register.only as Register);
  const wrapped = Object.assign(timed(register), register, {
    only: Object.assign(only, register.only as object, { each: bindEach(only as never) }),
  });
  wrapped.each = bindEach(wrapped as never);
  globals[name] = wrapped;
}
for (const name of ['beforeAll', 'afterAll', 'beforeEach', 'afterEach']) {
  const hook = globals[name];
  globals[name] = (fn, ms) => hook(withTimeout(fn, ms ?? timeout, `a ${name} hook`), ms);
}

const workerFolder = makeTempFolder(WORKER_FOLDER_PREFIX);
useTempFolder(workerFolder);
// A worker ends when the run does; the run's global teardown removes what an ending worker did not.
process.on('exit', () => rmSync(workerFolder, { recursive: true, force: true }));
