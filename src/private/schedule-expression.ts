/**
 * Checks EventBridge Scheduler expressions at synth time, so a typo fails `cdk synth` instead of
 * the deployment. `ScheduleExpression.rate()`, `.cron()` and `.at()` build valid forms, but
 * `ScheduleExpression.expression()` takes any text, and the cron builder passes its fields through unchecked.
 *
 * @see https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
 */

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface CronField {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: string[];
  /** Characters allowed besides numbers, names, `*`, `,`, `-` and `/`. */
  readonly special?: RegExp;
}

const CRON_FIELDS: CronField[] = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31, special: /^(\?|L|LW|\d{1,2}W)$/ },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES },
  { name: 'day-of-week', min: 1, max: 7, names: DAY_NAMES, special: /^(\?|L|[1-7]L|[A-Z]{3}L|[1-7]#[1-5]|[A-Z]{3}#[1-5])$/ },
  { name: 'year', min: 1970, max: 2199 },
];

/**
 * Returns why the expression is invalid, or undefined when it is valid.
 * Accepts `rate(...)`, `cron(...)` and one-time `at(...)` expressions.
 */
export function scheduleExpressionProblem(expression: string): string | undefined {
  const rate = /^rate\((.*)\)$/.exec(expression);
  if (rate) {
    return rateProblem(rate[1]);
  }
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (cron) {
    return cronProblem(cron[1]);
  }
  if (/^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$/.test(expression)) {
    return undefined;
  }
  return 'expected rate(<value> <unit>), cron(<6 fields>) or at(yyyy-mm-ddThh:mm:ss)';
}

function rateProblem(body: string): string | undefined {
  const match = /^(\d+) (minute|minutes|hour|hours|day|days)$/.exec(body);
  if (!match) {
    return 'a rate must be "<positive whole number> <minute(s)|hour(s)|day(s)>"';
  }
  const value = Number(match[1]);
  if (value < 1) {
    return 'a rate must be at least 1';
  }
  // EventBridge Scheduler takes the singular unit for 1 and the plural for any other value.
  const unit = match[2];
  const singular = !unit.endsWith('s');
  if (value === 1 && !singular) {
    return `a rate of 1 takes the singular unit: "1 ${unit.slice(0, -1)}", not "1 ${unit}"`;
  }
  if (value !== 1 && singular) {
    return `a rate of ${value} takes the plural unit: "${value} ${unit}s", not "${value} ${unit}"`;
  }
  return undefined;
}

function cronProblem(body: string): string | undefined {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) {
    return `a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`;
  }
  for (let index = 0; index < CRON_FIELDS.length; index++) {
    const problem = cronFieldProblem(CRON_FIELDS[index], fields[index]);
    if (problem) {
      return problem;
    }
  }
  const [, , dayOfMonth, , dayOfWeek] = fields;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    return 'exactly one of day-of-month and day-of-week must be "?"';
  }
  return undefined;
}

function cronFieldProblem(field: CronField, value: string): string | undefined {
  for (const part of value.split(',')) {
    if (field.special?.test(part.toUpperCase())) {
      if (value.includes(',')) {
        return `the ${field.name} field cannot combine "${part}" with other values`;
      }
      continue;
    }
    const [range, step, ...extra] = part.split('/');
    if (extra.length > 0 || (step !== undefined && !/^\d+$/.test(step))) {
      return `the ${field.name} field has an invalid step in "${part}"`;
    }
    if (range === '*') {
      continue;
    }
    const bounds = range.split('-');
    if (bounds.length > 2) {
      return `the ${field.name} field has an invalid range "${part}"`;
    }
    for (const bound of bounds) {
      const number = cronValue(field, bound);
      if (number === undefined) {
        return `the ${field.name} field has an invalid value "${bound}" (allowed: ${field.min}-${field.max}` +
          `${field.names ? ` or ${field.names[0]}-${field.names[field.names.length - 1]}` : ''})`;
      }
    }
  }
  return undefined;
}

function cronValue(field: CronField, text: string): number | undefined {
  const named = field.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) {
    return named + 1;
  }
  if (!/^\d+$/.test(text)) {
    return undefined;
  }
  const number = Number(text);
  return number >= field.min && number <= field.max ? number : undefined;
}
