/**
 * The overlap guard of the synthesized state machine, run locally: a run that starts while another is going ends
 * as skipped, whatever format the listing gives the other run's start date in. (Step Functions fails a timestamp
 * comparison of a value that is not a timestamp with States.Runtime; the local interpreter compares what `new Date()`
 * makes of it, so a string it cannot read is what shows an unguarded comparison here.)
 */
import { synthesizeExampleStack } from '../../../local/example-stack';
import { InProcessFunction, LocalFunction } from '../../../local/lambda';
import { LocalStepFunctions } from '../../../local/step-functions';
import { TemplateResolver } from '../../../local/template';

/** Runs the example stack's definition with pipelines that wait until released and a refresh that reports success. */
function guardedRunner(listedStartDate: (startDate: Date) => unknown) {
  // Nothing connects: the refresh function is a stand-in here.
  const stack = synthesizeExampleStack({ database: { host: '127.0.0.1', port: 5432, database: 'unused', user: 'unused', password: 'unused' } });
  const resolver = new TemplateResolver(stack.template, stack.stackName);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const pipelineStarted: Array<() => void> = [];
  const started = new Promise<void>((resolve) => pipelineStarted.push(resolve));
  const functions = new Map<string, LocalFunction>();
  for (const logicalId of Object.values(stack.pipelineFunctionLogicalIds)) {
    const configuration = resolver.functionConfiguration(logicalId);
    functions.set(configuration.functionArn, new InProcessFunction(configuration, async () => {
      pipelineStarted.forEach((resolve) => resolve());
      await released;
      return {};
    }));
  }
  const refresh = resolver.functionConfiguration(stack.refreshFunctionLogicalId!);
  functions.set(refresh.functionArn, new InProcessFunction(refresh, () => ({ status: 'succeeded' })));
  const runner = new LocalStepFunctions({ stateMachine: resolver.stateMachine(stack.stateMachineLogicalId), functions, listedStartDate });
  return { runner, started, release };
}

test.each([
  ['an ISO 8601 timestamp', (date: Date) => date.toISOString()],
  ['an epoch number (seconds)', (date: Date) => date.getTime() / 1000],
  ['an epoch number in a string', (date: Date) => String(date.getTime() / 1000)],
])('a run started while another is going ends as skipped when the listing gives StartDate as %s', async (_format, listedStartDate) => {
  const { runner, started, release } = guardedRunner(listedStartDate);
  const first = runner.run({}, { name: 'first' });
  await started;

  const second = await runner.run({}, { name: 'second' });
  release();

  expect({ status: second.status, error: second.error, cause: second.cause }).toEqual({ status: 'SUCCEEDED', error: undefined, cause: undefined });
  expect(second.output).toEqual({ status: 'skipped', reason: expect.any(String), runningExecutionArn: (await first).executionArn });
  expect((await first).status).toBe('SUCCEEDED');
});
