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

// asl-validator compiles its JSON schemas again on every call, a fifth of a second or more, so the result for each
// definition is kept: a definition read many times (one synthesized stack, many tests) is validated once.
const aslResults = new Map<string, AslResult>();

/** asl-validator's verdict on the definition (checking paths and ARNs, its default), which it leaves unchanged. */
export function validateAsl(definition: unknown): AslResult {
  const text = JSON.stringify(definition);
  let result = aslResults.get(text);
  if (result === undefined) {
    // Loaded on first use, with ajv, jsonata and jsonpath-plus: many files read templates but validate nothing.
    // asl-validator ships CommonJS without types.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const aslValidator: (definition: unknown) => AslResult = require('asl-validator');
    // The validator writes each state's default QueryLanguage into what it checks: it checks a copy, so the
    // definition stays as the template declares it.
    const { isValid, errors } = aslValidator(JSON.parse(text));
    result = { isValid, errors };
    aslResults.set(text, result);
  }
  return result;
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
