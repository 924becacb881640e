import { readFileSync } from 'node:fs';
import { DASHBOARD_PICTURE, exampleDashboardWidgets, renderDashboardSvg } from '../../../local/dashboard-svg';

describe('the dashboard picture', () => {
  const widgets = exampleDashboardWidgets();
  const svg = renderDashboardSvg(widgets, 'sales (ITC orchestrator dashboard)');

  test('draws every widget of the synthesized dashboard, with its title', () => {
    expect(widgets.length).toBeGreaterThanOrEqual(7);
    for (const widget of widgets) {
      expect(svg).toContain(`>${widget.properties.title}</text>`);
    }
    expect(svg).toContain('view-stale-reporting.daily_totals</text>');
    expect(svg).toContain('freshness.maxAge (1 day 2 hours)');
  });

  test('in docs/images is drawn from the current dashboard (npx ts-node local/dashboard-svg.ts)', () => {
    expect(readFileSync(DASHBOARD_PICTURE, 'utf8')).toEqual(svg);
  });
});
