import { Duration, RemovalPolicy, SecretValue, TimeZone } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { IMPORTED_PIPELINE_ARN, minimalProps, newStack, orchestratorFixture, stateMachineDefinition, templateResolver, sharedOrchestratorFixture } from './orchestrator-fixture';
import { validateAsl } from '../../local/asl';
import { ConcurrentRefresh, DatabaseAuthentication, DatabaseTls, ItcOrchestrator, OrchestratorDatabase, OverlapPolicy, RefreshCompute } from '../../src';
import { RefreshEnv, RefreshErrors } from '../../src/shared/contract';

const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
];

function logicalId(template: Template, type: string, props: Record<string, unknown> = {}): string {
  const ids = Object.keys(template.findResources(type, { Properties: Match.objectLike(props) }));
  if (ids.length !== 1) {
    throw new Error(`Expected one ${type} matching ${JSON.stringify(props)}, found ${ids.length}`);
  }
  return ids[0];
}

function refreshFunctionId(template: Template): string {
  return logicalId(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('materialized views') });
}

function roleOf(template: Template, functionId: string): string {
  return template.toJSON().Resources[functionId].Properties.Role['Fn::GetAtt'][0];
}

/** Every policy statement attached to a role, from its inline policies and from separate policies. */
function statementsOf(template: Template, roleId: string): any[] {
  const resources = template.toJSON().Resources;
  const inline = (resources[roleId].Properties.Policies ?? []).flatMap((policy: any) => policy.PolicyDocument.Statement);
  const attached = Object.values<any>(resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy')
    .filter((policy) => policy.Properties.Roles.some((role: any) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
  return [...inline, ...attached];
}

function actionsOf(statement: any): string[] {
  return [statement.Action].flat();
}

describe('the refresh function', () => {
  test('runs the bundled handler on Node.js 22 in the VPC private subnets with its own security group', () => {
    const { template, vpc, stack } = sharedOrchestratorFixture();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('materialized views'),
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      VpcConfig: {
        SubnetIds: vpc.privateSubnets.map((subnet) => stack.resolve(subnet.subnetId)),
        SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('OrchestratorRefreshFunctionSecurityGroup'), 'GroupId'] }],
      },
    });
  });

  test('ships as a CDK asset in the bootstrap bucket: the construct creates no bucket and no layer', () => {
    const { template } = sharedOrchestratorFixture();
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.resourceCountIs('AWS::Lambda::LayerVersion', 0);
    const fn = template.toJSON().Resources[refreshFunctionId(template)];
    expect(fn.Properties.Layers).toBeUndefined();
    expect(fn.Properties.Code).toEqual({
      S3Bucket: 'cdk-hnb659fds-assets-123456789012-eu-west-1',
      S3Key: expect.stringMatching(/^[0-9a-f]{64}\.zip$/),
    });
  });

  test('uses the given subnets and security groups', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'OwnVpc', { maxAzs: 2 });
    const securityGroup = new ec2.SecurityGroup(stack, 'OwnGroup', { vpc });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      vpc,
      vpcSubnets: { subnets: [vpc.privateSubnets[1]] },
      securityGroups: [securityGroup],
    }));
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SubnetIds: [stack.resolve(vpc.privateSubnets[1].subnetId)],
        SecurityGroupIds: [stack.resolve(securityGroup.securityGroupId)],
      },
    });
  });

  test('has 256 MiB and a 15-minute timeout by default', () => {
    const { template } = sharedOrchestratorFixture();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('materialized views'),
      MemorySize: 256,
      Timeout: 900,
    });
  });

  test('takes its memory size and timeout from RefreshCompute.lambda()', () => {
    const { template } = orchestratorFixture({ refreshCompute: RefreshCompute.lambda({ memorySize: 1024, timeout: Duration.minutes(5) }) });
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 1024, Timeout: 300 });
  });

  test('logs to its own log group, kept one month by default', () => {
    const { template } = sharedOrchestratorFixture();
    const logGroupId = logicalId(template, 'AWS::Logs::LogGroup', { RetentionInDays: 30, LogGroupName: Match.absent() });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('materialized views'),
      LoggingConfig: { LogGroup: { Ref: logGroupId } },
    });
  });

  test('reads the secret named in its environment and verifies the server certificate by default', () => {
    const { template, stack, secret } = sharedOrchestratorFixture();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [RefreshEnv.SECRET_ARN]: stack.resolve(secret.secretArn),
          [RefreshEnv.TLS_MODE]: 'verify-full',
        }),
      },
    });
  });

  test('passes the database endpoint, port and name, which win over the secret\'s', () => {
    const stack = newStack();
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:database-AbCdEf');
    const database = OrchestratorDatabase.fromEndpoint({ host: 'db.internal', port: 6432 }, {
      databaseName: 'warehouse', authentication: DatabaseAuthentication.fromSecret(secret), tls: DatabaseTls.REQUIRE,
    });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { database }));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [RefreshEnv.DB_HOST]: 'db.internal',
          [RefreshEnv.DB_PORT]: '6432',
          [RefreshEnv.DB_NAME]: 'warehouse',
          [RefreshEnv.TLS_MODE]: 'require',
        }),
      },
    });
  });

  test('passes the refresh settings through to the handler', () => {
    const { template } = orchestratorFixture({
      refresh: {
        views: ['reporting.daily_totals', '"Sales Hub"."Weekly"'],
        schemas: ['reporting'],
        concurrency: 8,
        concurrentRefresh: ConcurrentRefresh.NEVER,
        overlapPolicy: OverlapPolicy.SKIP,
        runLockWaitTimeout: Duration.seconds(30),
        viewLockTimeout: Duration.seconds(10),
        statementTimeout: Duration.minutes(10),
        maxAttempts: 5,
        detectChangesInDatabase: true,
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [RefreshEnv.VIEWS]: JSON.stringify(['reporting.daily_totals', '"Sales Hub"."Weekly"']),
          [RefreshEnv.SCHEMAS]: '["reporting"]',
          [RefreshEnv.CONCURRENCY]: '8',
          [RefreshEnv.CONCURRENT_REFRESH]: 'never',
          [RefreshEnv.OVERLAP_POLICY]: 'skip',
          [RefreshEnv.LOCK_WAIT_MS]: '30000',
          [RefreshEnv.LOCK_TIMEOUT_MS]: '10000',
          [RefreshEnv.STATEMENT_TIMEOUT_MS]: '600000',
          [RefreshEnv.MAX_ATTEMPTS]: '5',
          [RefreshEnv.DETECT_CHANGES]: 'true',
        }),
      },
    });
  });

  test('leaves unset refresh settings to the handler defaults', () => {
    const { template } = sharedOrchestratorFixture();
    const fn = template.toJSON().Resources[refreshFunctionId(template)];
    const names = Object.keys(fn.Properties.Environment.Variables);
    expect(names).not.toEqual(expect.arrayContaining([RefreshEnv.VIEWS]));
    expect(names.filter((name) => name.startsWith('ITC_REFRESH_'))).toEqual([]);
  });

  test('in local mode gets the libpq variables and no secret', () => {
    const { template } = orchestratorFixture({
      database: OrchestratorDatabase.fromEndpoint({ host: 'localhost', port: 5433 }, {
        databaseName: 'warehouse',
        authentication: DatabaseAuthentication.fromPassword('refresher', SecretValue.unsafePlainText('secret-pw')),
        tls: DatabaseTls.DISABLE,
      }),
    });
    const fn = template.toJSON().Resources[refreshFunctionId(template)];
    expect(fn.Properties.Environment.Variables).toMatchObject({
      PGHOST: 'localhost', PGPORT: '5433', PGDATABASE: 'warehouse', PGUSER: 'refresher', PGPASSWORD: 'secret-pw', PGSSLMODE: 'disable',
    });
    expect(fn.Properties.Environment.Variables[RefreshEnv.SECRET_ARN]).toBeUndefined();
    const statements = statementsOf(template, roleOf(template, refreshFunctionId(template)));
    expect(statements.flatMap(actionsOf).filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
  });

  test.each([
    [undefined, 'verify-full'],
    [DatabaseTls.VERIFY_FULL, 'verify-full'],
    [DatabaseTls.REQUIRE, 'require'],
    [DatabaseTls.DISABLE, 'disable'],
  ])('one tls setting for every authentication: %s is the secret\'s ITC_DB_TLS_MODE and the password\'s PGSSLMODE %s', (tls, mode) => {
    const stack = newStack();
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:database-AbCdEf');
    const withSecret = new ItcOrchestrator(stack, 'WithSecret', minimalProps(stack, {
      database: OrchestratorDatabase.fromEndpoint({ host: 'db.internal' }, { authentication: DatabaseAuthentication.fromSecret(secret), tls }),
    }));
    const withPassword = new ItcOrchestrator(stack, 'WithPassword', minimalProps(stack, {
      database: OrchestratorDatabase.fromEndpoint({ host: 'db.internal' }, {
        authentication: DatabaseAuthentication.fromPassword('refresher', SecretValue.unsafePlainText('pw')), tls,
      }),
    }));
    const environment = (orchestrator: ItcOrchestrator) => stack.resolve(
      (orchestrator.refreshFunction!.node.defaultChild as lambda.CfnFunction).environment).variables;
    expect(environment(withSecret)[RefreshEnv.TLS_MODE]).toBe(mode);
    expect(environment(withSecret)).not.toHaveProperty('PGSSLMODE');
    expect(environment(withPassword).PGSSLMODE).toBe(mode);
    expect(environment(withPassword)).not.toHaveProperty(RefreshEnv.TLS_MODE);
  });

  test('is exposed with its connections, so the database can allow it in', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'OwnVpc', { maxAzs: 2 });
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { vpc }));
    const database = new ec2.SecurityGroup(stack, 'DatabaseGroup', { vpc });
    const databaseConnections = new ec2.Connections({ securityGroups: [database], defaultPort: ec2.Port.tcp(5432) });
    databaseConnections.allowDefaultPortFrom(orchestrator);
    expect(orchestrator.connections).toBe(orchestrator.refreshFunction!.connections);
    Template.fromStack(stack).hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      GroupId: stack.resolve(database.securityGroupId),
      SourceSecurityGroupId: stack.resolve(orchestrator.connections.securityGroups[0].securityGroupId),
    });
  });
});

describe('least privilege', () => {
  test('the refresh function role writes only to its log group, manages VPC interfaces and reads only the secret', () => {
    const { template, stack, secret, key } = sharedOrchestratorFixture();
    const roleId = roleOf(template, refreshFunctionId(template));
    const role = template.toJSON().Resources[roleId];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const logGroupId = logicalId(template, 'AWS::Logs::LogGroup', { LogGroupName: Match.absent() });

    const statements = statementsOf(template, roleId);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
      },
      {
        Effect: 'Allow',
        Action: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        Resource: '*',
      },
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: stack.resolve(secret.secretArn),
      },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: stack.resolve(key.keyArn),
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
      },
    ]);
    // The key is in the same stack, so its key policy grants decryption through Secrets Manager only.
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([{
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Principal: { AWS: { 'Fn::GetAtt': [roleId, 'Arn'] } },
          Resource: '*',
          Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
        }]),
      },
    });
    expect(stack.resolve(key.keyArn)).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key'), 'Arn'] });
  });

  test('the refresh function role decrypts an imported secret key only through Secrets Manager', () => {
    const stack = newStack();
    const key = kms.Key.fromKeyArn(stack, 'ImportedKey', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    const secret = secretsmanager.Secret.fromSecretAttributes(stack, 'ImportedSecret', {
      secretCompleteArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:database-AbCdEf',
      encryptionKey: key,
    });
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      database: OrchestratorDatabase.fromEndpoint({ host: 'db.internal' }, { authentication: DatabaseAuthentication.fromSecret(secret) }),
    }));
    const template = Template.fromStack(stack);
    const statements = statementsOf(template, roleOf(template, refreshFunctionId(template)));
    expect(statements.filter((statement) => actionsOf(statement).some((action) => !action.startsWith('ec2:') && !action.startsWith('logs:'))))
      .toEqual([
        {
          Effect: 'Allow',
          Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
          Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:database-AbCdEf',
        },
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
          Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
        },
      ]);
  });

  test('the state machine role invokes exactly the pipeline and refresh functions and lists only its own executions', () => {
    const { template, demand, stack } = sharedOrchestratorFixture();
    const machineId = logicalId(template, 'AWS::StepFunctions::StateMachine');
    const roleId = template.toJSON().Resources[machineId].Properties.RoleArn['Fn::GetAtt'][0];
    const statements = statementsOf(template, roleId);

    const invoked = statements.filter((statement) => actionsOf(statement).includes('lambda:InvokeFunction'))
      .flatMap((statement) => [statement.Resource].flat());
    const demandArn = stack.resolve(demand.functionArn);
    const refreshArn = { 'Fn::GetAtt': [refreshFunctionId(template), 'Arn'] };
    expect(invoked).toEqual(expect.arrayContaining([
      demandArn, { 'Fn::Join': ['', [demandArn, ':*']] },
      IMPORTED_PIPELINE_ARN, `${IMPORTED_PIPELINE_ARN}:*`,
      refreshArn, { 'Fn::Join': ['', [refreshArn, ':*']] },
    ]));
    expect(invoked).toHaveLength(6);
    expect(statements.flatMap(actionsOf).filter((action) => action.startsWith('lambda:'))).toEqual(
      invoked.map(() => 'lambda:InvokeFunction').slice(0, 3),
    );

    const listing = statements.filter((statement) => actionsOf(statement).includes('states:ListExecutions'));
    expect(listing).toEqual([{ Effect: 'Allow', Action: 'states:ListExecutions', Resource: { Ref: machineId } }]);
    expect(statements.flatMap(actionsOf).filter((action) => action.startsWith('states:'))).toEqual(['states:ListExecutions']);

    // Besides invoking and listing, only the log delivery Step Functions logging requires; no managed policies.
    expect(template.toJSON().Resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
    expect(statements.filter((statement) => !actionsOf(statement).some((action) => /^(lambda|states):/.test(action))))
      .toEqual([{
        Effect: 'Allow',
        Action: [
          'logs:CreateLogDelivery',
          'logs:GetLogDelivery',
          'logs:UpdateLogDelivery',
          'logs:DeleteLogDelivery',
          'logs:ListLogDeliveries',
          'logs:PutResourcePolicy',
          'logs:DescribeResourcePolicies',
          'logs:DescribeLogGroups',
        ],
        Resource: '*',
      }]);
  });

  test('the schedule role is assumed only by EventBridge Scheduler of this account and starts only this state machine', () => {
    const { template } = orchestratorFixture({
      schedule: { expression: scheduler.ScheduleExpression.rate(Duration.hours(1)) },
    });
    const machineId = logicalId(template, 'AWS::StepFunctions::StateMachine');
    const scheduleRoleArn = template.toJSON().Resources[logicalId(template, 'AWS::Scheduler::Schedule')]
      .Properties.Target.RoleArn;
    const roleId = scheduleRoleArn['Fn::GetAtt'][0];
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [{
          Effect: 'Allow',
          Action: 'sts:AssumeRole',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
        }],
      },
    });
    expect(statementsOf(template, roleId)).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: machineId } },
    ]);
  });

  test('grantStartExecution lets a principal start executions of this state machine only', () => {
    const stack = newStack();
    const orchestrator = new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack));
    const operator = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
    orchestrator.grantStartExecution(operator);
    const template = Template.fromStack(stack);
    expect(statementsOf(template, stack.getLogicalId(operator.node.defaultChild as iam.CfnRole)))
      .toEqual([{
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: { Ref: logicalId(template, 'AWS::StepFunctions::StateMachine') },
      }]);
  });
});

describe('the state machine', () => {
  test('is a standard state machine whose definition is valid Amazon States Language', () => {
    const { template } = sharedOrchestratorFixture();
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineType: 'STANDARD' });
    const result = validateAsl(stateMachineDefinition(template));
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  test('is valid Amazon States Language with a single pipeline and without the overlap guard', () => {
    const stack = newStack();
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { skipOverlappingExecutions: false }));
    const definition = stateMachineDefinition(Template.fromStack(stack));
    expect(validateAsl(definition)).toMatchObject({ isValid: true, errors: [] });
    expect(definition.States['Did every pipeline succeed?'].Choices)
      .toEqual([{ Variable: '$[0].failed', BooleanEquals: true, Next: 'Describe the failed pipelines' }]);
  });

  test('first lists the running executions of itself', () => {
    const definition = stateMachineDefinition(sharedOrchestratorFixture().template);
    const first = definition.States[definition.StartAt];
    expect(first).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::aws-sdk:sfn:listExecutions',
      Parameters: { 'StateMachineArn.$': '$$.StateMachine.Id', 'StatusFilter': 'RUNNING' },
    });
  });

  test('goes on only as the oldest running execution, comparing start times when it is not listed yet, and only timestamps', () => {
    const definition = stateMachineDefinition(sharedOrchestratorFixture().template);
    expect(definition.States['Find the oldest running execution'].Parameters).toEqual({
      'oldest.$': 'States.ArrayGetItem($.executions, States.MathAdd($.count, -1))',
      'self.$': '$$.Execution.Id',
      'selfStartTime.$': '$$.Execution.StartTime',
    });
    const check = definition.States['Is this the oldest running execution?'];
    expect(check.Choices).toEqual([
      { Variable: '$.oldest.ExecutionArn', StringEqualsPath: '$.self', Next: 'Restore the execution input' },
      { Not: { Variable: '$.oldest.StartDate', IsTimestamp: true }, Next: 'Skip: an earlier execution is running' },
      { Variable: '$.oldest.StartDate', TimestampLessThanEqualsPath: '$.selfStartTime', Next: 'Skip: an earlier execution is running' },
    ]);
    expect(check.Default).toBe('Restore the execution input');
  });

  test('can let executions overlap, without the listing or its permission', () => {
    const { template } = orchestratorFixture({ skipOverlappingExecutions: false });
    const definition = stateMachineDefinition(template);
    expect(definition.States[definition.StartAt].Type).toBe('Parallel');
    expect(JSON.stringify(definition)).not.toContain('listExecutions');
    expect(JSON.stringify(template.toJSON())).not.toContain('states:ListExecutions');
  });

  test('runs one parallel branch per pipeline, each invoking its function with the execution input', () => {
    const definition = stateMachineDefinition(sharedOrchestratorFixture().template);
    const restore = definition.States['Restore the execution input'];
    expect(restore).toMatchObject({ Parameters: { 'input.$': '$$.Execution.Input' }, OutputPath: '$.input', Next: 'Run pipelines' });
    const parallel = definition.States['Run pipelines'];
    expect(parallel.Branches.map((branch: any) => branch.StartAt)).toEqual(['Run pipeline Demand', 'Run pipeline VerifyPlus']);
    const verify = parallel.Branches[1].States['Run pipeline VerifyPlus'];
    expect(verify).toMatchObject({
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { 'FunctionName': IMPORTED_PIPELINE_ARN, 'Payload.$': '$' },
    });
  });

  test('refreshes only after every pipeline succeeded, and outputs the refresh report', () => {
    const { template } = sharedOrchestratorFixture();
    const definition = stateMachineDefinition(template);
    expect(definition.States['Run pipelines'].Next).toBe('Did every pipeline succeed?');
    const check = definition.States['Did every pipeline succeed?'];
    expect(check.Choices).toEqual([{
      Or: [{ Variable: '$[0].failed', BooleanEquals: true }, { Variable: '$[1].failed', BooleanEquals: true }],
      Next: 'Describe the failed pipelines',
    }]);
    expect(check.Default).toBe('Refresh materialized views');
    expect(definition.States['Refresh materialized views']).toMatchObject({
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: templateResolver(template).functionArn(refreshFunctionId(template)), Payload: {} },
      OutputPath: '$.Payload',
      End: true,
    });
  });

  test('retries Lambda service errors and throttling with backoff on every task', () => {
    const definition = stateMachineDefinition(sharedOrchestratorFixture().template);
    const tasks = [
      ...definition.States['Run pipelines'].Branches.map((branch: any) => branch.States[branch.StartAt]),
      definition.States['Refresh materialized views'],
    ];
    for (const task of tasks) {
      expect(task.Retry).toContainEqual(expect.objectContaining({
        ErrorEquals: LAMBDA_SERVICE_ERRORS, BackoffRate: 2, MaxAttempts: 6, JitterStrategy: 'FULL',
      }));
    }
  });

  test('retries transient database errors of the refresh, and never bad input', () => {
    const refresh = stateMachineDefinition(sharedOrchestratorFixture().template).States['Refresh materialized views'];
    expect(refresh.Retry).toContainEqual(expect.objectContaining({ ErrorEquals: [RefreshErrors.TRANSIENT], BackoffRate: 2 }));
    const retried = refresh.Retry.flatMap((retry: any) => retry.ErrorEquals);
    expect(retried).not.toContain(RefreshErrors.INVALID_REQUEST);
    // Only a transient failure, or a run lock lost to a failover or a reset session, is worth another invocation;
    // every other name means it would end the same way.
    const lambdaErrors = new Set(LAMBDA_SERVICE_ERRORS);
    expect(retried.filter((name: string) => !lambdaErrors.has(name))).toEqual([RefreshErrors.TRANSIENT, RefreshErrors.RUN_LOCK_LOST]);
    expect(retried).not.toContain('States.ALL');
    expect(retried).not.toContain('States.TaskFailed');
  });

  test('catches each pipeline error so every branch finishes, then fails naming the failed pipelines', () => {
    const definition = stateMachineDefinition(sharedOrchestratorFixture().template);
    for (const [index, name] of ['Demand', 'VerifyPlus'].entries()) {
      const branch = definition.States['Run pipelines'].Branches[index];
      expect(branch.States[`Run pipeline ${name}`].Catch).toEqual([{ ErrorEquals: ['States.ALL'], Next: `Pipeline ${name} failed` }]);
      expect(branch.States[`Pipeline ${name} failed`]).toMatchObject({
        Type: 'Pass',
        Parameters: { 'pipeline': name, 'failed': true, 'summary.$': `States.Format('[${name} failed with {}: {}]', $.Error, $.Cause)` },
        End: true,
      });
    }
    expect(definition.States['Describe the failed pipelines'].Parameters)
      .toEqual({ 'cause.$': "States.Format('{}{}', $[0].summary, $[1].summary)" });
    expect(definition.States['Pipelines failed']).toMatchObject({ Type: 'Fail', Error: 'PipelineFailed', CausePath: '$.cause' });
  });

  test('logs all events without execution data to a vended log group by default', () => {
    const { template } = sharedOrchestratorFixture();
    const logGroupId = logicalId(template, 'AWS::Logs::LogGroup', { LogGroupName: Match.stringLikeRegexp('^/aws/vendedlogs/states/') });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: Match.stringLikeRegexp('^/aws/vendedlogs/states/'), RetentionInDays: 30 });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logGroupId, 'Arn'] } } }],
      },
    });
  });

  test('takes the log level, execution data and retention from the props', () => {
    const { template } = orchestratorFixture({
      stateMachineLogLevel: sfn.LogLevel.ERROR, logExecutionData: true, logRetention: logs.RetentionDays.ONE_YEAR,
    });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({ Level: 'ERROR', IncludeExecutionData: true }),
    });
    expect(Object.keys(template.findResources('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 365 } }))).toHaveLength(2);
  });

  test('deletes its log groups with the stack unless told to retain them', () => {
    const destroyed = sharedOrchestratorFixture().template.findResources('AWS::Logs::LogGroup');
    expect(Object.values(destroyed).map((resource) => resource.DeletionPolicy)).toEqual(['Delete', 'Delete']);
    const retained = orchestratorFixture({ removalPolicy: RemovalPolicy.RETAIN }).template.findResources('AWS::Logs::LogGroup');
    expect(Object.values(retained).map((resource) => resource.DeletionPolicy)).toEqual(['Retain', 'Retain']);
  });

  test('has no X-Ray tracing by default', () => {
    const { template } = sharedOrchestratorFixture();
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { TracingConfiguration: { Enabled: false } });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('materialized views'), TracingConfig: Match.absent(),
    });
  });

  test('traces the state machine and the refresh function with X-Ray when enabled', () => {
    const { template } = orchestratorFixture({ tracingEnabled: true });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { TracingConfiguration: { Enabled: true } });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('materialized views'), TracingConfig: { Mode: 'Active' },
    });
  });

  test('ends executions that exceed the execution timeout', () => {
    const definition = stateMachineDefinition(orchestratorFixture({ executionTimeout: Duration.hours(2) }).template);
    expect(definition.TimeoutSeconds).toBe(7200);
  });
});

describe('alarms', () => {
  const metrics = ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted', 'ExecutionThrottled'];

  test.each(metrics)('alarm on %s of this state machine from the first occurrence', (metricName) => {
    const { template } = sharedOrchestratorFixture();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: metricName,
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: logicalId(template, 'AWS::StepFunctions::StateMachine') } }],
      Statistic: 'Sum',
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  test('notify the alarm topic when one is given', () => {
    const stack = newStack();
    const topic = new sns.Topic(stack, 'Alerts');
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { alarmActions: [new cloudwatchActions.SnsAction(topic)] }));
    const alarms = Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm');
    expect(Object.values(alarms).map((alarm) => alarm.Properties.AlarmActions))
      .toEqual(metrics.map(() => [stack.resolve(topic.topicArn)]));
  });

  test('notify no one without a topic', () => {
    const alarms = sharedOrchestratorFixture().template.findResources('AWS::CloudWatch::Alarm');
    expect(Object.values(alarms)).toHaveLength(4);
    expect(Object.values(alarms).map((alarm) => alarm.Properties.AlarmActions)).toEqual(metrics.map(() => undefined));
  });

  test('the alarms watch the state machine\'s own execution metrics', () => {
    const { orchestrator, stack, template } = sharedOrchestratorFixture();
    const machine = { Ref: logicalId(template, 'AWS::StepFunctions::StateMachine') };
    const machineMetrics = {
      ExecutionsFailed: orchestrator.stateMachine.metricFailed(),
      ExecutionsTimedOut: orchestrator.stateMachine.metricTimedOut(),
      ExecutionsAborted: orchestrator.stateMachine.metricAborted(),
      ExecutionThrottled: orchestrator.stateMachine.metricThrottled(),
      ExecutionsSucceeded: orchestrator.stateMachine.metricSucceeded({ period: Duration.hours(1) }),
    };
    for (const [metricName, metric] of Object.entries(machineMetrics)) {
      expect(metric.metricName).toBe(metricName);
      expect(stack.resolve(metric.dimensions)).toEqual({ StateMachineArn: machine });
    }
    expect(machineMetrics.ExecutionsSucceeded.period.toMinutes()).toBe(60);
  });

  test('metric() measures any metric of the refresh engine for this refresh function, summed over 5 minutes by default', () => {
    const { orchestrator, stack, template } = orchestratorFixture();
    const fn = { Ref: refreshFunctionId(template) };
    const failed = orchestrator.metric('ViewsFailed');
    expect(failed.namespace).toBe('ItcOrchestrator');
    expect(failed.metricName).toBe('ViewsFailed');
    expect(failed.statistic).toBe('Sum');
    expect(failed.period.toMinutes()).toBe(5);
    expect(stack.resolve(failed.dimensions)).toEqual({ service: 'itc-orchestrator-refresh', FunctionName: fn });

    const duration = orchestrator.metric('RunDuration', { statistic: 'p90' });
    expect(duration.statistic).toBe('p90');
    expect(stack.resolve(duration.dimensions)).toEqual({ service: 'itc-orchestrator-refresh', FunctionName: fn });

    const view = orchestrator.metric('ViewRefreshed', { dimensionsMap: { View: 'reporting.daily_totals' } });
    expect(stack.resolve(view.dimensions)).toEqual({ service: 'itc-orchestrator-refresh', FunctionName: fn, View: 'reporting.daily_totals' });
  });

  test('the named refresh metrics are metric() of their names', () => {
    const { orchestrator, stack } = orchestratorFixture();
    const named = {
      RunsSkippedByLock: orchestrator.metricRefreshRunsSkippedByLock(),
      ViewsRefreshed: orchestrator.metricViewsRefreshed(),
      RunsSucceeded: orchestrator.metricRefreshRunsSucceeded(),
    };
    for (const [metricName, metric] of Object.entries(named)) {
      const generic = orchestrator.metric(metricName);
      expect(metric.metricName).toBe(metricName);
      expect(stack.resolve(metric.dimensions)).toEqual(stack.resolve(generic.dimensions));
      expect(metric.statistic).toBe(generic.statistic);
    }
    const view = orchestrator.metricViewRefreshed('Reporting.Order');
    expect(view.metricName).toBe('ViewRefreshed');
    expect(stack.resolve(view.dimensions)).toEqual({ ...stack.resolve(orchestrator.metric('ViewRefreshed').dimensions), View: 'reporting."order"' });
  });
});

describe('the schedule', () => {
  test('is absent unless configured', () => {
    const { template, orchestrator } = sharedOrchestratorFixture();
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    expect(orchestrator.schedule).toBeUndefined();
  });

  test('starts the state machine on a cron expression in a named time zone', () => {
    const { template } = orchestratorFixture({
      schedule: {
        expression: scheduler.ScheduleExpression.cron({ hour: '5', minute: '30', timeZone: TimeZone.EUROPE_LONDON }),
        input: scheduler.ScheduleTargetInput.fromObject({ source: 'schedule' }),
      },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 5 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/London',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { Ref: logicalId(template, 'AWS::StepFunctions::StateMachine') },
        Input: '{"source":"schedule"}',
      },
    });
  });

  test('can be created disabled', () => {
    const { template } = orchestratorFixture({
      schedule: { expression: scheduler.ScheduleExpression.rate(Duration.hours(6)), enabled: false },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(6 hours)', State: 'DISABLED' });
  });
});

describe('naming', () => {
  const prefix = 'sales-prod-orchestrator';

  test('names the function, state machine, schedule, log groups and alarms after the prefix', () => {
    const { template } = orchestratorFixture({
      resourcePrefix: prefix,
      schedule: { expression: scheduler.ScheduleExpression.rate(Duration.days(1)) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: `${prefix}-refresh` });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: prefix });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { Name: `${prefix}-schedule` });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: `/aws/lambda/${prefix}-refresh` });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: `/aws/vendedlogs/states/${prefix}` });
    const alarmNames = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties.AlarmName);
    expect(alarmNames.sort()).toEqual([
      `${prefix}-executions-aborted`, `${prefix}-executions-failed`, `${prefix}-executions-throttled`, `${prefix}-executions-timed-out`,
    ]);
  });

  test('leaves names to CloudFormation without a prefix', () => {
    const { template } = orchestratorFixture({ schedule: { expression: scheduler.ScheduleExpression.rate(Duration.days(1)) } });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('materialized views'), FunctionName: Match.absent() });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: Match.absent() });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { Name: Match.absent() });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: Match.absent() });
  });
});
