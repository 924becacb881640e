/**
 * CloudWatch's two ways from a log line to a metric, evaluated locally: the extraction of Embedded Metric Format
 * lines (what Lambda's log streams get) and metric filters with JSON filter patterns (what any log group gets).
 * Only the pattern forms the construct synthesizes are read: `{ (cond) && (cond) ... }` where each condition is
 * `$.field = "text"`, `$.field != "text"` or a numeric comparison `$.field >= 0`.
 */
import type { CloudFormationTemplate } from './template';

/** One value CloudWatch receives: the metric, its dimensions and the value. */
export interface Datapoint {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Record<string, string>;
  readonly value: number;
}

/** A metric filter as the synthesized template declares it. */
export interface MetricFilterDefinition {
  readonly logicalId: string;
  /** The log group's logical ID, from `LogGroupName: { Ref }`. */
  readonly logGroupLogicalId: string;
  readonly filterPattern: string;
  readonly namespace: string;
  readonly name: string;
  /** `$.field`, or a number. */
  readonly value: string;
  /** Dimension name to `$.field`. */
  readonly dimensions: Record<string, string>;
}

interface Condition {
  readonly path: string[];
  readonly operator: '=' | '!=' | '<' | '<=' | '>' | '>=';
  readonly text?: string;
  readonly number?: number;
}

const CONDITION = /^\(?\s*\$\.([A-Za-z0-9_.]+)\s*(=|!=|<=|>=|<|>)\s*(?:"((?:[^"\\]|\\.)*)"|(-?[0-9.]+))\s*\)?$/;

/** Reads a JSON filter pattern of the forms above; throws on any other, so a test cannot pass on a pattern it did not read. */
export function parseJsonFilterPattern(pattern: string): Condition[] {
  const body = pattern.trim().match(/^\{(.*)\}$/s)?.[1];
  if (body === undefined) throw new Error(`Not a JSON filter pattern: ${pattern}`);
  return body.split('&&').map((part) => {
    const match = part.trim().match(CONDITION);
    if (!match) throw new Error(`Unsupported condition "${part.trim()}" in filter pattern ${pattern}`);
    const [, path, operator, text, number] = match;
    if (text !== undefined && operator !== '=' && operator !== '!=') throw new Error(`A text compares with = or != only: ${part}`);
    return {
      path: path.split('.'),
      operator: operator as Condition['operator'],
      ...(text !== undefined ? { text: JSON.parse(`"${text}"`) as string } : { number: Number(number) }),
    };
  });
}

function select(event: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((value, key) => (value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined), event);
}

/** Whether a JSON log event matches the pattern, as CloudWatch Logs decides it. */
export function matchesFilterPattern(pattern: string, event: unknown): boolean {
  return parseJsonFilterPattern(pattern).every((condition) => {
    const value = select(event, condition.path);
    if (condition.text !== undefined) {
      // A text condition compares the field's text; a missing field never equals.
      if (value === undefined || value === null || typeof value === 'object') return false;
      const equal = String(value) === condition.text;
      return condition.operator === '=' ? equal : !equal;
    }
    if (typeof value !== 'number') return false;
    const target = condition.number!;
    switch (condition.operator) {
      case '=': return value === target;
      case '!=': return value !== target;
      case '<': return value < target;
      case '<=': return value <= target;
      case '>': return value > target;
      case '>=': return value >= target;
    }
  });
}

/** A log line as CloudWatch Logs reads it for JSON patterns: the JSON object, or undefined for any other line. */
export function jsonEvent(line: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/** The metric filters of a synthesized template. */
export function metricFilters(template: CloudFormationTemplate): MetricFilterDefinition[] {
  return Object.entries(template.Resources ?? {})
    .filter(([, resource]) => resource.Type === 'AWS::Logs::MetricFilter')
    .flatMap(([logicalId, resource]) => {
      const properties = resource.Properties as any;
      return (properties.MetricTransformations as any[]).map((transformation) => ({
        logicalId,
        logGroupLogicalId: properties.LogGroupName.Ref,
        filterPattern: properties.FilterPattern,
        namespace: transformation.MetricNamespace,
        name: transformation.MetricName,
        value: transformation.MetricValue,
        dimensions: Object.fromEntries((transformation.Dimensions ?? [])
          .map((dimension: { Key: string; Value: string }) => [dimension.Key, dimension.Value])),
      }));
    });
}

/**
 * The datapoints metric filters publish from the log lines: per matching event, the value (a `$.field` that must
 * be a number, else the event publishes nothing) with the dimensions read from the event, as CloudWatch does.
 */
export function metricFilterDatapoints(filters: readonly MetricFilterDefinition[], lines: readonly string[]): Datapoint[] {
  const datapoints: Datapoint[] = [];
  for (const line of lines) {
    const event = jsonEvent(line);
    if (!event) continue;
    for (const filter of filters) {
      if (!matchesFilterPattern(filter.filterPattern, event)) continue;
      const value = filter.value.startsWith('$.') ? select(event, filter.value.slice(2).split('.')) : Number(filter.value);
      if (typeof value !== 'number') continue;
      const dimensions: Record<string, string> = {};
      let complete = true;
      for (const [name, field] of Object.entries(filter.dimensions)) {
        const dimension = select(event, field.slice(2).split('.'));
        // CloudWatch publishes no datapoint for an event that lacks a dimension's field.
        if (dimension === undefined || dimension === null || typeof dimension === 'object') complete = false;
        else dimensions[name] = String(dimension);
      }
      if (complete) datapoints.push({ namespace: filter.namespace, name: filter.name, dimensions, value });
    }
  }
  return datapoints;
}

/** The datapoints CloudWatch extracts from the Embedded Metric Format lines among the log lines. */
export function embeddedMetricDatapoints(lines: readonly string[]): Datapoint[] {
  const datapoints: Datapoint[] = [];
  for (const line of lines) {
    const event = jsonEvent(line);
    const directives = (event?._aws as { CloudWatchMetrics?: unknown } | undefined)?.CloudWatchMetrics;
    if (!event || !Array.isArray(directives)) continue;
    for (const directive of directives as Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }>) {
      for (const dimensionSet of directive.Dimensions.length > 0 ? directive.Dimensions : [[]]) {
        const dimensions = Object.fromEntries(dimensionSet.map((name) => [name, String(event[name])]));
        for (const { Name } of directive.Metrics) {
          const values = event[Name];
          for (const value of Array.isArray(values) ? values : [values]) {
            if (typeof value === 'number') datapoints.push({ namespace: directive.Namespace, name: Name, dimensions, value });
          }
        }
      }
    }
  }
  return datapoints;
}

/** The sum of the datapoints of one metric with exactly these dimensions; undefined when there are none. */
export function sumOf(datapoints: readonly Datapoint[], metric: Omit<Datapoint, 'value'>): number | undefined {
  const matching = datapoints.filter((datapoint) => datapoint.namespace === metric.namespace && datapoint.name === metric.name
    && JSON.stringify(Object.entries(datapoint.dimensions).sort()) === JSON.stringify(Object.entries(metric.dimensions).sort()));
  return matching.length === 0 ? undefined : matching.reduce((sum, datapoint) => sum + datapoint.value, 0);
}
