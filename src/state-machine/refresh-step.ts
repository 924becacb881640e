import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { LAMBDA_SERVICE_RETRY, TRANSIENT_DATABASE_RETRY } from './retry-policies';
import { RefreshEvent } from '../refresh/contract';

export const REFRESH_STATE_NAME = 'Refresh materialized views';

/**
 * The refresh step of the state machine: the states that run after every pipeline succeeded and
 * whose output is the {@link RefreshReport}.
 *
 * Today it is one invocation of the refresh function, which plans and refreshes all views itself.
 * The rest of the state machine depends only on this step's contract (one chain in, the report
 * out), so another strategy, such as a Map state that refreshes each view in its own invocation,
 * can replace it behind an opt-in property without changing the state machine around it.
 */
export function buildRefreshStep(scope: Construct, refreshFunction: lambda.IFunction): sfn.IChainable {
  const event: RefreshEvent = {};
  const refresh = new tasks.LambdaInvoke(scope, REFRESH_STATE_NAME, {
    lambdaFunction: refreshFunction,
    payload: sfn.TaskInput.fromObject(event),
    retryOnServiceExceptions: false,
    outputPath: '$.Payload',
    comment: 'Refreshes the materialized views; the output is the refresh report.',
  });
  refresh.addRetry(LAMBDA_SERVICE_RETRY);
  refresh.addRetry(TRANSIENT_DATABASE_RETRY);
  return refresh;
}
