import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Step Functions rejects a state name longer than this at deploy; synth does not check it. */
const MAX_STATE_NAME_LENGTH = 80;

type StatesContainer = { States?: Record<string, Record<string, unknown>> };

/** Every state name in the definition, those in Parallel branches and Map iterators included. */
export function allStateNames(definition: StatesContainer): string[] {
  return Object.entries(definition.States ?? {}).flatMap(([name, state]) => {
    const nested = [
      ...((state.Branches as StatesContainer[] | undefined) ?? []),
      ...[state.Iterator, state.ItemProcessor].filter((child): child is StatesContainer => child !== undefined),
    ];
    return [name, ...nested.flatMap(allStateNames)];
  });
}

/** What asl-validator says of a definition. */
export type AslResult = { readonly isValid: boolean; readonly errors: unknown[] };

// asl-validator compiles its JSON schemas again on every call, a fifth of a second or more, so each verdict is kept:
// in memory, and on disk beside jest's cache, keyed by the validator's version and the definition, so that the next
// run of the tests validates only the definitions that changed.
const aslResults = new Map<string, AslResult>();
const VERDICT_CACHE = join(__dirname, '..', 'node_modules', '.cache', 'asl-validator');

/** asl-validator's verdict on the definition (checking paths and ARNs, its default), which it leaves unchanged. */
export function validateAsl(definition: unknown): AslResult {
  const text = JSON.stringify(definition);
  let result = aslResults.get(text);
  if (result === undefined) {
    const file = join(VERDICT_CACHE, `${createHash('sha256').update(`${aslValidatorVersion()}\n${text}`).digest('hex')}.json`);
    result = readVerdict(file);
    if (result === undefined) {
      // Loaded on first use, with ajv, jsonata and jsonpath-plus: many files read templates but validate nothing.
      // asl-validator ships CommonJS without types.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const aslValidator: (definition: unknown) => AslResult = require('asl-validator');
      // The validator writes each state's default QueryLanguage into what it checks: it checks a copy, so the
      // definition stays as the template declares it.
      const { isValid, errors } = aslValidator(JSON.parse(text));
      result = { isValid, errors };
      writeVerdict(file, result);
    }
    aslResults.set(text, result);
  }
  return result;
}

function aslValidatorVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('asl-validator/package.json') as { version: string }).version;
}

function readVerdict(file: string): AslResult | undefined {
  try {
    const { isValid, errors } = JSON.parse(readFileSync(file, 'utf8')) as AslResult;
    return typeof isValid === 'boolean' && Array.isArray(errors) ? { isValid, errors } : undefined;
  } catch {
    return undefined;
  }
}

function writeVerdict(file: string, result: AslResult): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    // Written whole, then renamed: a reader in another jest worker never sees half a file.
    const partial = `${file}.${process.pid}.partial`;
    writeFileSync(partial, JSON.stringify(result));
    renameSync(partial, file);
  } catch {
    // A read-only checkout validates again next time.
  }
}

/**
 * Throws unless the definition is one Step Functions would accept: valid Amazon States Language, and state names
 * within the service's length limit and unique across the whole definition.
 */
export function assertValidDefinition(definition: unknown, what: string): void {
  const { isValid, errors } = validateAsl(definition);
  if (!isValid) {
    throw new Error(`${what} is not valid Amazon States Language: ${JSON.stringify(errors)}`);
  }
  const names = allStateNames(definition as StatesContainer);
  const tooLong = names.filter((name) => name.length > MAX_STATE_NAME_LENGTH);
  if (tooLong.length > 0) {
    throw new Error(`${what} has state names longer than ${MAX_STATE_NAME_LENGTH} characters: ${tooLong.map((name) => `"${name}" (${name.length})`).join(', ')}`);
  }
  const duplicates = names.filter((name, index) => names.indexOf(name) !== index);
  if (duplicates.length > 0) {
    throw new Error(`${what} names more than one state ${duplicates.map((name) => `"${name}"`).join(', ')}`);
  }
}
