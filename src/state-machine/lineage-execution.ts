import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { StateNames } from './state-names';

/** The execution as the refresh's lineage events name it (`RefreshEvent.lineage`), from the context object. */
const EXECUTION = {
  'executionArn.$': '$$.Execution.Id',
  'executionStartTime.$': '$$.Execution.StartTime',
  'stateMachineName.$': '$$.StateMachine.Name',
};

/**
 * With lineage on, a state before the refresh adds the execution to the refresh's event, so that its lineage
 * events name the execution as their root: beside the changed tables with `eventFromState`, else as the whole
 * event. The refresh then reads its event from its input in both cases. With lineage off, nothing changes.
 *
 * @param refreshState builds the refresh state, reading its event from its input or not
 */
export function refreshWithLineage(
  scope: Construct,
  eventFromState: boolean,
  refreshState: (eventFromState: boolean, keptWithoutTables: readonly string[]) => sfn.IChainable,
): sfn.IChainable {
  const name = new sfn.Pass(scope, StateNames.NAME_EXECUTION_FOR_LINEAGE, {
    comment: 'Names the execution in the refresh\'s event, for its lineage events.',
    ...eventFromState ? { parameters: EXECUTION, resultPath: '$.lineage' } : { parameters: { lineage: EXECUTION } },
  });
  // A refresh that must do without the changed tables (the task's full-refresh fallback) still names the execution.
  return name.next(refreshState(true, ['lineage']));
}
