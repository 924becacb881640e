import { parseExtraDependencies } from './config';
import { quoteValue } from './errors';
import type { RefreshEvent } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

/** What the event asks for; names are checked against the catalog later. */
export interface RefreshRequest {
  readonly views?: unknown[];
  readonly tables?: unknown[];
  readonly extraDependencies?: RefreshEvent['extraDependencies'];
  readonly fullRefreshReason?: string;
}

const EVENT_EXAMPLE = '{"views": ["schema.view"]} or {"tables": ["schema.table"]}';

/** Reads and checks the shape of the handler's event. */
export function readEvent(event: unknown): RefreshRequest {
  if (event === undefined || event === null) return {};
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new RefreshError('INVALID_REQUEST', `Invalid event ${quoteValue(event)}: expected an object such as ${EVENT_EXAMPLE}`);
  }
  const declared = field(event, 'extraDependencies');
  const extraDependencies = declared === undefined ? undefined : parseExtraDependencies(declared, 'event.extraDependencies');
  return { views: readEventViews(event), tables: readEventTables(event), extraDependencies, fullRefreshReason: readFullRefreshReason(event) };
}

function readEventTables(event: object): unknown[] | undefined {
  const tables = field(event, 'tables');
  if (tables === undefined) return undefined;
  if (!Array.isArray(tables)) {
    throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: invalid event.tables ${quoteValue(tables)}: expected an array of table names`);
  }
  return tables;
}

function readFullRefreshReason(event: object): string | undefined {
  const reason = field(event, 'fullRefreshReason');
  if (reason === undefined) return undefined;
  if (typeof reason !== 'string') {
    throw new RefreshError('INVALID_REQUEST', `Invalid event.fullRefreshReason ${quoteValue(reason)}: expected a string`);
  }
  // The state machine joins one note per pipeline; a trailing separator is not part of the reason.
  return reason.replace(/[;\s]+$/, '').slice(0, 1_000);
}

function readEventViews(event: object): unknown[] | undefined {
  const views = field(event, 'views');
  if (views === undefined) return undefined;
  if (!Array.isArray(views)) {
    throw new RefreshError('INVALID_REQUEST', `Invalid event.views ${quoteValue(views)}: expected an array of materialized view names`);
  }
  if (views.length === 0) {
    throw new RefreshError('INVALID_REQUEST', 'Nothing was refreshed: the selection is empty: event.views is an empty array');
  }
  return views;
}

/** A field of the event; undefined when it is absent or null, which both mean "not given". */
function field(event: object, key: keyof RefreshEvent): unknown {
  const value = (event as Record<string, unknown>)[key];
  return value === null ? undefined : value;
}
