import { Match } from 'aws-cdk-lib/assertions';
import { orchestratorFixture } from './orchestrator-fixture';
import { RefreshEnv } from '../../src/shared/contract';

describe('refresh.extraDependencies', () => {
  test('reaches the refresh function as JSON in its environment', () => {
    const extraDependencies = [{ view: 'reporting.summary', dependsOn: ['reporting.daily', '"Sales Hub"."Daily Totals"'] }];
    const { template } = orchestratorFixture({ refresh: { extraDependencies } });

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [RefreshEnv.EXTRA_DEPENDENCIES]: JSON.stringify(extraDependencies) }) },
    });
  });

  test('is absent from the environment when not set', () => {
    const { template } = orchestratorFixture();
    const functions = template.findResources('AWS::Lambda::Function');
    const withVariable = Object.values(functions).filter((resource) =>
      RefreshEnv.EXTRA_DEPENDENCIES in (resource.Properties.Environment?.Variables ?? {}));
    expect(withVariable).toHaveLength(0);
  });

  test.each([
    [[], /`refresh.extraDependencies` must declare at least one dependency when set, got an empty list/],
    [[{ view: 'a', dependsOn: [] }], /`refresh.extraDependencies\[0\].dependsOn` must name at least one entry/],
    [[{ view: 'a', dependsOn: undefined }], /`refresh.extraDependencies\[0\].dependsOn` must list the materialized views/],
    [[{ view: 'a.b.c', dependsOn: ['d'] }], /`refresh.extraDependencies\[0\].view` must be a materialized view name \(`schema.view`\): .*a database prefix is not allowed/],
    [[{ view: 'a', dependsOn: ['b', 'x; DROP TABLE y'] }], /`refresh.extraDependencies\[0\].dependsOn` must be a materialized view name/],
    [[{ view: 'a', dependsOn: ['b'] }, { view: 'r.s', dependsOn: ['c', 'R.S'] }], /`refresh.extraDependencies\[1\]`: "r.s" cannot depend on itself/],
    [[{ view: 'a', dependsOn: ['b', 'b'] }], /`refresh.extraDependencies\[0\].dependsOn` must not name "b" twice/],
  ])('%j is rejected at synth', (extraDependencies, message) => {
    expect(() => orchestratorFixture({ refresh: { extraDependencies: extraDependencies as never } })).toThrow(message);
  });
});
