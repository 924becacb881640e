import { IResolveContext, Lazy, Stack, Token } from 'aws-cdk-lib';
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
  // Environment variables are strings: a number from a token (a lazy value) must resolve to one too.
  const numberString = (value: number | undefined) => value === undefined ? undefined : !Token.isUnresolved(value) ? value.toString()
    : Lazy.uncachedString({
      produce: (context: IResolveContext) => {
        const resolved = context.resolve(value);
        return typeof resolved === 'number' ? resolved.toString() : resolved;
      },
    });
  set(RefreshEnv.VIEWS, toJson(refresh.views));
  set(RefreshEnv.SCHEMAS, toJson(refresh.schemas));
  set(RefreshEnv.CONCURRENCY, numberString(refresh.concurrency));
  set(RefreshEnv.CONCURRENT_REFRESH, refresh.concurrentRefresh);
  set(RefreshEnv.OVERLAP_POLICY, refresh.overlapPolicy);
  set(RefreshEnv.LOCK_WAIT_MS, numberString(refresh.runLockWaitTimeout?.toMilliseconds()));
  set(RefreshEnv.LOCK_TIMEOUT_MS, numberString(refresh.viewLockTimeout?.toMilliseconds()));
  set(RefreshEnv.STATEMENT_TIMEOUT_MS, numberString(refresh.statementTimeout?.toMilliseconds()));
  set(RefreshEnv.MAX_ATTEMPTS, numberString(refresh.maxAttempts));
  if (refresh.detectChangesInDatabase) set(RefreshEnv.DETECT_CHANGES, 'true');
  set(RefreshEnv.EXTRA_DEPENDENCIES, refresh.extraDependencies && Stack.of(scope).toJsonString(
    refresh.extraDependencies.map((dependency) => ({ view: dependency.view, dependsOn: dependency.dependsOn })),
  ));
  return environment;
}
