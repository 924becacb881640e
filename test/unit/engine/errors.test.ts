import { clientGraceMs, reserveMs } from '../../../src/engine/budget';
import { isCancelledByAdministrator, isPermissionDenied, isStatementTimeout, isTooManyConnections, isTransient } from '../../../src/engine/errors';
import { invalidIndexAdvice } from '../../../src/engine/plan';

/** How the engine classifies database errors and budgets its time; no database needed. */
describe('refresh error classes', () => {
  const dbError = (code: string | undefined, message: string) => Object.assign(new Error(message), { code });

  test.each([
    ['53300', 'sorry, too many clients already'],
    ['53300', 'remaining connection slots are reserved for roles with the SUPERUSER attribute'],
    ['53300', 'too many connections for role "refresher"'],
    ['53300', 'too many connections for database "warehouse"'],
    [undefined, 'no more connections allowed (max_client_conn)'],
  ])('%s %s is a refusal for lack of connection slots', (code, message) => {
    expect(isTooManyConnections(dbError(code, message))).toBe(true);
  });

  test('other connection failures are not a lack of slots', () => {
    expect(isTooManyConnections(dbError('28P01', 'password authentication failed for user "x"'))).toBe(false);
    expect(isTooManyConnections(dbError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'))).toBe(false);
  });

  test('57014 is an administrator\'s cancel or a statement timeout, never both', () => {
    const cancel = dbError('57014', 'canceling statement due to user request');
    const timeout = dbError('57014', 'canceling statement due to statement timeout');
    expect([isCancelledByAdministrator(cancel), isStatementTimeout(cancel)]).toEqual([true, false]);
    expect([isCancelledByAdministrator(timeout), isStatementTimeout(timeout)]).toEqual([false, true]);
    // Neither is worth another attempt: one was asked for, the other ran out of its time.
    expect(isTransient(cancel) || isTransient(timeout)).toBe(false);
  });

  test('42501 is a permission error and not transient', () => {
    const denied = dbError('42501', 'permission denied for schema hidden');
    expect(isPermissionDenied(denied)).toBe(true);
    expect(isTransient(denied)).toBe(false);
  });

  test.each([1_000, 5_000, 60_000, 900_000])('with %i ms left, the reserve covers the client grace and time to report', (remaining) => {
    expect(reserveMs(remaining) - clientGraceMs(remaining)).toBeGreaterThanOrEqual(250);
    expect(clientGraceMs(remaining)).toBeGreaterThanOrEqual(100);
    expect(clientGraceMs(remaining)).toBeLessThanOrEqual(2_000);
    expect(reserveMs(remaining)).toBeLessThan(remaining);
  });

  test('the advice for an invalid unique index names it and both fixes', () => {
    expect(invalidIndexAdvice(['public.daily_key'])).toBe(
      'its unique index public.daily_key is invalid (left by a failed CREATE UNIQUE INDEX CONCURRENTLY): '
      + 'rebuild it with REINDEX INDEX public.daily_key once the view\'s rows are unique on its key, or drop it with DROP INDEX public.daily_key',
    );
    expect(invalidIndexAdvice(['s.a', 's.b'])).toBe(
      'its unique indexes s.a, s.b are invalid (left by a failed CREATE UNIQUE INDEX CONCURRENTLY): rebuild each once the view\'s rows '
      + 'are unique on its key (REINDEX INDEX s.a; REINDEX INDEX s.b), or drop them with DROP INDEX s.a, s.b',
    );
  });
});
