import { LineageDefaults, LineageExecution, LineageTransportSettings, RefreshEnv } from '../../shared/contract';

type Env = Record<string, string | undefined>;

/** The lineage settings of a run, read from the environment the construct set and the event. */
export interface LineageSettings {
  readonly transport: LineageTransportSettings;
  /** The job namespace. */
  readonly namespace: string;
  /** The dataset namespace when configured; otherwise it is taken from the connection. */
  readonly datasetNamespace?: string;
  readonly timeBudgetMs: number;
  /** The execution that started the run; undefined when the handler was invoked outside one. */
  readonly execution?: LineageExecution;
}

/**
 * Reads the lineage settings: undefined when lineage is off. Settings the construct checked at synth cannot be
 * wrong; should they be anyway, lineage is off for the run and `problem` says why: lineage never fails a refresh.
 */
export function readLineageSettings(env: Env, event: unknown): { settings?: LineageSettings; problem?: string } {
  const raw = env[RefreshEnv.LINEAGE_TRANSPORT];
  if (raw === undefined || raw.trim() === '') return {};
  let transport: LineageTransportSettings;
  try {
    transport = checkTransport(JSON.parse(raw));
  } catch (error) {
    return { problem: `invalid ${RefreshEnv.LINEAGE_TRANSPORT}: ${(error as Error).message}` };
  }
  const budget = Number(env[RefreshEnv.LINEAGE_TIME_BUDGET_MS] || LineageDefaults.TIME_BUDGET_MS);
  if (!Number.isInteger(budget) || budget < 0 || budget > LineageDefaults.MAX_TIME_BUDGET_MS) {
    return { problem: `invalid ${RefreshEnv.LINEAGE_TIME_BUDGET_MS}: expected an integer from 0 to ${LineageDefaults.MAX_TIME_BUDGET_MS}` };
  }
  return {
    settings: {
      transport,
      namespace: env[RefreshEnv.LINEAGE_NAMESPACE] || LineageDefaults.NAMESPACE,
      datasetNamespace: env[RefreshEnv.LINEAGE_DATASET_NAMESPACE] || undefined,
      timeBudgetMs: budget,
      execution: readExecution(event),
    },
  };
}

function checkTransport(value: unknown): LineageTransportSettings {
  const settings = value as Record<string, unknown> | null;
  const text = (key: string) => typeof settings?.[key] === 'string' && (settings[key] as string) !== '';
  const timeout = () => typeof settings?.requestTimeoutMs === 'number' && settings.requestTimeoutMs > 0;
  if (settings?.type === 'log') return { type: 'log' };
  if (settings?.type === 'http' && text('url') && typeof settings.endpoint === 'string' && timeout()) {
    return settings as unknown as LineageTransportSettings;
  }
  if (settings?.type === 'dataZone' && text('domainId') && timeout()) return settings as unknown as LineageTransportSettings;
  throw new Error('expected {"type": "http", "url", "endpoint", "requestTimeoutMs"}, {"type": "dataZone", "domainId", '
    + '"requestTimeoutMs"} or {"type": "log"}');
}

/** The execution the state machine named in `event.lineage`; anything else there is ignored. */
function readExecution(event: unknown): LineageExecution | undefined {
  const lineage = (event as { lineage?: Partial<LineageExecution> } | null | undefined)?.lineage;
  if (typeof lineage !== 'object' || lineage === null) return undefined;
  const { executionArn, executionStartTime, stateMachineName } = lineage;
  if (typeof executionArn !== 'string' || typeof stateMachineName !== 'string' || typeof executionStartTime !== 'string'
    || Number.isNaN(Date.parse(executionStartTime))) {
    return undefined;
  }
  return { executionArn, executionStartTime, stateMachineName };
}
