import type { Client } from 'pg';
import { describeViews, listViews, resolveExtraDependencies, resolveViewNames } from './catalog';
import type { RefreshConfig } from './config';
import { readDependencyGraph } from './dependencies';
import { DetectedPlan, planByDetectedChanges } from './detect-plan';
import type { RefreshRequest } from './event';
import { planRefresh, PlannedRefresh } from './plan';
import { resolveTableNames, selectByTables } from './selection';
import { RefreshEnv, RunSelection } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

/**
 * The views to refresh and their plan: the event's views and the views of the configured set that read the
 * event's tables; without either, the configured list and schemas, else every materialized view.
 */
export async function planSelection(client: Client, request: RefreshRequest, config: RefreshConfig)
  : Promise<{ plan: PlannedRefresh[]; selection: RunSelection; detect?: (timeLeftMs: () => number) => Promise<DetectedPlan> }> {
  const requested = request.views ? await resolveViewNames(client, request.views, 'event.views') : [];
  const tables = request.tables ? await resolveTableNames(client, request.tables, 'event.tables') : [];
  const declared = [
    ...await resolveExtraDependencies(client, config.extraDependencies, RefreshEnv.EXTRA_DEPENDENCIES),
    ...await resolveExtraDependencies(client, request.extraDependencies ?? [], 'event.extraDependencies'),
  ];
  // One graph for the selection and the order, so both follow the same dependencies.
  const graph = await readDependencyGraph(client, tables.map((table) => table.oid), declared);
  let oids: number[];
  let selection: RunSelection;
  if (config.detectChanges && !request.views) {
    // The plan of every candidate, whose run lock the run takes; the selection is made once it holds the lock.
    const { configured, described } = await configuredSet(client, config);
    if (configured.length === 0) {
      throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: the selection is empty: ${described} names no materialized views`);
    }
    const reported = request.tables ? selectByTables(graph, tables, configured) : undefined;
    const plan = planRefresh(await describeViews(client, configured, graph), config.concurrentRefresh);
    return {
      plan,
      selection: { basis: 'changes' },
      detect: (timeLeftMs) => planByDetectedChanges(client, plan, reported, request.fullRefreshReason, timeLeftMs),
    };
  } else if (request.tables) {
    const { configured } = await configuredSet(client, config);
    const byTables = tables.length > 0 ? selectByTables(graph, tables, configured) : { oids: [], tables: [], omittedTables: 0 };
    oids = [...new Set([...requested, ...byTables.oids])];
    selection = {
      basis: 'tables',
      reason: oids.length === 0 ? nothingChanged(tables.length) : undefined,
      tables: byTables.tables,
      ...(byTables.omittedTables > 0 ? { omittedTables: byTables.omittedTables } : {}),
    };
    if (oids.length === 0) return { plan: [], selection };
  } else if (request.views) {
    oids = requested;
    selection = { basis: 'views' };
  } else {
    const { configured, described } = await configuredSet(client, config);
    oids = configured;
    selection = { basis: 'configured', reason: request.fullRefreshReason };
    if (oids.length === 0) {
      throw new RefreshError('INVALID_REQUEST', `Nothing was refreshed: the selection is empty: ${described} names no materialized views`);
    }
  }
  const plan = planRefresh(await describeViews(client, oids, graph), config.concurrentRefresh);
  return { plan, selection };
}

function nothingChanged(tables: number): string {
  return tables === 0
    ? 'nothing changed: event.tables is empty'
    : 'nothing changed: no selected materialized view reads the changed tables';
}

/** The configured list and schemas, else every materialized view of the database. */
async function configuredSet(client: Client, config: RefreshConfig): Promise<{ configured: number[]; described: string }> {
  if (config.views || config.schemas) {
    const listed = config.views ? await resolveViewNames(client, config.views, RefreshEnv.VIEWS) : [];
    const inSchemas = config.schemas ? await listViews(client, config.schemas, RefreshEnv.SCHEMAS) : [];
    const described = [config.views && `${RefreshEnv.VIEWS}=${JSON.stringify(config.views)}`, config.schemas && `${RefreshEnv.SCHEMAS}=${JSON.stringify(config.schemas)}`]
      .filter(Boolean)
      .join(' and ');
    return { configured: [...new Set([...listed, ...inSchemas])], described };
  }
  return { configured: await listViews(client, undefined, 'database'), described: 'the database (no views or schemas configured)' };
}
