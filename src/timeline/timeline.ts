/**
 * A picture of one refresh run: an SVG timeline drawn from the refresh report (the execution's output). One bar
 * per view from its start to its end, the views grouped by dependency chain (the views linked by the report's
 * `dependsOn`), the critical path outlined, failed and skipped views coloured, and below them the refreshes
 * running at each moment against the run's concurrency.
 *
 * A local tool beside the construct: it imports only the shared report types, and nothing of the construct
 * imports it. `itc-orchestrator-timeline` (./cli) runs it on an execution's output.
 */
import type { RefreshReport, ViewReport, ViewStatus } from '../shared/contract';

/** Where the picture puts one view. */
export interface TimelineBar {
  readonly view: string;
  readonly status: ViewStatus;
  /** From the run's start; for a skipped view, which never started, the end of the last view it waited for. */
  readonly startMs: number;
  readonly durationMs: number;
  /** Whether the view is on the critical path: the chain of views that ended last, each waiting for the one before. */
  readonly critical: boolean;
  readonly attempts: number;
  readonly reason?: string;
}

/** A dependency chain: views linked by `dependsOn`, in order of start. */
export interface TimelineGroup {
  readonly label: string;
  readonly bars: TimelineBar[];
}

/** The picture's content, before drawing. */
export interface Timeline {
  readonly groups: TimelineGroup[];
  /** The run's length in milliseconds: the report's duration, or the last view's end if that is later. */
  readonly totalMs: number;
  /** The views on the critical path, first to last. */
  readonly criticalPath: string[];
}

/** The SVG's geometry: a bar's x is `CHART_LEFT + startMs * scale`, its width `durationMs * scale`. */
export const TimelineLayout = {
  WIDTH: 1100,
  CHART_LEFT: 320,
  CHART_RIGHT: 1080,
  ROW_HEIGHT: 22,
  BAR_HEIGHT: 14,
  /** The width of the mark of a view that never started. */
  SKIPPED_MARK: 6,
} as const;

const COLOURS: Record<ViewStatus, string> = { refreshed: '#4e79a7', failed: '#e15759', skipped: '#bab0ac' };
const CRITICAL_COLOUR = '#f28e2b';

/** Reads a report, or the JSON of `aws stepfunctions describe-execution` whose `output` holds one. */
export function readReport(json: string): RefreshReport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new Error(`The input is not JSON: ${(error as Error).message}`);
  }
  if (isRecord(parsed) && typeof parsed.output === 'string') return readReport(parsed.output);
  if (!isRecord(parsed) || !Array.isArray(parsed.views) || typeof parsed.startedAt !== 'string' || typeof parsed.durationMs !== 'number') {
    throw new Error('The input is not a refresh report: expected the execution\'s output, an object with "startedAt", "durationMs" and "views" '
      + '(an execution that failed has no output: its cause holds the error)');
  }
  return parsed as unknown as RefreshReport;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Lays the report's views out: their times from the run's start, their chains, the critical path. */
export function layOutTimeline(report: RefreshReport): Timeline {
  const runStart = Date.parse(report.startedAt);
  const byName = new Map(report.views.map((view) => [view.view, view]));
  const dependencies = (view: ViewReport) => (view.dependsOn ?? []).filter((name) => byName.has(name));

  // Started views sit at their own start; a skipped view at the end of the last view it waited for.
  const timing = new Map<string, { startMs: number; durationMs: number }>();
  const timingOf = (view: ViewReport, visiting = new Set<string>()): { startMs: number; durationMs: number } => {
    const known = timing.get(view.view);
    if (known) return known;
    let placed: { startMs: number; durationMs: number };
    if (view.startedAt !== undefined) {
      placed = { startMs: Math.max(0, Date.parse(view.startedAt) - runStart), durationMs: view.durationMs };
    } else {
      visiting.add(view.view);
      const ends = dependencies(view).filter((name) => !visiting.has(name)).map((name) => {
        const dependency = timingOf(byName.get(name)!, visiting);
        return dependency.startMs + dependency.durationMs;
      });
      placed = { startMs: Math.max(0, ...ends), durationMs: 0 };
    }
    timing.set(view.view, placed);
    return placed;
  };
  report.views.forEach((view) => timingOf(view));
  const end = (name: string) => timing.get(name)!.startMs + timing.get(name)!.durationMs;

  const criticalPath = findCriticalPath(report.views.filter((view) => view.status !== 'skipped'), dependencies, end);
  const critical = new Set(criticalPath);

  const groups = chains(report.views, dependencies).map((members) => members
    .map((view): TimelineBar => ({
      view: view.view,
      status: view.status,
      ...timing.get(view.view)!,
      critical: critical.has(view.view),
      attempts: view.attempts,
      reason: view.reason,
    }))
    .sort((a, b) => a.startMs - b.startMs || a.view.localeCompare(b.view)));
  groups.sort((a, b) => a[0].startMs - b[0].startMs || b.length - a.length);
  const linked = groups.filter((bars) => bars.length > 1);
  const alone = groups.filter((bars) => bars.length === 1).flat();
  const labelled: TimelineGroup[] = linked.map((bars, index) => ({ label: `Chain ${index + 1} (${bars.length} views)`, bars }));
  if (alone.length > 0) labelled.push({ label: `Independent views (${alone.length})`, bars: alone.sort((a, b) => a.startMs - b.startMs) });

  const lastEnd = Math.max(0, ...report.views.map((view) => end(view.view)));
  return { groups: labelled, totalMs: Math.max(report.durationMs, lastEnd, 1), criticalPath };
}

/** The views linked by dependencies, each set in report order. */
function chains(views: readonly ViewReport[], dependencies: (view: ViewReport) => string[]): ViewReport[][] {
  const parent = new Map(views.map((view) => [view.view, view.view]));
  const root = (name: string): string => {
    let current = name;
    while (parent.get(current) !== current) current = parent.get(current)!;
    return current;
  };
  for (const view of views) {
    for (const dependency of dependencies(view)) parent.set(root(view.view), root(dependency));
  }
  const sets = new Map<string, ViewReport[]>();
  for (const view of views) {
    const key = root(view.view);
    sets.set(key, [...(sets.get(key) ?? []), view]);
  }
  return [...sets.values()];
}

/**
 * The chain that decided the run's length: from the view that ended last, back through the dependency it waited
 * for longest (the one that ended last), to a view that waited for none.
 */
function findCriticalPath(started: readonly ViewReport[], dependencies: (view: ViewReport) => string[], end: (name: string) => number): string[] {
  if (started.length === 0) return [];
  const byName = new Map(started.map((view) => [view.view, view]));
  let current: ViewReport | undefined = started.reduce((latest, view) => (end(view.view) > end(latest.view) ? view : latest));
  const path: string[] = [];
  while (current && !path.includes(current.view)) {
    path.unshift(current.view);
    const waitedFor: string[] = dependencies(current).filter((name) => byName.has(name));
    current = waitedFor.length === 0 ? undefined
      : byName.get(waitedFor.reduce((latest: string, name: string) => (end(name) > end(latest) ? name : latest)));
  }
  return path;
}

/** How many refreshes ran at each moment: the steps of a step chart, each from `atMs` on. */
export function concurrencySteps(timeline: Timeline): Array<{ atMs: number; running: number }> {
  const changes = timeline.groups.flatMap((group) => group.bars)
    .filter((bar) => bar.status !== 'skipped')
    .flatMap((bar) => [{ atMs: bar.startMs, delta: 1 }, { atMs: bar.startMs + bar.durationMs, delta: -1 }])
    .sort((a, b) => a.atMs - b.atMs || a.delta - b.delta);
  const steps: Array<{ atMs: number; running: number }> = [{ atMs: 0, running: 0 }];
  let running = 0;
  for (const change of changes) {
    running += change.delta;
    if (steps[steps.length - 1].atMs === change.atMs) steps[steps.length - 1] = { atMs: change.atMs, running };
    else steps.push({ atMs: change.atMs, running });
  }
  return steps;
}

/** Renders the report as a self-contained SVG document. */
export function renderTimelineSvg(report: RefreshReport): string {
  const timeline = layOutTimeline(report);
  const { WIDTH, CHART_LEFT, CHART_RIGHT, ROW_HEIGHT, BAR_HEIGHT, SKIPPED_MARK } = TimelineLayout;
  const scale = (CHART_RIGHT - CHART_LEFT) / timeline.totalMs;
  const x = (ms: number) => round(CHART_LEFT + ms * scale);
  const parts: string[] = [];
  let y = 20;

  const totals = report.totals;
  parts.push(text(12, y, `Refresh run of ${report.startedAt}: ${report.status}, ${seconds(report.durationMs)}, concurrency ${report.concurrency}`, 'title'));
  y += 18;
  parts.push(text(12, y, `${totals.selected} views: ${totals.refreshed} refreshed, ${totals.failed} failed, ${totals.skipped} skipped`
    + (report.viewsOmitted > 0 ? `; ${report.viewsOmitted} not listed in the report (the log has every view)` : ''), 'note'));
  y += 18;
  parts.push(legend(12, y));
  y += 24;

  const axisTop = y;
  const ticks = axisTicks(timeline.totalMs);
  for (const tick of ticks) {
    parts.push(`<text class="tick" x="${x(tick)}" y="${y}" text-anchor="middle">${seconds(tick)}</text>`);
  }
  y += 8;
  const rowsTop = y;

  for (const group of timeline.groups) {
    parts.push(`<g class="chain" data-label="${escape(group.label)}">`);
    parts.push(text(12, y + 14, group.label, 'chain-label'));
    y += ROW_HEIGHT;
    for (const bar of group.bars) {
      const barY = y + (ROW_HEIGHT - BAR_HEIGHT) / 2;
      const width = bar.status === 'skipped' ? SKIPPED_MARK : Math.max(round(bar.durationMs * scale), 0.5);
      const classes = ['bar', bar.status, ...(bar.critical ? ['critical'] : [])].join(' ');
      const tooltip = `${bar.view}: ${bar.status}, ${bar.status === 'skipped' ? 'not started' : `from ${seconds(bar.startMs)} for ${seconds(bar.durationMs)}`}`
        + `${bar.attempts > 1 ? `, ${bar.attempts} attempts` : ''}${bar.critical ? ', on the critical path' : ''}${bar.reason ? `: ${bar.reason}` : ''}`;
      parts.push(text(24, y + 15, truncate(bar.view, 44), `view-label${bar.critical ? ' critical' : ''}`));
      parts.push(`<rect class="${classes}" data-view="${escape(bar.view)}" data-status="${bar.status}" data-start-ms="${bar.startMs}" `
        + `data-duration-ms="${bar.durationMs}" x="${x(bar.startMs)}" y="${barY}" width="${width}" height="${BAR_HEIGHT}" `
        + `fill="${COLOURS[bar.status]}"${bar.critical ? ` stroke="${CRITICAL_COLOUR}" stroke-width="3"` : ''}`
        + `${bar.status === 'skipped' ? ' stroke-dasharray="2 2"' : ''}><title>${escape(tooltip)}</title></rect>`);
      y += ROW_HEIGHT;
    }
    parts.push('</g>');
  }

  // The refreshes running at each moment, against the run's concurrency.
  y += 10;
  const stripHeight = 50;
  const limit = Math.max(report.concurrency, 1);
  const steps = concurrencySteps(timeline);
  const peak = Math.max(limit, ...steps.map((step) => step.running));
  const level = (running: number) => round(y + stripHeight - (running / peak) * stripHeight);
  let path = `M ${x(0)} ${level(0)}`;
  for (const step of steps) path += ` H ${x(step.atMs)} V ${level(step.running)}`;
  path += ` H ${x(timeline.totalMs)}`;
  const busyMs = timeline.groups.flatMap((group) => group.bars).reduce((sum, bar) => sum + (bar.status === 'skipped' ? 0 : bar.durationMs), 0);
  const utilisation = Math.round((100 * busyMs) / (limit * timeline.totalMs));
  parts.push(text(12, y + 16, 'Refreshes running', 'chain-label'));
  parts.push(text(12, y + 32, `${utilisation}% of ${limit} slot(s) busy over the run`, 'note'));
  parts.push(`<line class="limit" x1="${x(0)}" x2="${x(timeline.totalMs)}" y1="${level(limit)}" y2="${level(limit)}" stroke="#999" stroke-dasharray="4 3"/>`);
  parts.push(`<path class="running" d="${path}" fill="none" stroke="${COLOURS.refreshed}" stroke-width="2"/>`);
  y += stripHeight + 12;

  const grid = ticks.map((tick) => `<line x1="${x(tick)}" x2="${x(tick)}" y1="${rowsTop}" y2="${y - 10}" stroke="#e5e5e5"/>`).join('');
  // Before the first refresh the run connects, takes its run lock and plans.
  const firstStart = Math.min(...steps.slice(1).map((step) => step.atMs), timeline.totalMs);
  const preparing = firstStart > 0 ? `<rect class="preparing" x="${x(0)}" y="${rowsTop}" width="${round(firstStart * scale)}" height="${y - 10 - rowsTop}" `
    + `fill="#f4f4f4"><title>${escape(`Connecting, taking the run lock and planning (${report.planningMs} ms of planning): ${seconds(firstStart)}`)}</title></rect>`
    + (firstStart * scale > 120 ? text(x(0) + 6, rowsTop + 14, 'connect, lock, plan', 'note') : '') : '';
  const height = y + 10;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" `
      + `data-total-ms="${timeline.totalMs}" data-chart-left="${CHART_LEFT}" data-ms-scale="${scale}" font-family="sans-serif" font-size="12">`,
    '<style>.title{font-size:14px;font-weight:bold}.note,.tick{fill:#555}.chain-label{font-weight:bold}.view-label.critical{fill:#b35900;font-weight:bold}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<g class="grid" data-axis-top="${axisTop}">${preparing}${grid}</g>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function legend(left: number, y: number): string {
  const entries: Array<[string, string, string]> = [
    ['refreshed', COLOURS.refreshed, ''], ['failed', COLOURS.failed, ''], ['skipped (never started)', COLOURS.skipped, ' stroke-dasharray="2 2" stroke="#777"'],
    ['critical path', '#fff', ` stroke="${CRITICAL_COLOUR}" stroke-width="3"`],
  ];
  let offset = left;
  return `<g class="legend">${entries.map(([label, fill, extra]) => {
    const item = `<rect x="${offset}" y="${y - 10}" width="16" height="10" fill="${fill}"${extra}/>${text(offset + 22, y, label, 'note')}`;
    offset += 40 + label.length * 7;
    return item;
  }).join('')}</g>`;
}

/** Tick marks at 1, 2 or 5 times a power of ten milliseconds, about eight over the run. */
function axisTicks(totalMs: number): number[] {
  const rough = totalMs / 8;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough) ?? power * 10;
  const ticks: number[] = [];
  for (let tick = 0; tick <= totalMs; tick += step) ticks.push(tick);
  return ticks;
}

function text(x: number, y: number, content: string, className: string): string {
  return `<text class="${className}" x="${x}" y="${y}">${escape(content)}</text>`;
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function truncate(value: string, length: number): string {
  return value.length <= length ? value : `${value.slice(0, length - 1)}…`;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function escape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
