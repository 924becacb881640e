import { Stack } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { OVERLAP_CHECK_RETRY } from './retry-policies';
import { SKIPPED_RUN_REASON, StateNames } from './state-names';

/**
 * Lets an execution go on only if no earlier execution is still going.
 *
 * ListExecutions returns the running executions newest first, so the last one is the oldest.
 * An execution goes on when that is itself: when two executions start together both see the same list,
 * so exactly one of them goes on. The listing is eventually consistent, so an execution may not see
 * itself yet; it then compares start times, and is skipped only if the oldest execution it sees started
 * no later than itself, or if that execution's listed start date is not a timestamp. (Were it skipped
 * whenever it sees another execution, an older execution that sees only a newer one would be skipped
 * while the newer one is skipped for it, and nothing would run.) The refresh run's lock in the database
 * is the second line of defence for an execution that does not see an older one yet and goes on beside it.
 */
export function overlapGuard(scope: Construct, work: sfn.IChainable): sfn.IChainable {
  const listRunning = new sfn.CustomState(scope, StateNames.LIST_RUNNING, {
    stateJson: {
      Type: 'Task',
      Comment: 'Lists the running executions of this state machine, newest first.',
      Resource: `arn:${Stack.of(scope).partition}:states:::aws-sdk:sfn:listExecutions`,
      Parameters: {
        'StateMachineArn.$': '$$.StateMachine.Id',
        'StatusFilter': 'RUNNING',
        'MaxResults': 1000,
      },
      ResultSelector: {
        'executions.$': '$.Executions',
        'count.$': 'States.ArrayLength($.Executions)',
      },
      Retry: [OVERLAP_CHECK_RETRY],
    },
  });

  const findOldest = new sfn.Pass(scope, StateNames.FIND_OLDEST, {
    parameters: {
      'oldest.$': 'States.ArrayGetItem($.executions, States.MathAdd($.count, -1))',
      'self.$': '$$.Execution.Id',
      'selfStartTime.$': '$$.Execution.StartTime',
    },
  });

  const skip = new sfn.Pass(scope, StateNames.SKIP, {
    comment: 'Ends the execution without running the pipelines.',
    parameters: {
      'status': 'skipped',
      'reason': SKIPPED_RUN_REASON,
      'runningExecutionArn.$': '$.oldest.ExecutionArn',
    },
  });

  // The guard replaced the state with its findings; the pipelines get the execution input.
  const restoreInput = new sfn.Pass(scope, StateNames.RESTORE_INPUT, {
    parameters: { 'input.$': '$$.Execution.Input' },
    outputPath: '$.input',
  });
  restoreInput.next(work);

  return listRunning.next(
    new sfn.Choice(scope, StateNames.ANY_RUNNING)
      .when(sfn.Condition.numberGreaterThan('$.count', 0),
        findOldest.next(
          new sfn.Choice(scope, StateNames.IS_OLDEST)
            .when(sfn.Condition.stringEqualsJsonPath('$.oldest.ExecutionArn', '$.self'), restoreInput)
            // A start date in a format the comparison cannot read would fail the execution with States.Runtime:
            // the other execution then counts as the older one, and this execution is skipped.
            .when(sfn.Condition.not(sfn.Condition.isTimestamp('$.oldest.StartDate')), skip)
            // Of two executions started in the same millisecond, the one listed last goes on.
            .when(sfn.Condition.timestampLessThanEqualsJsonPath('$.oldest.StartDate', '$.selfStartTime'), skip)
            .otherwise(restoreInput),
        ))
      .otherwise(restoreInput),
  );
}
