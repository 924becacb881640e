import { quoteValue } from './errors';
import { ConcurrentRefresh, OverlapPolicy, RefreshComputeKind, RefreshEnv, RefreshLimits, TlsMode } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';
import type { ViewDependency } from '../shared/refresh-policies';

/**
 * Default number of refreshes run at once.
 *
 * Four, because a refresh is one backend that alternates between CPU (the view's query, index builds) and I/O
 * (reading base tables, writing the new heap): four keep a small 2-vCPU instance busy and use most of an
 * 8-vCPU one, where the wide levels of a typical reporting DAG are a few views wide. More would mostly
 * time-slice the same CPUs, multiply `work_mem` and crowd out other clients. Each run opens concurrency + 1
 * connections (one holds the run lock), well inside the smallest instances' `max_connections`.
 */
export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_MAX_ATTEMPTS = 3;
/** How long a run waits for another run's lock under {@link OverlapPolicy.WAIT}, unless configured. */
export const DEFAULT_LOCK_WAIT_MS = 5 * 60_000;
/** `lock_timeout` per refresh, unless configured: a refresh waiting longer than this on readers' locks is retried. */
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

export interface RefreshConfig {
  /** Views named in the configuration (regclass syntax); undefined when not configured. */
  readonly views?: string[];
  /** Schemas whose materialized views are refreshed; undefined when not configured. */
  readonly schemas?: string[];
  readonly concurrency: number;
  readonly concurrentRefresh: ConcurrentRefresh;
  readonly overlapPolicy: OverlapPolicy;
  readonly lockWaitMs: number;
  readonly lockTimeoutMs: number;
  /** Undefined: bounded only by the invocation's remaining time. */
  readonly statementTimeoutMs?: number;
  readonly maxAttempts: number;
  readonly tlsMode: TlsMode;
  /** Dependencies the catalog does not record, declared in the configuration. */
  readonly extraDependencies: ViewDependency[];
  /** What runs the handler; a Lambda function unless configured. */
  readonly compute: RefreshComputeKind;
  /** Whether runs refresh only the views the database shows changed (with those the pipelines report). */
  readonly detectChanges: boolean;
}

type Env = Record<string, string | undefined>;

/** Reads and validates the refresh settings the construct put in the environment. */
export function readConfig(env: Env): RefreshConfig {
  return {
    views: stringList(env, RefreshEnv.VIEWS),
    schemas: stringList(env, RefreshEnv.SCHEMAS),
    concurrency: integer(env, RefreshEnv.CONCURRENCY, DEFAULT_CONCURRENCY, 1, RefreshLimits.MAX_CONCURRENCY),
    concurrentRefresh: oneOf(env, RefreshEnv.CONCURRENT_REFRESH, Object.values(ConcurrentRefresh), ConcurrentRefresh.AUTO),
    overlapPolicy: oneOf(env, RefreshEnv.OVERLAP_POLICY, Object.values(OverlapPolicy), OverlapPolicy.WAIT),
    lockWaitMs: integer(env, RefreshEnv.LOCK_WAIT_MS, DEFAULT_LOCK_WAIT_MS, 0),
    lockTimeoutMs: integer(env, RefreshEnv.LOCK_TIMEOUT_MS, DEFAULT_LOCK_TIMEOUT_MS, 1),
    statementTimeoutMs: optionalInteger(env, RefreshEnv.STATEMENT_TIMEOUT_MS, 1),
    maxAttempts: integer(env, RefreshEnv.MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS, 1, RefreshLimits.MAX_ATTEMPTS),
    tlsMode: oneOf<TlsMode>(env, RefreshEnv.TLS_MODE, ['verify-full', 'require', 'disable'], 'verify-full'),
    extraDependencies: extraDependencies(env),
    compute: oneOf<RefreshComputeKind>(env, RefreshEnv.COMPUTE, ['lambda', 'fargate'], 'lambda'),
    detectChanges: oneOf(env, RefreshEnv.DETECT_CHANGES, ['true', 'false'], 'false') === 'true',
  };
}

function extraDependencies(env: Env): ViewDependency[] {
  const setting = jsonSetting(env, RefreshEnv.EXTRA_DEPENDENCIES, `expected ${EXTRA_DEPENDENCIES_SHAPE}`);
  return setting ? parseExtraDependencies(setting.value, `environment variable ${RefreshEnv.EXTRA_DEPENDENCIES}`) : [];
}

/** A setting holding JSON, parsed; undefined when it is unset or blank. */
function jsonSetting(env: Env, key: string, expected: string): { raw: string; value: unknown } | undefined {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    return { raw, value: JSON.parse(raw) };
  } catch {
    throw invalidSetting(key, raw, expected);
  }
}

const EXTRA_DEPENDENCIES_SHAPE = 'an array of {"view": "schema.view", "dependsOn": ["schema.view", ...]}';

/**
 * Checks the shape of declared dependencies (names are resolved against the catalog later).
 * @param origin where they came from, for messages, e.g. `event.extraDependencies`
 */
export function parseExtraDependencies(value: unknown, origin: string): ViewDependency[] {
  if (!Array.isArray(value)) {
    throw new RefreshError('INVALID_REQUEST', `Invalid ${origin} ${quoteValue(value)}: expected ${EXTRA_DEPENDENCIES_SHAPE}`);
  }
  return value.map((item: unknown, index) => {
    const entry = item as { view?: unknown; dependsOn?: unknown } | null;
    const valid = typeof entry === 'object' && entry !== null && !Array.isArray(entry)
      && typeof entry.view === 'string'
      && Array.isArray(entry.dependsOn) && entry.dependsOn.length > 0 && entry.dependsOn.every((name) => typeof name === 'string');
    if (!valid) {
      throw new RefreshError('INVALID_REQUEST',
        `Invalid ${origin}[${index}]: expected {"view": "schema.view", "dependsOn": ["schema.view", ...]}, got ${quoteValue(item)}`);
    }
    return { view: entry.view as string, dependsOn: [...(entry.dependsOn as string[])] };
  });
}

function stringList(env: Env, key: string): string[] | undefined {
  const expected = 'expected a JSON array of strings';
  const setting = jsonSetting(env, key, expected);
  if (!setting) return undefined;
  const { raw, value } = setting;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw invalidSetting(key, raw, expected);
  }
  return value;
}

function optionalInteger(env: Env, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidSetting(key, raw, `expected an integer from ${min} to ${max}`);
  }
  return value;
}

function integer(env: Env, key: string, fallback: number, min: number, max?: number): number {
  return optionalInteger(env, key, min, max) ?? fallback;
}

function oneOf<T extends string>(env: Env, key: string, allowed: readonly T[], fallback: T): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw invalidSetting(key, raw, `expected one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

function invalidSetting(key: string, raw: string, expected: string): RefreshError {
  return new RefreshError('INVALID_REQUEST', `Invalid environment variable ${key}=${quoteValue(raw)}: ${expected}`);
}
