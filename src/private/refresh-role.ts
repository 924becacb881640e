import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * The refresh function's role, with only what the function needs: its own log group and the network
 * interfaces of a VPC function. Reading the secret is granted by the credentials.
 */
export function createRefreshRole(scope: Construct, id: string, logGroup: logs.ILogGroup): iam.Role {
  const statements = refreshFunctionStatements(logGroup);
  return new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'Refreshes materialized views for the ITC orchestrator',
    inlinePolicies: {
      Logs: new iam.PolicyDocument({ statements: [statements.logs] }),
      VpcNetworkInterfaces: new iam.PolicyDocument({ statements: [statements.vpcNetworkInterfaces] }),
    },
  });
}

/** Gives a role passed in as `refreshRole` the statements the created role holds; an immutable role is left as it is. */
export function addRefreshFunctionStatements(role: iam.IRole, logGroup: logs.ILogGroup): iam.IRole {
  const statements = refreshFunctionStatements(logGroup);
  role.addToPrincipalPolicy(statements.logs);
  role.addToPrincipalPolicy(statements.vpcNetworkInterfaces);
  return role;
}

function refreshFunctionStatements(logGroup: logs.ILogGroup) {
  return {
    logs: new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }),
    // Lambda creates and deletes the function's interfaces through this role; these
    // EC2 actions have no resource-level scoping for Lambda's use.
    vpcNetworkInterfaces: new iam.PolicyStatement({
      actions: [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      resources: ['*'],
    }),
  };
}
