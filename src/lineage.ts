import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { checkDuration } from './private/validation';
import { LineageDefaults, LineageTransportSettings } from './shared/contract';

/** Options of {@link LineageTransport.http}. */
export interface HttpLineageTransportOptions {
  /**
   * The receiver's base URL, `http://` or `https://`: Marquez (`https://marquez.example.internal:5000`), DataHub
   * (`https://gms.example.com/openapi/openlineage/`), OpenMetadata, Atlan or any receiver of OpenLineage's HTTP API.
   * The refresh must be able to reach it from its subnets.
   */
  readonly url: string;

  /**
   * The path of the lineage endpoint under `url`; OpenMetadata's is `api/v1/openlineage/lineage`.
   *
   * @default 'api/v1/lineage'
   */
  readonly endpoint?: string;

  /**
   * A Secrets Manager secret holding the API key, sent as `Authorization: Bearer <key>`: the secret's string, or
   * its `apiKey` field when the string is a JSON object. The refresh reads it when a run starts, so it never
   * appears in an environment variable; the construct grants the refresh read access to it.
   *
   * @default - no `Authorization` header
   */
  readonly apiKey?: secretsmanager.ISecret;

  /**
   * How long one request may take, from 100 milliseconds to 30 seconds.
   *
   * @default Duration.seconds(2)
   */
  readonly requestTimeout?: Duration;
}

/** Options of {@link LineageTransport.dataZone}. */
export interface DataZoneLineageTransportOptions {
  /** The identifier of the Amazon DataZone (SageMaker Unified Studio) domain, `dzd_...` or `dzd-...`. */
  readonly domainId: string;

  /**
   * The domain's region.
   *
   * @default - the stack's region
   */
  readonly region?: string;

  /**
   * How long one `PostLineageEvent` call may take, from 100 milliseconds to 30 seconds.
   *
   * @default Duration.seconds(2)
   */
  readonly requestTimeout?: Duration;
}

/** What a lineage transport gives the refresh: its settings, and the grants it needs. */
export interface BoundLineageTransport {
  readonly settings: LineageTransportSettings;
  grant(grantee: iam.IGrantable): void;
}

/**
 * Where the refresh sends its OpenLineage events: an HTTP receiver, Amazon DataZone, or the refresh's own log.
 *
 * Only the factories create a `LineageTransport`; the class cannot be subclassed.
 *
 * @example
 * declare const vpc: ec2.IVpc;
 * declare const instance: rds.DatabaseInstance;
 * declare const demand: lambda.IFunction;
 *
 * new ItcOrchestrator(this, 'Orchestrator', {
 *   vpc,
 *   database: OrchestratorDatabase.fromInstance(instance, { databaseName: 'warehouse' }),
 *   pipelines: [Pipeline.fromFunction('Demand', demand)],
 *   lineage: {
 *     transport: LineageTransport.http({
 *       url: 'https://marquez.example.internal',
 *       apiKey: secretsmanager.Secret.fromSecretNameV2(this, 'LineageKey', 'openlineage/api-key'),
 *     }),
 *   },
 * });
 */
export class LineageTransport {
  /**
   * POSTs each event to an OpenLineage HTTP receiver: Marquez, DataHub, OpenMetadata, Atlan. A 2xx answer is
   * success.
   */
  public static http(options: HttpLineageTransportOptions): LineageTransport {
    checkUrl(options.url);
    const endpoint = options.endpoint ?? LineageDefaults.HTTP_ENDPOINT;
    if (!Token.isUnresolved(endpoint) && /\s|^[a-z]+:\/\//i.test(endpoint)) {
      throw new Error(`LineageTransport.http: \`endpoint\` must be a path under \`url\`, such as 'api/v1/lineage', got '${endpoint}'`);
    }
    const requestTimeoutMs = requestTimeout('LineageTransport.http: `requestTimeout`', options.requestTimeout);
    return new LineageTransport(() => ({
      settings: { type: 'http', url: options.url, endpoint, apiKeySecretArn: options.apiKey?.secretArn, requestTimeoutMs },
      grant: (grantee) => options.apiKey?.grantRead(grantee),
    }));
  }

  /**
   * Posts each event to Amazon DataZone (SageMaker Unified Studio) with `PostLineageEvent`; the construct grants the
   * refresh `datazone:PostLineageEvent` on the domain. From private subnets, DataZone's endpoint must be reachable
   * (a NAT gateway).
   */
  public static dataZone(options: DataZoneLineageTransportOptions): LineageTransport {
    const { domainId, region } = options;
    if (!Token.isUnresolved(domainId) && !/^dzd[-_][a-zA-Z0-9_-]{1,36}$/.test(domainId)) {
      throw new Error(`LineageTransport.dataZone: \`domainId\` must be a DataZone domain identifier such as 'dzd_a1b2c3d4e5f6g7', got '${domainId}'`);
    }
    if (region !== undefined && !Token.isUnresolved(region) && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
      throw new Error(`LineageTransport.dataZone: \`region\` must be an AWS region such as 'eu-west-1', got '${region}'`);
    }
    const requestTimeoutMs = requestTimeout('LineageTransport.dataZone: `requestTimeout`', options.requestTimeout);
    return new LineageTransport((scope) => ({
      settings: { type: 'dataZone', domainId, ...region ? { region } : {}, requestTimeoutMs },
      grant: (grantee) => iam.Grant.addToPrincipal({
        grantee,
        actions: ['datazone:PostLineageEvent'],
        resourceArns: [Stack.of(scope).formatArn({ service: 'datazone', region, resource: 'domain', resourceName: domainId })],
      }),
    }));
  }

  /**
   * Writes each event as one JSON line to the refresh's own log (the function's or the task's log group), for a
   * subscription filter to ship wherever lineage is kept. Needs no network path and no permission.
   */
  public static log(): LineageTransport {
    return new LineageTransport(() => ({ settings: { type: 'log' }, grant: () => undefined }));
  }

  private constructor(private readonly binder: (scope: Construct) => BoundLineageTransport) {}

  /**
   * The engine's settings of this transport, and the grants it needs.
   *
   * @internal
   */
  public _bind(scope: Construct): BoundLineageTransport {
    return this.binder(scope);
  }
}

function checkUrl(url: string): void {
  if (Token.isUnresolved(url)) return;
  let valid = false;
  try {
    valid = ['http:', 'https:'].includes(new URL(url).protocol);
  } catch {
    valid = false;
  }
  if (!valid) throw new Error(`LineageTransport.http: \`url\` must be an http:// or https:// URL, got '${url}'`);
}

function requestTimeout(prop: string, timeout: Duration | undefined): number {
  checkDuration(prop, timeout, { unit: 'milliseconds', min: Duration.millis(100), max: Duration.seconds(30) });
  return timeout?.toMilliseconds() ?? LineageDefaults.REQUEST_TIMEOUT_MS;
}

/**
 * OpenLineage events for every refresh run: one job per materialized view, as dbt emits one per model, each run a
 * child of the refresh run, with the Step Functions execution as the root. Lineage is best effort: it never fails
 * or delays a refresh, and waits at most `timeBudget` at the end of a run for events still being sent.
 *
 * @see https://openlineage.io/docs/spec/naming
 */
export interface LineageOptions {
  /** Where the events go. */
  readonly transport: LineageTransport;

  /**
   * The OpenLineage namespace of the orchestrator's jobs. Atlan requires it to be the name of a connection.
   *
   * @default 'itc-orchestrator'
   */
  readonly namespace?: string;

  /**
   * The namespace of the datasets, `postgres://{host}:{port}`, host in lower case, as dbt and Airflow name the same
   * database, so that the orchestrator's views and tables are the same nodes as theirs. Set it when the refresh
   * reaches the database under another name than those tools do, such as an RDS Proxy endpoint.
   *
   * @default - `postgres://{host}:{port}` of the database the refresh connects to, host in lower case
   */
  readonly datasetNamespace?: string;

  /**
   * The most a refresh run waits at its end for events still being sent, from 0 to 60 seconds, in whole
   * milliseconds; it is kept back from the run's time, and never more than a quarter of it. Events not sent by
   * then are counted as dropped in the report and the `LineageEventsNotSent` metric.
   *
   * @default Duration.seconds(5)
   */
  readonly timeBudget?: Duration;
}
