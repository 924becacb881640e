/*
 * Compiled by `npx projen typecheck` (tsc over test/, run by `npx projen test`), never run: each `@ts-expect-error`
 * must meet the error it expects, or tsc reports the directive as unused and the check fails.
 */
import { Duration, SecretValue } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DatabaseAuthentication, DatabaseTls, ItcOrchestratorProps, OrchestratorDatabase, Pipeline, RefreshCompute } from '../../../src';

// The union classes come only from their factories: no subclass compiles...
// @ts-expect-error the constructor is private
export class OwnCompute extends RefreshCompute {}
// @ts-expect-error the constructor is private
export class OwnAuthentication extends DatabaseAuthentication {}
// @ts-expect-error the constructor is private
export class OwnPipeline extends Pipeline {}

// ...no direct construction...
// @ts-expect-error the constructor is private
new RefreshCompute();

// ...and no plain object in their place, since their private members make them nominal.
// @ts-expect-error a plain object lacks the private strategy
export const plainCompute: RefreshCompute = { _bind: () => undefined };
// @ts-expect-error a plain object lacks the private strategy
export const plainAuthentication: DatabaseAuthentication = { _bind: () => undefined };
// @ts-expect-error a plain object lacks the private function resolver
export const plainPipeline: Pipeline = { name: 'Demand', _bind: () => undefined };

// The factories do compile.
declare const fn: lambda.IFunction;
export const compute: RefreshCompute = RefreshCompute.fargate({ runTimeout: Duration.hours(1) });
export const pipeline: Pipeline = Pipeline.fromFunction('Demand', fn);
export const database = OrchestratorDatabase.fromEndpoint({ host: 'db.internal' }, {
  authentication: DatabaseAuthentication.fromPassword('refresher', SecretValue.unsafePlainText('pw')),
  tls: DatabaseTls.REQUIRE,
});

// The password is a SecretValue, never a string.
// @ts-expect-error a string password
DatabaseAuthentication.fromPassword('refresher', 'pw');

// Removed props are gone.
// @ts-expect-error use RefreshCompute.lambda({ memorySize })
export const memoryAlias: Partial<ItcOrchestratorProps> = { refreshMemorySize: 512 };
// @ts-expect-error use RefreshCompute.lambda({ timeout })
export const timeoutAlias: Partial<ItcOrchestratorProps> = { refreshTimeout: Duration.minutes(5) };
// @ts-expect-error `tls` replaced it
export const verifyFlag: Parameters<typeof OrchestratorDatabase.fromEndpoint>[1] = { verifyServerCertificate: false };
