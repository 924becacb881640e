import { Duration, IResolveContext, Lazy, Stack, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { checkDuration } from './validation';
import type { BoundLineageTransport, LineageOptions } from '../lineage';
import { LineageDefaults, RefreshEnv } from '../shared/contract';

/** Checks the lineage options at synth, each value quoted with its prop. */
export function validateLineage(lineage: LineageOptions | undefined): void {
  if (!lineage) return;
  const { namespace, datasetNamespace } = lineage;
  if (namespace !== undefined && !Token.isUnresolved(namespace) && (namespace.trim() === '' || /\s/.test(namespace))) {
    throw new Error(`\`lineage.namespace\` must be a non-empty name without spaces, got '${namespace}'`);
  }
  if (datasetNamespace !== undefined && !Token.isUnresolved(datasetNamespace)) {
    const match = /^postgres:\/\/([^/:\s]+):(\d{1,5})$/.exec(datasetNamespace);
    if (!match) {
      throw new Error(`\`lineage.datasetNamespace\` must be postgres://{host}:{port}, as dbt and Airflow name a PostgreSQL database, got '${datasetNamespace}'`);
    }
    if (match[1] !== match[1].toLowerCase()) {
      throw new Error(`\`lineage.datasetNamespace\` must have its host in lower case, as Airflow writes it, got '${datasetNamespace}'`);
    }
  }
  checkDuration('lineage.timeBudget', lineage.timeBudget, {
    unit: 'milliseconds', min: Duration.millis(0), max: Duration.millis(LineageDefaults.MAX_TIME_BUDGET_MS),
  });
}

/** The lineage settings as the engine reads them from its environment: none when lineage is off. */
export function lineageEnvironment(scope: Construct, lineage: LineageOptions | undefined, transport: BoundLineageTransport | undefined)
  : Record<string, string> {
  if (!lineage || !transport) return {};
  const environment: Record<string, string> = {
    [RefreshEnv.LINEAGE_TRANSPORT]: Stack.of(scope).toJsonString(transport.settings),
  };
  if (lineage.namespace !== undefined) environment[RefreshEnv.LINEAGE_NAMESPACE] = lineage.namespace;
  if (lineage.datasetNamespace !== undefined) environment[RefreshEnv.LINEAGE_DATASET_NAMESPACE] = lineage.datasetNamespace;
  const budget = lineage.timeBudget?.toMilliseconds();
  if (budget !== undefined) {
    // An environment variable is a string: a number from a token must resolve to one too.
    environment[RefreshEnv.LINEAGE_TIME_BUDGET_MS] = !Token.isUnresolved(budget) ? String(budget)
      : Lazy.uncachedString({ produce: (context: IResolveContext) => String(context.resolve(budget)) });
  }
  return environment;
}
