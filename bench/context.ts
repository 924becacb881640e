import type { HandlerProcesses } from './handler-process';
import type { PostgresServer } from '../local/postgres';

/** What every benchmark section runs with. */
export interface BenchContext {
  readonly server: PostgresServer;
  readonly handlers: HandlerProcesses;
  /** Absolute path of the shipped bundle, `assets/engine/refresh.lambda/index.js`. */
  readonly bundle: string;
  /** Scratch directory (gitignored). */
  readonly workDir: string;
  /** CPU cores available to this process: the `cores` of the lower bound. */
  readonly cores: number;
  /** Progress, to stderr; stdout carries only the results table. */
  log(message: string): void;
}
