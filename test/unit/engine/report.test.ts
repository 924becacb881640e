import { readConfig } from '../../../src/engine/config';
import type { ViewOutcome } from '../../../src/engine/outcome';
import type { PlannedRefresh } from '../../../src/engine/plan';
import { finishRun, planDependencies } from '../../../src/engine/report';
import { RefreshEnv, ReportLimits } from '../../../src/shared/contract';

// The run logs its report and metrics; the tests read the returned report.
beforeEach(() => {
  jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => jest.restoreAllMocks());

const CONFIG = readConfig({ [RefreshEnv.SCHEMAS]: '["sales"]' });

function planned(name: string, dependsOn: string[]): PlannedRefresh {
  return { view: { qualifiedName: name } as PlannedRefresh['view'], concurrently: false, dependsOn, dependents: [], height: 0 };
}

function refreshed(view: string): ViewOutcome {
  return { view, status: 'refreshed', concurrently: false, startedAt: new Date().toISOString(), durationMs: 5, attempts: 1 };
}

describe('the report names the views each view waited for', () => {
  test('as the plan ordered them, and not for a view that waited for none', () => {
    const plan = [planned('sales.a', []), planned('sales.b', ['sales.a']), planned('sales.c', ['sales.a', 'sales.b'])];
    const report = finishRun({
      startedAt: new Date(),
      lock: 'acquired',
      planningMs: 1,
      views: plan.map((step) => refreshed(step.view.qualifiedName)),
      selection: { basis: 'configured' },
      dependencies: planDependencies(plan),
    }, CONFIG);
    expect(report.views.map((view) => [view.view, view.dependsOn])).toEqual([
      ['sales.a', undefined], ['sales.b', ['sales.a']], ['sales.c', ['sales.a', 'sales.b']],
    ]);
    expect('dependsOn' in report.views[0]).toBe(false);
  });

  test('within the report\'s bound on its views: long dependency lists count in it, the views beyond it are counted as omitted', () => {
    const names = Array.from({ length: 400 }, (_, index) => `sales.view_with_a_long_name_${String(index).padStart(4, '0')}`);
    // Each view waits for every view before it, up to twenty: the lists dominate the report's size.
    const plan = names.map((name, index) => planned(name, names.slice(Math.max(0, index - 20), index)));
    const report = finishRun({
      startedAt: new Date(),
      lock: 'acquired',
      planningMs: 1,
      views: names.map(refreshed),
      selection: { basis: 'configured' },
      dependencies: planDependencies(plan),
    }, CONFIG);
    expect(Buffer.byteLength(JSON.stringify(report.views))).toBeLessThanOrEqual(ReportLimits.VIEWS_BYTES);
    expect(report.viewsOmitted).toBeGreaterThan(0);
    expect(report.views.length + report.viewsOmitted).toBe(names.length);
    expect(report.views.every((view, index) => index === 0 || (view.dependsOn?.length ?? 0) > 0)).toBe(true);
  });
});
