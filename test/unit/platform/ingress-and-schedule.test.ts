import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { DatabaseAuthentication, ItcOrchestrator, OrchestratorDatabase } from '../../../src';
import { minimalProps, newStack } from '../orchestrator-fixture';

describe('the ingress rule on the database\'s security groups', () => {
  function ingressRules(addIngressRule?: boolean): number {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Network', { maxAzs: 1, natGateways: 0 });
    const databaseGroup = new ec2.SecurityGroup(stack, 'DatabaseGroup', { vpc });
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'Secret', 'database');
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      database: OrchestratorDatabase.fromEndpoint({ host: 'db.internal', securityGroups: [databaseGroup] }, {
        authentication: DatabaseAuthentication.fromSecret(secret),
        addIngressRule,
      }),
    }));
    return Object.keys(Template.fromStack(stack).findResources('AWS::EC2::SecurityGroupIngress')).length;
  }

  test('is added by default', () => {
    expect(ingressRules()).toBe(1);
  });

  test('is left out with addIngressRule: false', () => {
    expect(ingressRules(false)).toBe(0);
  });
});

describe('the schedule\'s input', () => {
  test('takes the schedule\'s context attributes, such as the scheduled time', () => {
    const stack = newStack();
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, {
      schedule: {
        expression: scheduler.ScheduleExpression.rate(Duration.hours(1)),
        input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime, source: 'schedule' }),
      },
    }));
    Template.fromStack(stack).hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: { Input: '{"scheduledTime":"<aws.scheduler.scheduled-time>","source":"schedule"}' },
    });
  });

  test('is an empty object by default', () => {
    const stack = newStack();
    new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { schedule: { expression: scheduler.ScheduleExpression.rate(Duration.hours(1)) } }));
    Template.fromStack(stack).hasResourceProperties('AWS::Scheduler::Schedule', { Target: { Input: '{}' } });
  });
});
