/**
 * Node's test environment with two additions for every project of the run:
 * - a temporary folder of its own for each test file, removed once the file's tests and hooks are done: every App
 *   without `outdir` in the file synthesizes there, and whatever else the file leaves goes with it;
 * - the project's test timeout, `testEnvironmentOptions.testTimeout` in .projenrc.ts (jest itself takes one timeout
 *   for the whole run), unless `--testTimeout` is given.
 */
import { rmSync } from 'node:fs';
import type { Circus } from '@jest/types';
import { TestEnvironment } from 'jest-environment-node';
import { makeTempFolder, useTempFolder } from './temp-folder';

type EnvironmentConfig = ConstructorParameters<typeof TestEnvironment>[0];
type EnvironmentContext = ConstructorParameters<typeof TestEnvironment>[1];

export default class ItcTestEnvironment extends TestEnvironment {
  private readonly testTimeout: number | undefined;
  private dir: string | undefined;
  private outer: string | undefined;

  public constructor(config: EnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    const projectTimeout = config.projectConfig.testEnvironmentOptions.testTimeout;
    this.testTimeout = config.globalConfig.testTimeout ? undefined : (projectTimeout as number | undefined);
  }

  public async setup(): Promise<void> {
    await super.setup();
    this.outer = process.env.TMPDIR;
    this.dir = makeTempFolder('itc-test-file-');
    // os.tmpdir() reads the worker's own environment; the test file sees a copy of it, kept the same.
    useTempFolder(this.dir);
    this.global.process.env.TMPDIR = this.dir;
  }

  public async teardown(): Promise<void> {
    useTempFolder(this.outer);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    await super.teardown();
  }

  public handleTestEvent(event: Circus.Event, state: Circus.State): void {
    // Before the file runs: a jest.setTimeout() in the file still wins.
    if (event.name === 'setup' && this.testTimeout !== undefined) {
      state.testTimeout = this.testTimeout;
    }
  }
}
