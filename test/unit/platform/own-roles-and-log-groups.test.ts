import { Template, Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ItcOrchestrator, RefreshCompute } from '../../../src';
import { minimalProps, newStack } from '../orchestrator-fixture';

function statementsOf(template: Template, roleRef: unknown): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(JSON.stringify(roleRef)))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
}

describe('roles passed in', () => {
  test('the state machine runs with its role, which gets the statements the created role would', () => {
    const stack = newStack();
    const role = new iam.Role(stack, 'MachineRole', { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { stateMachineRole: role }));
    const template = Template.fromStack(stack);
    expect(orchestrator.stateMachine.role).toBe(role);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { RoleArn: stack.resolve(role.roleArn) });
    // No role of its own.
    template.resourcePropertiesCountIs('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'states.amazonaws.com' } })] },
    }, 1);
    const actions = statementsOf(template, stack.resolve(role.roleName)).flatMap((statement) => [statement.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['lambda:InvokeFunction', 'states:ListExecutions', 'logs:CreateLogDelivery']));
  });

  test('the refresh function runs with the refresh role, which gets its log group and network statements', () => {
    const stack = newStack();
    const role = new iam.Role(stack, 'RefreshRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { refreshRole: role }));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', { Role: stack.resolve(role.roleArn) });
    template.resourcePropertiesCountIs('AWS::IAM::Role', { Description: 'Refreshes materialized views for the ITC orchestrator' }, 0);
    const actions = statementsOf(template, stack.resolve(role.roleName)).flatMap((statement) => [statement.Action].flat());
    expect(actions).toEqual(expect.arrayContaining([
      'logs:CreateLogStream', 'logs:PutLogEvents', 'ec2:CreateNetworkInterface', 'secretsmanager:GetSecretValue',
    ]));
  });

  test('the refresh task runs with the refresh role as its task role', () => {
    const stack = newStack();
    const role = new iam.Role(stack, 'TaskRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { refreshRole: role, refreshCompute: RefreshCompute.fargate() }));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { TaskRoleArn: stack.resolve(role.roleArn) });
    expect(orchestrator.refreshTaskDefinition!.taskRole).toBe(role);
    const actions = statementsOf(template, stack.resolve(role.roleName)).flatMap((statement) => [statement.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['s3:GetObject', 'states:SendTaskSuccess', 'secretsmanager:GetSecretValue']));
  });

  test('an immutable role is used as it is', () => {
    const stack = newStack();
    const role = iam.Role.fromRoleArn(stack, 'Central', 'arn:aws:iam::123456789012:role/central-refresh', { mutable: false });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { refreshRole: role }));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', { Role: 'arn:aws:iam::123456789012:role/central-refresh' });
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('central-refresh');
  });
});

test('an immutable state machine role is used as it is, and no policy is attached to it', () => {
  const stack = newStack();
  const role = iam.Role.fromRoleArn(stack, 'CentralMachine', 'arn:aws:iam::123456789012:role/central-machine', { mutable: false });
  new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { stateMachineRole: role }));
  const template = Template.fromStack(stack);
  template.hasResourceProperties('AWS::StepFunctions::StateMachine', { RoleArn: 'arn:aws:iam::123456789012:role/central-machine' });
  const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
  expect(policies).not.toContain('central-machine');
  expect(policies).not.toContain('states:ListExecutions');
});

describe('log groups passed in', () => {
  test('are used, and the orchestrator creates none', () => {
    const stack = newStack();
    const machineLogs = new logs.LogGroup(stack, 'MachineLogs', { logGroupName: '/aws/vendedlogs/states/central' });
    const refreshLogs = new logs.LogGroup(stack, 'RefreshLogs', { logGroupName: '/central/refresh' });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { stateMachineLogGroup: machineLogs, refreshLogGroup: refreshLogs }));
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: { Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: stack.resolve(machineLogs.logGroupArn) } }] },
    });
    template.hasResourceProperties('AWS::Lambda::Function', { LoggingConfig: Match.objectLike({ LogGroup: stack.resolve(refreshLogs.logGroupName) }) });
    template.hasResourceProperties('AWS::IAM::Role', {
      Policies: Match.arrayWith([Match.objectLike({
        PolicyName: 'Logs',
        PolicyDocument: { Statement: [Match.objectLike({ Resource: stack.resolve(refreshLogs.logGroupArn) })] },
      })]),
    });
  });

  test('the refresh task writes to the log group passed in', () => {
    const stack = newStack();
    const refreshLogs = new logs.LogGroup(stack, 'RefreshLogs', { logGroupName: '/central/refresh' });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { refreshLogGroup: refreshLogs, refreshCompute: RefreshCompute.fargate() }));
    Template.fromStack(stack).hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({
        LogConfiguration: Match.objectLike({ Options: Match.objectLike({ 'awslogs-group': stack.resolve(refreshLogs.logGroupName) }) }),
      })],
    });
  });
});
