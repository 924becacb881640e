import type { ClientBase, QueryConfig } from 'pg';

/**
 * The only module that reaches past pg's declared API; test/unit/engine/pg-internals.test.ts checks each part of
 * it against the installed pg, so an upgrade that changes them fails there first.
 */

/** The part of a pg client's connection this module reads: the socket under it. */
interface ClientInternals {
  readonly connection?: { readonly stream?: { destroy(): void } };
}

/**
 * Closes a connection's socket at once, without a word to the server: for a server that stopped answering,
 * where a polite end would wait for a reply that never comes. A query still waiting on it fails at once.
 */
export function abandon(client: ClientBase): void {
  (client as unknown as ClientInternals).connection?.stream?.destroy();
}

/**
 * A query that the client gives up on after `timeoutMs` without a reply. pg reads `query_timeout` per query as
 * well as per connection; its type declarations list it for connections only.
 */
export function queryWithTimeout(text: string, timeoutMs: number): QueryConfig {
  const query: QueryConfig & { query_timeout: number } = { text, query_timeout: timeoutMs };
  return query;
}
