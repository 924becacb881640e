import { Duration, Token } from 'aws-cdk-lib';
import type { FreshnessOptions, OrchestratorSchedule, RefreshOptions } from '../orchestrator-props';
import { formatRelationName, parseRelationName, parseSchemaName } from '../shared/names';

/*
 * Freshness alarms that could never clear: a `maxAge` no longer than the time between two scheduled runs fires between
 * runs that all succeed, and a per-view alarm on a view the selection never refreshes fires for ever.
 */

/**
 * A lower bound of the longest time between two runs the expression starts, or undefined when it cannot be told
 * (a token, a one-time `at()`, a minutes field that is not one number). Days are taken as every day, so a cron that
 * runs on some days only waits at least as long.
 */
export function longestScheduleGap(expression: string): Duration | undefined {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    return rate[2] === 'minute' ? Duration.minutes(value) : rate[2] === 'hour' ? Duration.hours(value) : Duration.days(value);
  }
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron) {
    return undefined;
  }
  const [minutes, hours] = cron[1].trim().split(/\s+/);
  if (!/^\d+$/.test(minutes ?? '')) {
    return undefined;
  }
  const runHours = expandHours(hours ?? '');
  if (!runHours || runHours.length === 0) {
    return undefined;
  }
  let longest = 0;
  runHours.forEach((hour, index) => {
    const next = index + 1 < runHours.length ? runHours[index + 1] : runHours[0] + 24;
    longest = Math.max(longest, next - hour);
  });
  return Duration.hours(longest);
}

/** The hours a cron hours field names, sorted, or undefined for a form this check does not read. */
function expandHours(field: string): number[] | undefined {
  const hours = new Set<number>();
  for (const part of field.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) {
      return undefined;
    }
    const from = match[1] === '*' ? 0 : Number(match[2]);
    const to = match[1] === '*' ? 23 : match[3] !== undefined ? Number(match[3]) : match[4] !== undefined ? 23 : from;
    const step = match[4] !== undefined ? Number(match[4]) : 1;
    if (step < 1 || from > 23 || to > 23 || from > to) {
      return undefined;
    }
    for (let hour = from; hour <= to; hour += step) {
      hours.add(hour);
    }
  }
  return [...hours].sort((a, b) => a - b);
}

/** `freshness.maxAge` must be longer than the longest time between two scheduled runs, where both are known. */
export function checkFreshnessAgainstSchedule(freshness: FreshnessOptions, schedule: OrchestratorSchedule | undefined): void {
  const expression = schedule?.expression.expressionString;
  if (expression === undefined || Token.isUnresolved(expression) || freshness.maxAge.isUnresolved()) {
    return;
  }
  const gap = longestScheduleGap(expression);
  if (gap === undefined || freshness.maxAge.toMilliseconds() > gap.toMilliseconds()) {
    return;
  }
  const suggested = Duration.minutes(gap.toMinutes() + Math.max(60, Math.ceil(gap.toMinutes() / 12)));
  throw new Error(
    `\`freshness.maxAge\` (${freshness.maxAge.toHumanString()}) must be longer than the time between two runs of ` +
      `\`schedule.expression\` "${expression}" (${gap.toHumanString()}${expression.startsWith('cron(') ? ' or more' : ''}): ` +
      'the alarm would fire between runs even when every run succeeds. Allow the interval plus a run\'s length and some ' +
      `slack, e.g. Duration.minutes(${suggested.toMinutes()}) (${suggested.toHumanString()})`,
  );
}

/**
 * Each view of `freshness.views` must be one the selection can refresh, where `refresh.views` and `refresh.schemas`
 * are literal and every listed view names its schema (an unqualified one is found through the search path at run time).
 */
export function checkFreshnessAgainstSelection(freshness: FreshnessOptions, refresh: RefreshOptions): void {
  const { views, schemas } = refresh;
  if ((views === undefined && schemas === undefined) || !freshness.views) {
    return;
  }
  const literal = [...views ?? [], ...schemas ?? [], ...freshness.views].every((name) => !Token.isUnresolved(name));
  if (!literal) {
    return;
  }
  const selectedViews = (views ?? []).map((view) => parseRelationName(view));
  if (selectedViews.some((view) => view.schema === undefined)) {
    return;
  }
  const selected = new Set(selectedViews.map((view) => formatRelationName(view.schema!, view.name)));
  const selectedSchemas = new Set((schemas ?? []).map((schema) => parseSchemaName(schema)));
  for (const input of freshness.views) {
    const view = parseRelationName(input);
    if (view.schema === undefined) {
      continue;
    }
    const name = formatRelationName(view.schema, view.name);
    if (selected.has(name) || selectedSchemas.has(view.schema)) {
      continue;
    }
    const selection = [
      views ? `\`refresh.views\` ${JSON.stringify(views)}` : undefined,
      schemas ? `\`refresh.schemas\` ${JSON.stringify(schemas)}` : undefined,
    ].filter(Boolean).join(' and ');
    throw new Error(
      `\`freshness.views\` names "${input}" (${name}), which ${selection} never select, so its alarm could never clear: ` +
        'add the view (or its schema) to the selection, or remove it from `freshness.views`',
    );
  }
}
