import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ItcOrchestrator, ItcOrchestratorProps, RefreshCompute } from '../../../src';
import { minimalProps, newStack } from '../orchestrator-fixture';

/** The dashboard's widgets, as CloudWatch receives them, with the template's references left as placeholders. */
function widgets(props: (stack: Stack) => Partial<ItcOrchestratorProps>): any[] {
  const stack = newStack();
  new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, props(stack)));
  const [dashboard] = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'));
  const body = dashboard.Properties.DashboardBody;
  const text = typeof body === 'string' ? body : body['Fn::Join'][1].map((part: unknown) => (typeof part === 'string' ? part : 'REF')).join('');
  return JSON.parse(text).widgets;
}

const titles = (list: any[]) => list.map((widget) => widget.properties.title);

describe('the dashboard', () => {
  test('is not created by default', () => {
    const stack = newStack();
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack));
    Template.fromStack(stack).resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(orchestrator.dashboard).toBeUndefined();
  });

  test('shows the executions, refresh runs, run duration, views per run, freshness, slowest views and alarms', () => {
    const list = widgets(() => ({ dashboard: true, resourcePrefix: 'sales', freshness: { maxAge: Duration.hours(26) } }));
    expect(titles(list)).toEqual([
      'Executions', 'Refresh runs', 'Refresh run duration', 'Views per refresh run',
      'Hours since a refresh run succeeded', 'Slowest views', 'Alarms',
    ]);
    const byTitle = Object.fromEntries(list.map((widget) => [widget.properties.title, widget.properties]));
    // Each metric is [namespace, name, dimension, value, ..., options].
    const metricNames = (title: string) => byTitle[title].metrics.map((metric: any[]) => metric[1]);
    expect(metricNames('Executions')).toEqual(['ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']);
    expect(metricNames('Refresh runs')).toEqual(['RunsSucceeded', 'RunsSkippedByLock']);
    expect(metricNames('Views per refresh run')).toEqual(['ViewsRefreshed', 'ViewsFailed', 'ViewsSkipped']);
    const freshness = byTitle['Hours since a refresh run succeeded'];
    expect(JSON.stringify(freshness.metrics)).toContain('EPOCH');
    expect(freshness.annotations.horizontal).toEqual([expect.objectContaining({ value: 26 })]);
    expect(byTitle['Slowest views'].query).toContain("filter message = 'View refreshed'");
    expect(byTitle.Alarms.alarms).toHaveLength(5);
  });

  test('is named after the resource prefix', () => {
    const stack = newStack();
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { dashboard: true, resourcePrefix: 'sales' }));
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'sales' });
  });

  test('without alarms, it shows no alarm widget', () => {
    expect(titles(widgets(() => ({ dashboard: true, createAlarms: false })))).not.toContain('Alarms');
  });

  test('shows the widgets of the metrics CloudWatch receives from the refresh compute', () => {
    const stack = newStack();
    const orchestrator = new ItcOrchestrator(stack, 'Probe', minimalProps(stack, { refreshCompute: RefreshCompute.fargate() }));
    let engineMetrics = true;
    try {
      orchestrator.metricViewsRefreshed();
    } catch {
      engineMetrics = false;
    }
    const list = titles(widgets(() => ({ dashboard: true, refreshCompute: RefreshCompute.fargate() })));
    expect(list).toEqual(expect.arrayContaining(['Executions', 'Slowest views', 'Alarms']));
    expect(list.includes('Refresh runs')).toBe(engineMetrics);
  });
});
