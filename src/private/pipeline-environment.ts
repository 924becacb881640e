import { Annotations, Arn, ArnFormat, Stack, Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { Construct } from 'constructs';

/**
 * Checks a pipeline's function against the orchestrator's stack. Step Functions cannot invoke a function in another
 * partition: an error. A function in another account or region can be invoked but needs more than this stack gives
 * it: a warning that says what. Whatever is unknown at synth (environment-agnostic stacks, token ARNs) is skipped.
 */
export function checkPipelineEnvironment(orchestrator: Construct, pipelineName: string, fn: lambda.IFunction): void {
  const stack = Stack.of(orchestrator);
  const known = (value: string | undefined): value is string => value !== undefined && !Token.isUnresolved(value) && value !== '';

  const arn = fn.functionArn;
  if (known(arn)) {
    const partition = Arn.split(arn, ArnFormat.COLON_RESOURCE_NAME).partition;
    const stackPartition = known(stack.partition) ? stack.partition : known(stack.region) ? RegionInfo.get(stack.region).partition : undefined;
    if (partition && stackPartition && partition !== stackPartition) {
      throw new Error(
        `Pipeline "${pipelineName}": \`functionArn\` is in the partition ${partition}, but the stack deploys to ${stackPartition} ` +
          `(${stack.region}); Step Functions cannot invoke a function in another partition, got "${arn}"`,
      );
    }
  }

  const { account, region } = fn.env;
  if (known(account) && known(stack.account) && account !== stack.account) {
    Annotations.of(orchestrator).addWarningV2(
      'itc-orchestrator:pipeline-in-another-account',
      `Pipeline "${pipelineName}" runs a function in the account ${account}, not this stack's account ${stack.account}: ` +
        'the function needs a resource-based policy that lets the state machine\'s role call lambda:InvokeFunction on it ' +
        '(lambda.Function#addPermission or `aws lambda add-permission` in the function\'s account, principal: ' +
        'orchestrator.stateMachine.role.roleArn). The role\'s own policy already allows the call.',
    );
  }
  if (known(region) && known(stack.region) && region !== stack.region) {
    Annotations.of(orchestrator).addWarningV2(
      'itc-orchestrator:pipeline-in-another-region',
      `Pipeline "${pipelineName}" runs a function in the region ${region}, not this stack's region ${stack.region}: ` +
        'Step Functions invokes it across regions, which adds latency and cross-region data transfer, and an execution then ' +
        'depends on both regions. Deploy the orchestrator in the function\'s region if that is not intended.',
    );
  }
}
