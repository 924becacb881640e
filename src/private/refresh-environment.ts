import { Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { RefreshOptions } from '../orchestrator-props';
import { RefreshEnv } from '../shared/contract';

/** The refresh settings as the refresh engine reads them; unset settings keep the engine's defaults. */
export function refreshEnvironment(scope: Construct, refresh: RefreshOptions): Record<string, string> {
  const environment: Record<string, string> = {};
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) {
      environment[name] = value;
    }
  };
  const toJson = (names: string[] | undefined) => names && Stack.of(scope).toJsonString(names);
  set(RefreshEnv.VIEWS, toJson(refresh.views));
  set(RefreshEnv.SCHEMAS, toJson(refresh.schemas));
  set(RefreshEnv.CONCURRENCY, refresh.concurrency?.toString());
  set(RefreshEnv.CONCURRENT_REFRESH, refresh.concurrentRefresh);
  set(RefreshEnv.OVERLAP_POLICY, refresh.overlapPolicy);
  set(RefreshEnv.LOCK_WAIT_MS, refresh.runLockWaitTimeout?.toMilliseconds().toString());
  set(RefreshEnv.LOCK_TIMEOUT_MS, refresh.viewLockTimeout?.toMilliseconds().toString());
  set(RefreshEnv.STATEMENT_TIMEOUT_MS, refresh.statementTimeout?.toMilliseconds().toString());
  set(RefreshEnv.MAX_ATTEMPTS, refresh.maxAttempts?.toString());
  set(RefreshEnv.EXTRA_DEPENDENCIES, refresh.extraDependencies && Stack.of(scope).toJsonString(
    refresh.extraDependencies.map((dependency) => ({ view: dependency.view, dependsOn: dependency.dependsOn })),
  ));
  return environment;
}
