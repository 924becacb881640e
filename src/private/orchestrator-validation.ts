import { Duration, Token } from 'aws-cdk-lib';
import type { ItcOrchestratorProps, OrchestratorSchedule, RefreshOptions } from '../orchestrator-props';
import type { Pipeline } from '../pipeline';
import { validateFreshness } from './freshness-alarms';
import type { RefreshComputeLimits } from './refresh-compute-binding';
import { scheduleExpressionProblem } from './schedule-expression';
import { checkDuration, checkInteger, checkNameList, checkNames, checkShorterThan, checkViewDependencies } from './validation';
import { RefreshLimits } from '../shared/contract';
import { parseRelationName, parseSchemaName } from '../shared/names';

/** Schedule names are limited to 64 characters: the longest name made from the prefix. */
export const SCHEDULE_NAME_SUFFIX = '-schedule';
const MAX_PREFIX_LENGTH = 64 - SCHEDULE_NAME_SUFFIX.length;

/**
 * Checks everything about the props that is known at synth and independent of the refresh compute, before any
 * resource is created. The refresh compute checks its own options as it binds; {@link validateRefreshComputeFit}
 * then checks the props that depend on it.
 */
export function validateOrchestratorProps(props: ItcOrchestratorProps): void {
  validatePipelines(props.pipelines);
  validateResourcePrefix(props.resourcePrefix);
  validateRefreshOptions(props.refresh ?? {});
  // The state machine's TimeoutSeconds holds whole seconds only.
  checkDuration('executionTimeout', props.executionTimeout, { unit: 'seconds', min: Duration.seconds(1) });
  if (props.schedule) {
    validateSchedule(props.schedule);
  }
  if (props.freshness) {
    validateFreshness(props.freshness);
  }
}

function validatePipelines(pipelines: Pipeline[]): void {
  if (pipelines.length === 0) {
    throw new Error('`pipelines` must hold at least one pipeline, got none');
  }
  const seen = new Set<string>();
  for (const pipeline of pipelines) {
    const key = pipeline.name.toLowerCase();
    if (seen.has(key)) {
      throw new Error(`\`pipelines\` must have unique names (ignoring case), got "${pipeline.name}" twice`);
    }
    seen.add(key);
  }
}

function validateResourcePrefix(prefix: string | undefined): void {
  if (prefix === undefined || Token.isUnresolved(prefix)) {
    return;
  }
  if (prefix.length === 0 || prefix.length > MAX_PREFIX_LENGTH) {
    throw new Error(
      `\`resourcePrefix\` must have 1 to ${MAX_PREFIX_LENGTH} characters, so that "<prefix>${SCHEDULE_NAME_SUFFIX}" ` +
        `fits the 64-character limit of schedule names, got "${prefix}" (${prefix.length} characters)`,
    );
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(prefix)) {
    throw new Error(
      `\`resourcePrefix\` may contain only letters, digits, "-" and "_", starting with a letter or digit, got "${prefix}"`,
    );
  }
}

/**
 * Checks the props that depend on the refresh compute: the refresh timeouts must end before the refresh run does,
 * and the alarms on the refresh engine's metrics need a compute whose metrics CloudWatch receives.
 */
export function validateRefreshComputeFit(props: ItcOrchestratorProps, limits: RefreshComputeLimits): void {
  const { runLimit, runLimitReason, noMetricsReason } = limits;
  const refresh = props.refresh ?? {};
  checkShorterThan('refresh.runLockWaitTimeout', refresh.runLockWaitTimeout, runLimit.prop, runLimit.limit, runLimitReason);
  checkShorterThan('refresh.statementTimeout', refresh.statementTimeout, runLimit.prop, runLimit.limit, runLimitReason);
  if (noMetricsReason === undefined) {
    return;
  }
  const needMetrics: Array<[string, unknown]> = [['alarmOnRefreshRunsSkippedByLock', props.alarmOnRefreshRunsSkippedByLock], ['freshness', props.freshness]];
  for (const [name, value] of needMetrics) {
    if (value) {
      throw new Error(`\`${name}\` needs the refresh function (RefreshCompute.lambda()): ${noMetricsReason}`);
    }
  }
}

function validateRefreshOptions(refresh: RefreshOptions): void {
  checkNameList('refresh.views', refresh.views);
  checkNameList('refresh.schemas', refresh.schemas);
  checkViewDependencies('refresh.extraDependencies', refresh.extraDependencies);
  checkNames('refresh.views', refresh.views, (name) => parseRelationName(name));
  checkNames('refresh.schemas', refresh.schemas, parseSchemaName);
  checkInteger('refresh.concurrency', refresh.concurrency, 1, RefreshLimits.MAX_CONCURRENCY);
  checkInteger('refresh.maxAttempts', refresh.maxAttempts, 1, RefreshLimits.MAX_ATTEMPTS);
  checkDuration('refresh.viewLockTimeout', refresh.viewLockTimeout, { unit: 'milliseconds', min: Duration.millis(1) });
  checkDuration('refresh.runLockWaitTimeout', refresh.runLockWaitTimeout, { unit: 'milliseconds', min: Duration.millis(0) });
  checkDuration('refresh.statementTimeout', refresh.statementTimeout, { unit: 'milliseconds', min: Duration.millis(1) });
}

function validateSchedule(schedule: OrchestratorSchedule): void {
  const expression = schedule.expression.expressionString;
  if (Token.isUnresolved(expression)) {
    return;
  }
  const problem = scheduleExpressionProblem(expression);
  if (problem) {
    throw new Error(`\`schedule.expression\` "${expression}" is invalid: ${problem}`);
  }
}
