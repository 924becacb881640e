import type { RunEvent } from './events';
import type { LineageTransportSettings } from '../../shared/contract';

/** Sends one event; throws when it was not accepted. Aborted by `signal` when it takes too long. */
export interface LineageTransport {
  /** Settles when the transport can send (e.g. its API key was read); rejects, saying why, when it never can. */
  readonly ready: Promise<void>;
  /** How long one event may take to send, in milliseconds. */
  readonly requestTimeoutMs: number;
  send(event: RunEvent, signal: AbortSignal): Promise<void>;
}

type Write = (line: string) => void;

/** The transport the settings name. `write` is where the log transport writes its lines. */
export function lineageTransport(settings: LineageTransportSettings, write: Write): LineageTransport {
  switch (settings.type) {
    case 'http': return httpTransport(settings);
    case 'dataZone': return dataZoneTransport(settings);
    case 'log': return logTransport(write);
  }
}

/**
 * POSTs each event as JSON to `url` + `endpoint` (Marquez, DataHub, OpenMetadata, Atlan), with the API key, when
 * there is one, as a bearer token. The key is read from Secrets Manager when the run starts, never from the
 * environment; a 2xx answer is success.
 */
function httpTransport(settings: Extract<LineageTransportSettings, { type: 'http' }>): LineageTransport {
  const target = `${settings.url.replace(/\/+$/, '')}/${settings.endpoint.replace(/^\/+/, '')}`;
  const apiKey = settings.apiKeySecretArn ? readApiKey(settings.apiKeySecretArn, settings.requestTimeoutMs) : Promise.resolve(undefined);
  return {
    ready: apiKey.then(() => undefined),
    requestTimeoutMs: settings.requestTimeoutMs,
    async send(event, signal) {
      const key = await apiKey;
      const response = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...key ? { authorization: `Bearer ${key}` } : {} },
        body: JSON.stringify(event),
        signal,
      });
      // Read the body, so the connection is free for the next request.
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) throw new Error(`${target} answered ${response.status}`);
    },
  };
}

/**
 * Reads the API key: the secret's string, or its `apiKey` field when the string is a JSON object. The error says
 * which secret and what went wrong, never what the secret holds.
 */
async function readApiKey(arn: string, timeoutMs: number): Promise<string> {
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  try {
    const { SecretString: value } = await client.send(new GetSecretValueCommand({ SecretId: arn }), { abortSignal: AbortSignal.timeout(timeoutMs) });
    if (value === undefined || value === '') throw new Error('it has no SecretString');
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return value;
    }
    const field = (parsed as { apiKey?: unknown } | null)?.apiKey;
    if (typeof parsed !== 'object' || parsed === null) return value;
    if (typeof field !== 'string' || field === '') throw new Error('it holds a JSON object without a string "apiKey"');
    return field;
  } catch (error) {
    const { name, message } = error as Error;
    throw new Error(`the API key could not be read from secret ${arn}: ${name}: ${message}`);
  } finally {
    client.destroy();
  }
}

/** Amazon DataZone's PostLineageEvent, with the compute's IAM role. */
function dataZoneTransport(settings: Extract<LineageTransportSettings, { type: 'dataZone' }>): LineageTransport {
  const client = import('@aws-sdk/client-datazone').then((sdk) => ({ sdk, client: new sdk.DataZoneClient(settings.region ? { region: settings.region } : {}) }));
  return {
    ready: client.then(() => undefined),
    requestTimeoutMs: settings.requestTimeoutMs,
    async send(event, signal) {
      const { sdk, client: dataZone } = await client;
      await dataZone.send(new sdk.PostLineageEventCommand({
        domainIdentifier: settings.domainId,
        event: new TextEncoder().encode(JSON.stringify(event)),
      }), { abortSignal: signal });
    },
  };
}

/** Each event as one JSON line in the function's or the task's own log, for a subscription filter to ship. */
function logTransport(write: Write): LineageTransport {
  return {
    ready: Promise.resolve(),
    requestTimeoutMs: 1_000,
    async send(event) {
      write(`${JSON.stringify(event)}\n`);
    },
  };
}
