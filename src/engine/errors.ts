import type { ConnectionSettings } from './credentials';
import { RefreshError } from '../shared/refresh-error';

/** The fields of a `pg` error this module reads. */
interface DatabaseErrorLike {
  readonly code?: string;
  readonly message?: string;
}

/**
 * SQLSTATEs worth another attempt on the same view: the next attempt can succeed without any change.
 * @see https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout)
  '57P01', // admin_shutdown: the backend was terminated (failover, restart, pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (server starting up)
  '53300', // too_many_connections
]);

/** Node socket errors of a connection that was lost or could not be opened for a moment. */
const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Whether retrying the same statement may succeed: a lost connection, a lock or serialization conflict. */
export function isTransient(error: unknown): boolean {
  const { code, message = '' } = (error ?? {}) as DatabaseErrorLike;
  if (code && (TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') || TRANSIENT_NODE_CODES.has(code))) {
    return true;
  }
  // pg reports a connection closed under a running query without a code.
  return /Connection terminated|connection closed|terminating connection/i.test(message);
}

/** Whether the server rejected the credentials (wrong password, unknown user). */
export function isAuthenticationFailure(error: unknown): boolean {
  const code = (error as DatabaseErrorLike | undefined)?.code;
  return code === '28P01' || code === '28000';
}

/**
 * Whether a statement was cancelled by `statement_timeout`. SQLSTATE 57014 also covers a cancel request
 * (`pg_cancel_backend`), which the server words differently; see {@link isCancelledByAdministrator}.
 */
export function isStatementTimeout(error: unknown): boolean {
  return (error as DatabaseErrorLike | undefined)?.code === '57014' && !isCancelledByAdministrator(error);
}

/**
 * Whether someone cancelled the statement with `pg_cancel_backend` (or a cancel request from another
 * client): SQLSTATE 57014 with "canceling statement due to user request". The engine itself never sends one.
 */
export function isCancelledByAdministrator(error: unknown): boolean {
  const { code, message = '' } = (error ?? {}) as DatabaseErrorLike;
  return code === '57014' && /due to user request/i.test(message);
}

/**
 * Whether the server refused a connection for lack of free slots: SQLSTATE 53300 ("sorry, too many clients
 * already", "remaining connection slots are reserved ...", "too many connections for role/database"), or a
 * pooler's equivalent without that code.
 */
export function isTooManyConnections(error: unknown): boolean {
  const { code, message = '' } = (error ?? {}) as DatabaseErrorLike;
  return code === '53300' || /too many (clients|connections)|remaining connection slots are reserved|no more connections allowed/i.test(message);
}

/** Whether the role lacks a privilege (SQLSTATE 42501 insufficient_privilege). */
export function isPermissionDenied(error: unknown): boolean {
  return (error as DatabaseErrorLike | undefined)?.code === '42501';
}

/** A one-line description of any thrown value: `SQLSTATE message` for database errors. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as DatabaseErrorLike).code;
    const message = error.message || error.name;
    return code ? `${code} ${message}` : message;
  }
  return String(error);
}

/** The signed parts of an IAM authentication token (a presigned URL), wherever one appears. */
const SIGNED_TOKEN_PARTS = /(X-Amz-(?:Signature|Security-Token|Credential)=)[^&\s"']+/g;

/**
 * Replaces every occurrence of each secret in a text, and the signature of anything shaped like an IAM
 * authentication token, so no credential leaves the handler.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length > 0) result = result.split(secret).join('[redacted]');
  }
  return result.replace(SIGNED_TOKEN_PARTS, '$1[redacted]');
}

/** Gives every error leaving the run a stable name, named for what happened, and a message without credentials. */
export function asRefreshError(error: unknown, settings: Pick<ConnectionSettings, 'secrets' | 'target'>): RefreshError {
  if (error instanceof RefreshError) return error;
  const stopped = (why: string) => redact(`The refresh run stopped: ${why}: ${describeError(error)}`, settings.secrets);
  if (isPermissionDenied(error)) {
    return new RefreshError('PERMISSION_DENIED', stopped(`the database role of ${settings.target} lacks a privilege the run needs`));
  }
  if (isCancelledByAdministrator(error)) {
    return new RefreshError('CANCELLED', stopped('an administrator cancelled its statement (pg_cancel_backend)'));
  }
  // The run's own session carries a statement_timeout of the invocation's time left.
  if (isStatementTimeout(error)) return new RefreshError('OUT_OF_TIME', stopped('the invocation ran out of time'));
  const kind = isTransient(error) ? 'TRANSIENT' : 'CONNECTION_FAILED';
  return new RefreshError(kind, stopped('the database failed'));
}

/** How many problems an invalid request's message names; it counts the rest. */
export const MAX_PROBLEMS_NAMED = 10;
/** The longest a single problem is quoted in a message. */
const MAX_PROBLEM_CHARS = 300;

/**
 * The problems of an invalid request as one phrase: the first {@link MAX_PROBLEMS_NAMED}, each shortened, and a
 * count of the rest, so the message stays short however many entries are bad.
 */
export function listProblems(problems: readonly string[]): string {
  const named = problems.slice(0, MAX_PROBLEMS_NAMED)
    .map((problem) => (problem.length <= MAX_PROBLEM_CHARS ? problem : `${problem.slice(0, MAX_PROBLEM_CHARS - 1)}…`));
  const rest = problems.length - named.length;
  return rest > 0 ? `${named.join('; ')}; and ${rest.toLocaleString('en-US')} more` : named.join('; ');
}

/** A value as JSON for a message, shortened to {@link MAX_PROBLEM_CHARS}: input can be of any size. */
export function quoteValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= MAX_PROBLEM_CHARS ? text : `${text.slice(0, MAX_PROBLEM_CHARS - 1)}…`;
}
