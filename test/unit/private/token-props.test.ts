/**
 * Props from tokens: list tokens where the construct needs each name are refused naming the prop and why, never with
 * internal token text; single-value tokens are passed through to run time.
 */
import { CfnParameter, Duration, Fn, Lazy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ItcOrchestrator, ItcOrchestratorProps } from '../../../src';
import { minimalProps, newStack } from '../orchestrator-fixture';

function orchestrate(props: (stack: ReturnType<typeof newStack>) => Partial<ItcOrchestratorProps>) {
  const stack = newStack();
  new ItcOrchestrator(stack, 'Orchestrator', minimalProps(stack, props(stack)));
  return stack;
}
const listParameter = (stack: ReturnType<typeof newStack>, id: string) => new CfnParameter(stack, id, { type: 'CommaDelimitedList' }).valueAsList;

test.each([
  ['refresh.views', (stack: ReturnType<typeof newStack>) => ({ refresh: { views: listParameter(stack, 'Views') } }), /the refresh engine reads the names as one JSON list/],
  ['refresh.schemas', (stack: ReturnType<typeof newStack>) => ({ refresh: { schemas: Fn.split(',', new CfnParameter(stack, 'Schemas').valueAsString) } }), /the refresh engine reads the names as one JSON list/],
  ['freshness.views', (stack: ReturnType<typeof newStack>) => ({ freshness: { maxAge: Duration.hours(26), views: listParameter(stack, 'Watched') } }), /each view gets an alarm of its own, created at synth/],
])('%s from a list token fails naming the prop and why, without token text', (prop, props, why) => {
  let message = '';
  try {
    orchestrate(props);
  } catch (error) {
    message = (error as Error).message;
  }
  expect(message).toMatch(new RegExp(`^\`${prop.replace('.', '\\.')}\` cannot come from a list token \\(a CommaDelimitedList parameter, Fn.split, \\.\\.\\.\\): `));
  expect(message).toMatch(why);
  expect(message).toMatch(/List the names as strings; each may be a string token of its own/);
  expect(message).not.toMatch(/Token\[/);
});

test('single names from tokens, and lazily computed numbers, are passed through to run time as strings', () => {
  const stack = orchestrate((s) => ({
    refresh: {
      views: [Fn.select(0, listParameter(s, 'Views'))],
      concurrency: Lazy.number({ produce: () => 3 }),
      maxAttempts: new CfnParameter(s, 'Attempts', { type: 'Number' }).valueAsNumber,
    },
  }));
  Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
    Environment: {
      Variables: {
        ITC_REFRESH_VIEWS: { 'Fn::Join': ['', ['["', { 'Fn::Select': [0, { Ref: 'Views' }] }, '"]']] },
        ITC_REFRESH_CONCURRENCY: '3',
        ITC_REFRESH_MAX_ATTEMPTS: { Ref: 'Attempts' },
      },
    },
  });
});
