import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { BoundPipeline } from './pipelines';
import { StateNames } from './state-names';

/*
 * With `refresh.onlyChangedTables`, each pipeline branch reads the `changedTables` list from its
 * function's result, and the states after the pipelines turn those lists into the refresh event.
 *
 * A branch ends with { pipeline, failed: false, summary: '', reported, changed, note, changedTables }:
 * `reported` is false when the result had no list (`note` then says why), `changed` is true when the
 * list names at least one table. Every route through a branch writes every field, so the states
 * after the pipelines can read them all.
 */

/** The result selector of a pipeline's invocation: its success, and its function's result to inspect. */
export function pipelineResultWithPayload(name: string): { [key: string]: any } {
  return { 'pipeline': name, 'failed': false, 'summary': '', 'payload.$': '$.Payload' };
}

/** The states that read a pipeline's `changedTables` after its function succeeded. */
export function readChangedTables(scope: Construct, name: string): sfn.IChainable {
  const outcome = (fields: { [key: string]: any }) => ({ pipeline: name, failed: false, summary: '', ...fields });
  const notReported = (id: string, why: string) => new sfn.Pass(scope, id, {
    // Pipeline names are validated to hold no quote, brace or backslash, so they are safe in the template.
    parameters: outcome({ reported: false, changed: false, note: `${name} ${why}; `, changedTables: [] }),
  });

  // States.JsonToString tells a list from any other JSON value, null included: only a list's text starts with `[`.
  const inspect = new sfn.Pass(scope, StateNames.readChangedTables(name), {
    parameters: { 'listed.$': 'States.JsonToString($.payload.changedTables)', 'changedTables.$': '$.payload.changedTables' },
  });
  const isList = new sfn.Choice(scope, StateNames.isChangedTablesList(name))
    .when(sfn.Condition.stringEquals('$.listed', '[]'),
      new sfn.Pass(scope, StateNames.pipelineChangedNothing(name), {
        parameters: outcome({ reported: true, changed: false, note: '', changedTables: [] }),
      }))
    .when(sfn.Condition.stringMatches('$.listed', '[*'),
      new sfn.Pass(scope, StateNames.pipelineChangedTables(name), {
        parameters: outcome({ 'reported': true, 'changed': true, 'note': '', 'changedTables.$': '$.changedTables' }),
      }))
    .otherwise(notReported(StateNames.pipelineChangedTablesNotAList(name), 'returned a changedTables that is not a list'));

  return new sfn.Choice(scope, StateNames.didPipelineReportTables(name))
    .when(sfn.Condition.isPresent('$.payload.changedTables'), inspect.next(isList))
    .otherwise(notReported(StateNames.pipelineReportedNoTables(name), 'returned no changedTables'));
}

/**
 * After every pipeline succeeded: the refresh event. The changed tables of all pipelines together, an
 * empty list when no pipeline changed a table, or, when a pipeline reported no list, no tables at all
 * (the whole configured set) with the reason.
 */
export function changedTablesEvent(scope: Construct, pipelines: BoundPipeline[], refresh: sfn.IChainable): sfn.IChainable {
  const any = (conditions: sfn.Condition[]) => (conditions.length === 1 ? conditions[0] : sfn.Condition.or(...conditions));
  const notReported = any(pipelines.map((_, index) => sfn.Condition.booleanEquals(`$[${index}].reported`, false)));
  const changed = any(pipelines.map((_, index) => sfn.Condition.booleanEquals(`$[${index}].changed`, true)));
  const placeholders = pipelines.map(() => '{}').join('');
  const notes = pipelines.map((_, index) => `$[${index}].note`).join(', ');

  const refreshEverything = new sfn.Pass(scope, StateNames.REFRESH_EVERYTHING, {
    comment: 'A pipeline did not say what it changed, so every view is refreshed.',
    parameters: { 'fullRefreshReason.$': `States.Format('not every pipeline reported its changed tables: ${placeholders}', ${notes})` },
  });
  const gather = new sfn.Pass(scope, StateNames.GATHER_CHANGED_TABLES, {
    comment: 'The tables every pipeline changed; the refresh removes duplicates.',
    parameters: { 'tables.$': '$[*].changedTables[*]' },
  });
  const nothingChanged = new sfn.Pass(scope, StateNames.NOTHING_CHANGED, {
    comment: 'No pipeline changed a table: the refresh refreshes nothing and reports it.',
    parameters: { tables: [] },
  });

  return new sfn.Choice(scope, StateNames.DID_PIPELINES_REPORT_TABLES)
    .when(notReported, refreshEverything.next(refresh))
    .when(changed, gather.next(refresh))
    .otherwise(nothingChanged.next(refresh));
}
