/** The Fargate task's size against Fargate's task size table, and its heartbeat against what a task start takes. */
import { Duration, Token } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { ItcOrchestrator, RefreshCompute } from '../../../src';
import { FargateRefreshComputeOptions } from '../../../src/refresh-compute';
import { minimalProps, newStack } from '../orchestrator-fixture';

function fargate(options: FargateRefreshComputeOptions) {
  const stack = newStack();
  new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, { refreshCompute: RefreshCompute.fargate(options) }));
  return stack;
}

describe('CPU and memory', () => {
  test.each([
    [256, 4096, /`refreshCompute.memoryLimitMiB` must suit `refreshCompute.cpu` \(256 CPU units\) as Fargate allows: 512 to 2048 MiB in steps of 512 MiB, got 4096 MiB/],
    [1024, 1024, /\(1024 CPU units\) as Fargate allows: 2048 to 8192 MiB in steps of 1024 MiB, got 1024 MiB/],
    [512, 1536, /\(512 CPU units\) as Fargate allows: 1024 to 4096 MiB in steps of 1024 MiB, got 1536 MiB/],
    [8192, 20000, /\(8192 CPU units\) as Fargate allows: 16384 to 61440 MiB in steps of 4096 MiB, got 20000 MiB/],
    [16384, 130000, /must be a whole number of MiB from 512 to 122880, got 130000/],
  ])('%d CPU units with %d MiB fail synth, naming both props and the range', (cpu, memoryLimitMiB, message) => {
    expect(() => fargate({ cpu, memoryLimitMiB })).toThrow(message);
  });

  test.each([
    [256, 512], [256, 2048], [512, 4096], [1024, 2048], [2048, 16384], [4096, 30720], [8192, 61440], [16384, 122880],
  ])('%d CPU units with %d MiB synthesize', (cpu, memoryLimitMiB) => {
    Template.fromStack(fargate({ cpu, memoryLimitMiB })).hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: String(cpu), Memory: String(memoryLimitMiB),
    });
  });

  test('without memoryLimitMiB the task gets the least memory its CPU allows', () => {
    Template.fromStack(fargate({ cpu: 1024 })).hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '1024', Memory: '2048' });
    Template.fromStack(fargate({})).hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '256', Memory: '512' });
  });

  test('a size from a token is left to deploy time', () => {
    expect(() => fargate({ cpu: 256, memoryLimitMiB: Token.asNumber({ Ref: 'Memory' }) })).not.toThrow();
  });
});

describe('heartbeat timeout', () => {
  const warnings = (stack: ReturnType<typeof fargate>) => Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('heartbeatTimeout'));

  test('shorter than a task start takes: a warning naming the prop, the minimum and the value', () => {
    const found = warnings(fargate({ heartbeatTimeout: Duration.seconds(30) }));
    expect(found).toHaveLength(1);
    expect(JSON.stringify(found[0].entry.data)).toMatch(
      /`refreshCompute.heartbeatTimeout` should be at least 2 minutes: the first heartbeat comes only once the task has started.*got 30 seconds/,
    );
  });

  test('2 minutes or more, or the default, gives no warning', () => {
    expect(warnings(fargate({ heartbeatTimeout: Duration.minutes(2) }))).toEqual([]);
    expect(warnings(fargate({}))).toEqual([]);
  });
});
