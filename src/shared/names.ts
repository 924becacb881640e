import { NON_UNRESERVED_KEYWORDS } from './keywords';
import { RefreshError } from './refresh-error';

/** A relation name as written by a user, split the way PostgreSQL reads a `regclass`. */
export interface RelationName {
  /** Absent for an unqualified name, which follows the `search_path`. */
  readonly schema?: string;
  readonly name: string;
}

/** PostgreSQL truncates identifiers longer than this many bytes; such a name would silently refer to another. */
const MAX_IDENTIFIER_BYTES = 63;

// Unquoted identifiers: a letter, underscore or non-ASCII character, then those, digits or `$`.
// PostgreSQL folds their ASCII letters to lower case.
const UNQUOTED_START = /[A-Za-z_\u0080-\uffff]/;
const UNQUOTED_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

/**
 * Parses `schema.view` or `view`, each part plain or double-quoted (`"Sales Hub"."Daily Totals"`), exactly as
 * PostgreSQL parses a regclass. Anything else, including every SQL fragment, is rejected.
 * The parts are only ever passed to the server as query parameters, never spliced into SQL.
 */
export function parseRelationName(input: unknown, what = 'view name'): RelationName {
  const parts = parseQualifiedName(input, what);
  if (parts.length > 2) {
    throw invalidName(input, what, 'use schema.view; a database prefix is not allowed');
  }
  return parts.length === 2 ? { schema: parts[0], name: parts[1] } : { name: parts[0] };
}

/** Parses a schema name: one identifier, plain or double-quoted. */
export function parseSchemaName(input: unknown): string {
  const parts = parseQualifiedName(input, 'schema name');
  if (parts.length !== 1) {
    throw invalidName(input, 'schema name', 'a schema name has no dots outside double quotes');
  }
  return parts[0];
}

/**
 * Quotes an identifier for SQL, always, so that no name can change the statement and no keyword list of any server
 * version matters. Statements use this; names shown to people use {@link formatIdentifier}.
 */
export function quoteIdentifier(identifier: string): string {
  if (identifier.includes('\0')) {
    throw new RefreshError('INVALID_REQUEST', `Identifier ${JSON.stringify(identifier)} contains a NUL character`);
  }
  return `"${identifier.replace(/"/g, '""')}"`;
}

/** The identifiers `quote_ident` leaves plain, unless they are keywords. */
const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * An identifier as PostgreSQL's `quote_ident` and `format('%I')` write it: plain when it is lower-case letters,
 * digits and underscores, starts with a letter or underscore and is not a keyword of {@link NON_UNRESERVED_KEYWORDS};
 * otherwise quoted as {@link quoteIdentifier} quotes it.
 */
export function formatIdentifier(identifier: string): string {
  return PLAIN_IDENTIFIER.test(identifier) && !NON_UNRESERVED_KEYWORDS.has(identifier) ? identifier : quoteIdentifier(identifier);
}

/**
 * A relation's name as `format('%I.%I', nspname, relname)` writes it, which is how the refresh report and the `View`
 * metric dimension name a view.
 */
export function formatRelationName(schema: string, name: string): string {
  return `${formatIdentifier(schema)}.${formatIdentifier(name)}`;
}

function parseQualifiedName(input: unknown, what: string): string[] {
  if (typeof input !== 'string') {
    throw invalidName(input, what, 'expected a string');
  }
  const parts: string[] = [];
  let i = 0;
  const skipSpaces = () => {
    while (i < input.length && /\s/.test(input[i])) i++;
  };

  for (;;) {
    skipSpaces();
    if (i >= input.length) {
      throw invalidName(input, what, parts.length === 0 ? 'it is empty' : 'it ends with a dot');
    }
    let identifier: string;
    if (input[i] === '"') {
      const end = readQuoted(input, i + 1, what);
      identifier = input.slice(i + 1, end).replace(/""/g, '"');
      if (identifier.length === 0) throw invalidName(input, what, `empty quoted identifier at position ${i + 1}`);
      i = end + 1;
    } else if (UNQUOTED_START.test(input[i])) {
      const start = i;
      while (i < input.length && UNQUOTED_PART.test(input[i])) i++;
      identifier = foldCase(input.slice(start, i));
    } else {
      throw invalidName(input, what, `unexpected ${JSON.stringify(input[i])} at position ${i + 1}`);
    }
    if (identifier.includes('\0')) throw invalidName(input, what, 'it contains a NUL character');
    if (Buffer.byteLength(identifier, 'utf8') > MAX_IDENTIFIER_BYTES) {
      throw invalidName(input, what, `identifier longer than ${MAX_IDENTIFIER_BYTES} bytes`);
    }
    parts.push(identifier);

    skipSpaces();
    if (i >= input.length) return parts;
    if (input[i] !== '.') {
      throw invalidName(input, what, `unexpected ${JSON.stringify(input[i])} at position ${i + 1}`);
    }
    i++;
  }
}

/**
 * Folds an unquoted identifier as PostgreSQL does in a UTF-8 database: ASCII letters only, so `Äpfel` stays
 * `Äpfel` while `Sales` becomes `sales`.
 */
function foldCase(identifier: string): string {
  return identifier.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/** Returns the index of the closing quote of a quoted identifier whose content starts at `from`. */
function readQuoted(input: string, from: number, what: string): number {
  let i = from;
  while (i < input.length) {
    if (input[i] === '"') {
      if (input[i + 1] === '"') {
        i += 2;
        continue;
      }
      return i;
    }
    i++;
  }
  throw invalidName(input, what, `unterminated double quote at position ${from}`);
}

/** A name PostgreSQL would not read as one; `reason` says what is wrong without repeating the name. */
export class InvalidNameError extends RefreshError {
  constructor(input: unknown, what: string, readonly reason: string) {
    super('INVALID_REQUEST', `Invalid ${what} ${describe(input)}: ${reason}`);
  }
}

function invalidName(input: unknown, what: string, why: string): InvalidNameError {
  return new InvalidNameError(input, what, why);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
