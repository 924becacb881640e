/**
 * The demo's last part: `refresh.detectChangesInDatabase`. No pipeline says what it changed; the database does.
 * A first run stores each view's baseline (refreshing everything), a plain SQL write refreshes exactly the views
 * downstream of it, and a run after no change refreshes nothing.
 */
import type { ClientConfig } from 'pg';
import { LocalOrchestration } from '../local/orchestration';
import { withClient } from '../local/pg';
import { formatRunReport } from '../local/report';
import { readViews, staleViews, WAREHOUSE_VIEWS } from '../local/warehouse';
import type { RefreshReport } from '../src/shared/contract';

/**
 * Runs the three executions with a fresh orchestration, which `adopt` receives so the demo can close it on exit.
 * @returns whether every run refreshed what it should, and left every view up to date
 */
export async function runDetectedChanges(
  database: ClientConfig, adopt: (orchestration: LocalOrchestration) => void, interrupted: () => boolean,
): Promise<boolean> {
  console.log('\nSynthesizing the example stack again, with refresh.detectChangesInDatabase ...');
  const orchestration = LocalOrchestration.create({
    database,
    refresh: { schemas: ['warehouse'], detectChangesInDatabase: true },
    // The pipelines load nothing and report nothing: the database says what changed.
    pipelines: { Demand: () => ({ pipeline: 'Demand', inserted: 0 }), VerifyPlus: () => ({ pipeline: 'VerifyPlus', inserted: 0 }) },
  });
  adopt(orchestration);
  const run = async (name: string) => {
    const execution = await orchestration.run({ batch: name }, { name });
    if (interrupted()) return undefined;
    console.log(formatRunReport(execution, orchestration.stateMachine.definition));
    return execution.status === 'SUCCEEDED' ? execution.output as RefreshReport : undefined;
  };

  console.log('  The first run with detection stores each view\'s baseline: no view has one yet, so it refreshes every view.\n');
  const first = await run('demo-3');
  if (!first) return false;

  const write = "INSERT INTO warehouse.verify_plus (batch, region, product, verified) VALUES ('by-hand', 'east', 'gizmo', true)";
  console.log(`\nA plain SQL write, which no pipeline reports:\n  ${write}\n`);
  await withClient(database, (client) => client.query(write));
  const before = await readViews(database);
  const second = await run('demo-4');
  if (!second) return false;
  const after = await readViews(database);
  const refreshed = second.views.filter((view) => view.status === 'refreshed').map((view) => view.view);
  const contentChanged = WAREHOUSE_VIEWS.filter((view) => JSON.stringify(after[view]) !== JSON.stringify(before[view]));
  console.log('');
  for (const view of second.selection.changes?.views ?? []) {
    console.log(`  ${view.view}: ${view.decision}${view.sources ? ` (${view.sources.join(', ')})` : ''}`);
  }
  console.log(`  Refreshed ${refreshed.length} of ${WAREHOUSE_VIEWS.length} views; views whose contents changed: ${contentChanged.join(', ') || 'none'}`);

  console.log('\nRunning again, with no change since ...\n');
  const third = await run('demo-5');
  if (!third) return false;
  console.log(`\n  ${third.selection.reason ?? ''}; refreshed ${third.totals.refreshed} view(s), `
    + `signal read ${third.selection.changes?.readMs ?? '?'} ms`);

  const stale = await staleViews(database);
  const exact = refreshed.length > 0 && refreshed.length < WAREHOUSE_VIEWS.length && contentChanged.every((view) => refreshed.includes(view));
  if (exact && third.totals.refreshed === 0 && stale.length === 0) {
    console.log('Every view matches its tables, with only the views downstream of the write refreshed.');
    return true;
  }
  console.log(`Detection did not refresh what it should: refreshed ${refreshed.join(', ') || 'nothing'}, then ${third.totals.refreshed}; `
    + `not up to date: ${stale.join(', ') || 'none'}`);
  return false;
}
