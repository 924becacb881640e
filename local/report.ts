import type { LocalExecution, StateRecord } from './step-functions';
import type { RefreshReport, ViewReport } from '../src/shared/contract';

type StatesContainer = { States?: Record<string, Record<string, unknown>> };

/** How deep each state is nested in Parallel branches and Map iterations (0 = top level). */
export function stateDepths(definition: StatesContainer, depth = 0): Map<string, number> {
  const depths = new Map<string, number>();
  for (const [name, state] of Object.entries(definition.States ?? {})) {
    depths.set(name, depth);
    const children = [
      ...((state.Branches as StatesContainer[] | undefined) ?? []),
      ...[state.Iterator, state.ItemProcessor].filter((child): child is StatesContainer => child !== undefined),
    ];
    for (const child of children) {
      stateDepths(child, depth + 1).forEach((childDepth, childName) => depths.set(childName, childDepth));
    }
  }
  return depths;
}

export interface ReportOptions {
  /** The width of the timeline's bars, in characters. @default 48 */
  readonly timelineWidth?: number;
}

/** The refresh report of a run: its output, when the run ended with one. */
export function refreshReportOf(execution: LocalExecution): RefreshReport | undefined {
  const output = execution.output as Partial<RefreshReport> | undefined;
  return output && Array.isArray(output.views) && output.totals ? (output as RefreshReport) : undefined;
}

/** A readable account of one run: its states with start and end, a timeline, and the views. */
export function formatRunReport(execution: LocalExecution, definition: StatesContainer, options: ReportOptions = {}): string {
  const origin = execution.startDate.getTime();
  const end = execution.stopDate?.getTime() ?? Date.now();
  const depths = stateDepths(definition);
  const states = [...execution.states].sort((a, b) => a.enteredAt - b.enteredAt || (depths.get(a.name) ?? 0) - (depths.get(b.name) ?? 0));
  const label = (state: StateRecord) => '  '.repeat(depths.get(state.name) ?? 0) + state.name;
  const labelWidth = Math.max(...states.map((state) => label(state).length), 10);

  const lines: string[] = [];
  lines.push(`Execution ${execution.name}`);
  lines.push(`  ${execution.status} in ${seconds(end - origin)}  (started ${clock(origin)}, ended ${clock(end)})`);
  if (execution.error) {
    lines.push(`  Error: ${execution.error}`);
    lines.push(`  Cause: ${execution.cause ?? ''}`);
  }

  lines.push('', 'States');
  lines.push(`  ${'state'.padEnd(labelWidth)}  ${'start'.padEnd(12)}  ${'end'.padEnd(12)}  ${'took'.padStart(8)}  outcome`);
  for (const state of states) {
    const exited = state.exitedAt;
    const outcome = state.outcome + (state.attempts > 1 ? ` after ${state.attempts} attempts` : '') + (state.error && state.outcome !== 'succeeded' ? ` (${state.error})` : '');
    lines.push(
      `  ${label(state).padEnd(labelWidth)}  ${clock(state.enteredAt)}  ${exited === undefined ? '-'.padEnd(12) : clock(exited)}  ` +
        `${(exited === undefined ? '-' : milliseconds(exited - state.enteredAt)).padStart(8)}  ${outcome}`,
    );
  }

  const width = options.timelineWidth ?? 48;
  const span = Math.max(end - origin, 1);
  const column = (time: number) => Math.min(width - 1, Math.max(0, Math.floor(((time - origin) / span) * width)));
  lines.push('', `Timeline (${seconds(span)} across, one column = ${milliseconds(span / width)})`);
  for (const state of states) {
    const from = column(state.enteredAt);
    const to = Math.max(from, column(state.exitedAt ?? end));
    const bar = ' '.repeat(from) + '█'.repeat(to - from + 1);
    lines.push(`  ${label(state).padEnd(labelWidth)} |${bar.padEnd(width)}|`);
  }

  const report = refreshReportOf(execution);
  if (report) {
    lines.push('', formatRefreshReport(report));
  }
  return lines.join('\n');
}

/** One row per view: status, whether CONCURRENTLY was used, duration. */
export function formatRefreshReport(report: RefreshReport): string {
  const { totals } = report;
  const lines = [
    `Views (${report.status}: ${totals.refreshed} refreshed, ${totals.failed} failed, ${totals.skipped} skipped of ${totals.selected}; ` +
      `concurrency ${report.concurrency}, lock ${report.lock}, ${milliseconds(report.durationMs)})`,
  ];
  const viewWidth = Math.max(...report.views.map((view) => view.view.length), 4);
  lines.push(`  ${'view'.padEnd(viewWidth)}  ${'status'.padEnd(9)}  ${'mode'.padEnd(12)}  ${'start'.padEnd(12)}  ${'took'.padStart(8)}  attempts`);
  // In the order they started, which shows the dependency order; skipped views last.
  const started = (view: ViewReport) => (view.startedAt ? Date.parse(view.startedAt) : Number.MAX_SAFE_INTEGER);
  const views = [...report.views].sort((a, b) => started(a) - started(b));
  for (const view of views) {
    const start = view.startedAt ? clock(Date.parse(view.startedAt)) : '-'.padEnd(12);
    lines.push(
      `  ${view.view.padEnd(viewWidth)}  ${view.status.padEnd(9)}  ${mode(view).padEnd(12)}  ${start}  ` +
        `${milliseconds(view.durationMs).padStart(8)}  ${view.attempts}` +
        (view.reason ? `  ${view.reason}` : ''),
    );
  }
  if (report.viewsOmitted > 0) {
    lines.push(`  … and ${report.viewsOmitted} more view(s), left out of the report for size; the log lists every view`);
  }
  return lines.join('\n');
}

function mode(view: ViewReport): string {
  if (view.status === 'skipped') return '-';
  return view.concurrently ? 'CONCURRENTLY' : 'plain';
}

function clock(time: number): string {
  return new Date(time).toISOString().slice(11, 23);
}

function milliseconds(ms: number): string {
  return ms >= 10 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
