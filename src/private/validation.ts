import { Duration, Token } from 'aws-cdk-lib';
import { parseRelationName } from '../shared/names';
import type { ViewDependency } from '../shared/refresh-policies';

/*
 * Token-aware checks for construct props. Each skips values that are unresolved at synth (tokens are
 * left to CloudFormation or to run time) and throws an error that quotes the prop and the value.
 */

/**
 * How an error names the prop: in backticks, unless the caller passes it already named with what it belongs to
 * (``OrchestratorDatabase.fromEndpoint: `port` ``).
 */
function named(prop: string): string {
  return prop.includes('`') ? prop : `\`${prop}\``;
}

/** A whole number from `min` to `max`, optionally of a unit (`MiB`). */
export function checkInteger(prop: string, value: number | undefined, min: number, max: number, unit?: string): void {
  if (value === undefined || Token.isUnresolved(value)) {
    return;
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${named(prop)} must be a whole number ${unit ? `of ${unit} ` : ''}from ${min} to ${max}, got ${value}`);
  }
}

export interface DurationBounds {
  /** The unit the duration must be a whole number of. */
  readonly unit: 'milliseconds' | 'seconds' | 'minutes';
  readonly min: Duration;
  /** @default - no upper bound */
  readonly max?: Duration;
  /** Why these bounds, added to the error, e.g. `the limits of CloudWatch alarms`. @default - none */
  readonly reason?: string;
}

const UNITS = {
  milliseconds: { ms: 1, factory: 'Duration.millis', convert: (duration: Duration) => duration.toMilliseconds() },
  seconds: { ms: 1000, factory: 'Duration.seconds', convert: (duration: Duration) => duration.toSeconds() },
  minutes: { ms: 60_000, factory: 'Duration.minutes', convert: (duration: Duration) => duration.toMinutes() },
} as const;

/**
 * A duration that is a whole number of `unit`, within the bounds. A duration from a token must be given in `unit`:
 * CloudFormation cannot convert it to another.
 */
export function checkDuration(prop: string, duration: Duration | undefined, bounds: DurationBounds): void {
  if (duration === undefined) {
    return;
  }
  if (duration.isUnresolved()) {
    checkTokenUnit(prop, duration, bounds.unit);
    return;
  }
  const milliseconds = duration.toMilliseconds({ integral: false });
  const whole = Number.isInteger(milliseconds / UNITS[bounds.unit].ms);
  const min = bounds.min.toMilliseconds();
  const max = bounds.max?.toMilliseconds() ?? Infinity;
  if (whole && milliseconds >= min && milliseconds <= max) {
    return;
  }
  const range = bounds.max
    ? `from ${bounds.min.toHumanString()} to ${bounds.max.toHumanString()}`
    : `, at least ${bounds.min.toHumanString()}`;
  const reason = bounds.reason ? ` (${bounds.reason})` : '';
  throw new Error(`\`${prop}\` must be a whole number of ${bounds.unit} ${range}${reason}, got ${duration.toHumanString()}`.replace(' ,', ','));
}

function checkTokenUnit(prop: string, duration: Duration, unit: DurationBounds['unit']): void {
  try {
    UNITS[unit].convert(duration);
  } catch {
    const factory = UNITS[unit].factory;
    const given = /^<token> (\w+)$/.exec(duration.toHumanString())?.[1];
    const givenFactory = given === 'millis' ? 'Duration.millis' : `Duration.${given ?? 'of another unit'}`;
    throw new Error(
      `\`${prop}\` from a token must be given in ${unit}, as ${factory}(...): CloudFormation cannot convert a token ` +
        `to ${unit}, got ${givenFactory}(<token>)`,
    );
  }
}

/** A duration shorter than another one, e.g. a timeout inside the function's own timeout. */
export function checkShorterThan(prop: string, duration: Duration | undefined, limitProp: string, limit: Duration, why: string): void {
  if (duration === undefined || duration.isUnresolved() || limit.isUnresolved()) {
    return;
  }
  if (duration.toMilliseconds({ integral: false }) >= limit.toMilliseconds({ integral: false })) {
    throw new Error(
      `\`${prop}\` must be shorter than \`${limitProp}\` (${limit.toHumanString()}), ${why}, got ${duration.toHumanString()}`,
    );
  }
}

/** A string that is not empty or only white space. */
export function checkNotBlank(prop: string, value: string | undefined): void {
  if (value !== undefined && !Token.isUnresolved(value) && value.trim().length === 0) {
    throw new Error(`${named(prop)} must not be empty, got ${JSON.stringify(value)}`);
  }
}

/**
 * Each entry that is not a token through `parse`, which throws its own reason for a name it rejects (the refresh
 * handler's own parser, so that synth and run time agree on every name).
 */
export function checkNames(prop: string, names: string[] | undefined, parse: (name: string) => unknown): void {
  for (const name of names ?? []) {
    if (Token.isUnresolved(name)) {
      continue;
    }
    try {
      parse(name);
    } catch (err) {
      throw new Error(`\`${prop}\` has an invalid name: ${(err as Error).message}`);
    }
  }
}

const LIST_TOKEN_REASON = 'the refresh engine reads the names as one JSON list, which CloudFormation cannot build from a list ' +
  'value without breaking names that hold quotes';

/**
 * A list from a list token (a `CommaDelimitedList` parameter's `valueAsList`, `Fn.split`) stands in the array as one
 * encoded entry that is no name; it is refused, saying why, rather than reported as a malformed name.
 */
export function checkNoListToken(prop: string, names: string[], why: string): void {
  if (Token.isUnresolved(names)) {
    throw new Error(
      `\`${prop}\` cannot come from a list token (a CommaDelimitedList parameter, Fn.split, ...): ${why}. ` +
        'List the names as strings; each may be a string token of its own (e.g. Fn.select(0, list))',
    );
  }
}

/** A list that, when given, names at least one entry, none blank and none twice. Token entries are skipped. */
export function checkNameList(prop: string, names: string[] | undefined, why = LIST_TOKEN_REASON): void {
  if (names === undefined) {
    return;
  }
  checkNoListToken(prop, names, why);
  if (names.length === 0) {
    throw new Error(`\`${prop}\` must name at least one entry when set, got an empty list`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (Token.isUnresolved(name)) {
      continue;
    }
    if (name.trim().length === 0) {
      throw new Error(`\`${prop}\` must not contain empty names, got ${JSON.stringify(names)}`);
    }
    if (seen.has(name)) {
      throw new Error(`\`${prop}\` must not name "${name}" twice`);
    }
    seen.add(name);
  }
}

/**
 * Declared dependencies: each names a materialized view (regclass syntax) and at least one view it depends on,
 * never itself. Token names are skipped.
 */
export function checkViewDependencies(prop: string, dependencies: ViewDependency[] | undefined): void {
  if (dependencies === undefined) {
    return;
  }
  if (dependencies.length === 0) {
    throw new Error(`\`${prop}\` must declare at least one dependency when set, got an empty list`);
  }
  dependencies.forEach((dependency, index) => {
    const at = `${prop}[${index}]`;
    const view = checkViewName(`${at}.view`, dependency.view);
    if (!Array.isArray(dependency.dependsOn)) {
      throw new Error(`\`${at}.dependsOn\` must list the materialized views \`${at}.view\` reads, got ${JSON.stringify(dependency.dependsOn)}`);
    }
    checkNameList(`${at}.dependsOn`, dependency.dependsOn);
    for (const name of dependency.dependsOn) {
      const other = checkViewName(`${at}.dependsOn`, name);
      if (view !== undefined && other === view) {
        throw new Error(`\`${at}\`: "${dependency.view}" cannot depend on itself`);
      }
    }
  });
}

/** A view name as PostgreSQL reads a regclass; returns its canonical form, or undefined for a token. */
function checkViewName(prop: string, name: string): string | undefined {
  if (Token.isUnresolved(name)) {
    return undefined;
  }
  try {
    const { schema, name: relation } = parseRelationName(name);
    return JSON.stringify([schema, relation]);
  } catch (error) {
    throw new Error(`\`${prop}\` must be a materialized view name (\`schema.view\`): ${(error as Error).message}`);
  }
}
