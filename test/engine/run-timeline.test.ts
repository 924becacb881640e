/**
 * The timeline of a real refresh run: the example stack refreshes the sample warehouse, and the report it returns
 * names each view's dependencies among the run's views, from which the timeline draws its chains.
 */
import { createTestDatabase } from './support/database';
import { LocalOrchestration } from '../../local/orchestration';
import { createWarehouse, WAREHOUSE_VIEWS } from '../../local/warehouse';
import type { RefreshReport } from '../../src/shared/contract';
import { layOutTimeline, renderTimelineSvg } from '../../src/timeline/timeline';

let orchestration: LocalOrchestration | undefined;
afterEach(async () => {
  await orchestration?.close();
  orchestration = undefined;
});

test('the report of a run names the views each view waited for, and the timeline draws every view at its start', async () => {
  const database = await createTestDatabase('timeline');
  await createWarehouse(database);
  orchestration = LocalOrchestration.create({ database });

  const execution = await orchestration.run({ batch: 'nightly' });

  expect(execution.status).toBe('SUCCEEDED');
  const report = execution.output as RefreshReport;
  const dependsOn = Object.fromEntries(report.views.map((view) => [view.view, view.dependsOn ?? []]));
  // coverage_summary reads both regional views through the plain view regional_coverage.
  expect(dependsOn['warehouse.coverage_summary'].sort()).toEqual(['warehouse.demand_by_region', 'warehouse.verification_by_region']);
  expect(dependsOn['warehouse.demand_by_region']).toEqual([]);
  // Every view started after the views it waited for ended.
  const end = (name: string) => {
    const view = report.views.find((entry) => entry.view === name)!;
    return Date.parse(view.startedAt!) + view.durationMs;
  };
  for (const view of report.views) {
    for (const dependency of view.dependsOn ?? []) expect(Date.parse(view.startedAt!)).toBeGreaterThanOrEqual(end(dependency));
  }

  const timeline = layOutTimeline(report);
  const bars = timeline.groups.flatMap((group) => group.bars);
  expect(bars.map((bar) => bar.view).sort()).toEqual([...WAREHOUSE_VIEWS].sort());
  for (const view of report.views) {
    expect(bars.find((bar) => bar.view === view.view)).toMatchObject({
      startMs: Date.parse(view.startedAt!) - Date.parse(report.startedAt),
      durationMs: view.durationMs,
    });
  }
  // The critical path ends with the view that ended last, and each view on it waited for the one before.
  const path = timeline.criticalPath;
  expect(path.at(-1)).toBe(report.views.reduce((last, view) => (end(view.view) > end(last.view) ? view : last)).view);
  path.slice(1).forEach((name, index) => expect(dependsOn[name]).toContain(path[index]));
  expect(renderTimelineSvg(report)).toContain('data-view="warehouse.coverage_summary"');
});
