import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import type { RefreshReport, ViewReport } from '../../../src/shared/contract';
import { layOutTimeline, readReport, renderTimelineSvg, TimelineLayout } from '../../../src/timeline/timeline';

const START = Date.parse('2026-03-01T05:30:00.000Z');
const at = (ms: number) => new Date(START + ms).toISOString();

/** A run of two chains and one view alone: `c` failed after its dependency `b`, so `d`, which waits for it, was skipped. */
const VIEWS: ViewReport[] = [
  { view: 'sales.a', status: 'refreshed', concurrently: true, startedAt: at(200), durationMs: 1_000, attempts: 1 },
  { view: 'sales.b', status: 'refreshed', concurrently: false, startedAt: at(1_250), durationMs: 2_000, attempts: 2, dependsOn: ['sales.a'] },
  { view: 'sales.c', status: 'failed', concurrently: false, startedAt: at(3_300), durationMs: 500, attempts: 1, reason: 'division by zero', dependsOn: ['sales.b', 'sales.a'] },
  { view: 'sales.d', status: 'skipped', concurrently: false, durationMs: 0, attempts: 0, reason: 'a view it reads failed', dependsOn: ['sales.c'] },
  { view: 'ops."Daily <Totals>"', status: 'refreshed', concurrently: true, startedAt: at(210), durationMs: 300, attempts: 1 },
  { view: 'ops.weekly', status: 'refreshed', concurrently: true, startedAt: at(520), durationMs: 400, attempts: 1, dependsOn: ['ops."Daily <Totals>"'] },
  { view: 'misc.alone', status: 'refreshed', concurrently: true, startedAt: at(220), durationMs: 3_000, attempts: 1 },
];

const REPORT: RefreshReport = {
  status: 'succeeded',
  lock: 'acquired',
  concurrency: 2,
  startedAt: at(0),
  durationMs: 4_000,
  planningMs: 120,
  views: VIEWS,
  viewsOmitted: 0,
  totals: { selected: 7, refreshed: 5, failed: 1, skipped: 1 },
  selection: { basis: 'configured' },
};

interface Bar { view: string; status: string; classes: string[]; x: number; width: number; startMs: number; durationMs: number; fill: string }

/** The SVG read as XML: every bar with its geometry, and the root's scale. */
function parseSvg(svg: string): { bars: Bar[]; chainLabels: string[]; chartLeft: number; scale: number } {
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['g', 'rect', 'text'].includes(name) });
  const root = parser.parse(svg).svg;
  const chains = (root.g as any[]).filter((group) => group.class === 'chain');
  const bars = chains.flatMap((group) => (group.rect ?? []) as any[]).map((rect) => ({
    view: rect['data-view'],
    status: rect['data-status'],
    classes: String(rect.class).split(' '),
    x: Number(rect.x),
    width: Number(rect.width),
    startMs: Number(rect['data-start-ms']),
    durationMs: Number(rect['data-duration-ms']),
    fill: rect.fill,
  }));
  return { bars, chainLabels: chains.map((group) => group['data-label']), chartLeft: Number(root['data-chart-left']), scale: Number(root['data-ms-scale']) };
}

describe('the timeline of a refresh run', () => {
  const svg = renderTimelineSvg(REPORT);
  const { bars, chainLabels, chartLeft, scale } = parseSvg(svg);

  test('holds every view of the report once, each bar at its start and as long as its refresh', () => {
    expect(bars.map((bar) => bar.view).sort()).toEqual(VIEWS.map((view) => view.view).sort());
    expect(scale).toBeCloseTo((TimelineLayout.CHART_RIGHT - TimelineLayout.CHART_LEFT) / 4_000, 10);
    for (const view of VIEWS.filter((entry) => entry.startedAt !== undefined)) {
      const bar = bars.find((entry) => entry.view === view.view)!;
      const startMs = Date.parse(view.startedAt!) - START;
      expect({ view: view.view, startMs: bar.startMs, durationMs: bar.durationMs })
        .toEqual({ view: view.view, startMs, durationMs: view.durationMs });
      expect(bar.x).toBeCloseTo(chartLeft + startMs * scale, 1);
      expect(bar.width).toBeCloseTo(view.durationMs * scale, 1);
    }
  });

  test('a skipped view, which never started, is a mark where the view it waited for ended', () => {
    const skipped = bars.find((bar) => bar.view === 'sales.d')!;
    expect(skipped).toMatchObject({ status: 'skipped', startMs: 3_800, durationMs: 0, width: TimelineLayout.SKIPPED_MARK });
    expect(skipped.x).toBeCloseTo(chartLeft + 3_800 * scale, 1);
  });

  test('failures and skips are coloured apart from refreshed views', () => {
    const fills = Object.fromEntries(bars.map((bar) => [bar.status, bar.fill]));
    expect(new Set(Object.values(fills)).size).toBe(3);
    expect(bars.find((bar) => bar.view === 'sales.c')!.classes).toContain('failed');
  });

  test('groups the views by dependency chain, in order of start, the views alone last', () => {
    expect(chainLabels).toEqual(['Chain 1 (4 views)', 'Chain 2 (2 views)', 'Independent views (1)']);
    const timeline = layOutTimeline(REPORT);
    expect(timeline.groups.map((group) => group.bars.map((bar) => bar.view))).toEqual([
      ['sales.a', 'sales.b', 'sales.c', 'sales.d'],
      ['ops."Daily <Totals>"', 'ops.weekly'],
      ['misc.alone'],
    ]);
  });

  test('marks the critical path: from the view that ended last back through the dependency that ended last', () => {
    expect(layOutTimeline(REPORT).criticalPath).toEqual(['sales.a', 'sales.b', 'sales.c']);
    expect(bars.filter((bar) => bar.classes.includes('critical')).map((bar) => bar.view).sort()).toEqual(['sales.a', 'sales.b', 'sales.c']);
  });

  test('a report without dependencies (from an older engine) still draws every view, each alone', () => {
    const flat = { ...REPORT, views: VIEWS.map(({ dependsOn: _dependsOn, ...view }) => view) };
    const parsed = parseSvg(renderTimelineSvg(flat));
    expect(parsed.bars).toHaveLength(VIEWS.length);
    expect(parsed.chainLabels).toEqual([`Independent views (${VIEWS.length})`]);
  });

  test('names are escaped: the SVG is well-formed XML whatever the views are called', () => {
    expect(svg).toContain('ops.&quot;Daily &lt;Totals&gt;&quot;');
    expect(bars.find((bar) => bar.view === 'ops."Daily <Totals>"')).toBeDefined();
  });
});

describe('reading the input', () => {
  test('takes the report, or the JSON of describe-execution whose output holds it', () => {
    expect(readReport(JSON.stringify(REPORT))).toEqual(REPORT);
    expect(readReport(JSON.stringify({ status: 'SUCCEEDED', output: JSON.stringify(REPORT) }))).toEqual(REPORT);
  });

  test('says what it expected when the input is not a report', () => {
    expect(() => readReport('not json')).toThrow(/The input is not JSON/);
    expect(() => readReport(JSON.stringify({ status: 'FAILED', cause: 'boom' })))
      .toThrow(/not a refresh report: expected the execution's output, an object with "startedAt", "durationMs" and "views"/);
  });

  test('the command writes the SVG of the report it reads from standard input or a file', () => {
    const folder = mkdtempSync(join(tmpdir(), 'timeline-'));
    const file = join(folder, 'output.json');
    writeFileSync(file, JSON.stringify(REPORT));
    const cli = join(__dirname, '..', '..', '..', 'src', 'timeline', 'cli.ts');
    const run = (args: string[], input?: string) => spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { input, encoding: 'utf8' });
    const fromFile = run([file]);
    expect(fromFile.status).toBe(0);
    expect(parseSvg(fromFile.stdout).bars).toHaveLength(VIEWS.length);
    const fromStdin = run([], JSON.stringify({ output: JSON.stringify(REPORT) }));
    expect(fromStdin.stdout).toBe(fromFile.stdout);
    const bad = run([], '{}');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^itc-orchestrator-timeline: The input is not a refresh report/);
    rmSync(folder, { recursive: true, force: true });
  });
});
