import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';

/**
 * `StepFunctionsStartExecution` run to completion, with the statement on the nested executions narrowed to the
 * nested state machine's own: aws-cdk-lib grants `execution:<name>*`, which also matches every state machine
 * whose name starts with that name.
 */
export class NestedExecution extends tasks.StepFunctionsStartExecution {
  constructor(scope: Construct, id: string, props: tasks.StepFunctionsStartExecutionProps) {
    super(scope, id, props);
    const stack = Stack.of(this);
    const executions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      resourceName: `${stack.splitArn(props.stateMachine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName}:*`,
    });
    const policies = (this as unknown as { taskPolicies: iam.PolicyStatement[] }).taskPolicies;
    const index = policies.findIndex((statement) => statement.actions.includes('states:DescribeExecution'));
    if (index >= 0) {
      policies[index] = new iam.PolicyStatement({ actions: policies[index].actions, resources: [executions] });
    }
  }
}

