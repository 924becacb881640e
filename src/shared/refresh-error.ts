import { RefreshErrors } from './contract';

export type RefreshErrorKind = keyof typeof RefreshErrors;

/**
 * An error the handler throws on purpose. Its `name` is one of the stable {@link RefreshErrors} names, which
 * Lambda reports as the error type, so the state machine can match it in Retry and Catch.
 */
export class RefreshError extends Error {
  constructor(readonly kind: RefreshErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = RefreshErrors[kind];
  }
}
