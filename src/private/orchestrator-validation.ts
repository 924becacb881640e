import { Duration, Token } from 'aws-cdk-lib';
import type { ItcOrchestratorProps, OrchestratorSchedule, RefreshOptions } from '../orchestrator-props';
import type { Pipeline } from '../pipeline';
import { validateFreshness } from './freshness-alarms';
import { validateRefreshCompute } from './refresh-compute-settings';
import { scheduleExpressionProblem } from './schedule-expression';
import { checkDuration, checkInteger, checkNameList, checkNames, checkShorterThan, checkViewDependencies } from './validation';
import { RefreshLimits } from '../shared/contract';
import { parseRelationName, parseSchemaName } from '../shared/names';

/** Schedule names are limited to 64 characters: the longest name made from the prefix. */
export const SCHEDULE_NAME_SUFFIX = '-schedule';
const MAX_PREFIX_LENGTH = 64 - SCHEDULE_NAME_SUFFIX.length;

/** Checks everything about the props that is known at synth, before any resource is created. */
export function validateOrchestratorProps(props: ItcOrchestratorProps): void {
  validatePipelines(props.pipelines);
  validateResourcePrefix(props.resourcePrefix);
  const runLimit = validateRefreshCompute(props);
  validateSubnets(props);
  validateRefreshOptions(props.refresh ?? {}, runLimit);
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

function validateSubnets(props: ItcOrchestratorProps): void {
  // A Fargate task with a public IP address reaches the internet from public subnets.
  if (props.vpcSubnets === undefined || props.refreshCompute?._fargate?.assignPublicIp) {
    return;
  }
  if (props.vpc.selectSubnets(props.vpcSubnets).hasPublic) {
    throw new Error(
      '`vpcSubnets` selects public subnets: the refresh function would get no public IP address there, so it could ' +
        'reach neither Secrets Manager nor anything else through the internet gateway. Select private subnets ' +
        '(ec2.SubnetType.PRIVATE_WITH_EGRESS), or isolated subnets with a Secrets Manager interface endpoint.',
    );
  }
}

function validateRefreshOptions(refresh: RefreshOptions, runLimit: { limitProp: string; limit: Duration }): void {
  checkNameList('refresh.views', refresh.views);
  checkNameList('refresh.schemas', refresh.schemas);
  checkViewDependencies('refresh.extraDependencies', refresh.extraDependencies);
  checkNames('refresh.views', refresh.views, (name) => parseRelationName(name));
  checkNames('refresh.schemas', refresh.schemas, parseSchemaName);
  checkInteger('refresh.concurrency', refresh.concurrency, 1, RefreshLimits.MAX_CONCURRENCY);
  checkInteger('refresh.maxAttempts', refresh.maxAttempts, 1, RefreshLimits.MAX_ATTEMPTS);
  checkDuration('refresh.lockTimeout', refresh.lockTimeout, { unit: 'milliseconds', min: Duration.millis(1) });
  checkDuration('refresh.lockWaitTimeout', refresh.lockWaitTimeout, { unit: 'milliseconds', min: Duration.millis(0) });
  checkDuration('refresh.statementTimeout', refresh.statementTimeout, { unit: 'milliseconds', min: Duration.millis(1) });
  const why = runLimit.limitProp.endsWith('runTimeout') ? 'or the run times out first' : 'or the function times out first';
  checkShorterThan('refresh.lockWaitTimeout', refresh.lockWaitTimeout, runLimit.limitProp, runLimit.limit, why);
  checkShorterThan('refresh.statementTimeout', refresh.statementTimeout, runLimit.limitProp, runLimit.limit, why);
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
