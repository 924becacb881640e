import type { LineageCatalog, LineageColumn, LineageInput, ViewFacts } from './catalog';

/**
 * OpenLineage run events (spec 2-0-2) and the facets the engine sends, each facet with its schema's versioned URL.
 * Every text the events carry is bounded ({@link LineageLimits}), so an event stays well inside what receivers and
 * CloudWatch Logs accept.
 */

export const PRODUCER = 'https://github.com/itc-orchestrator/itc-orchestrator';
const EVENT_SCHEMA = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
const facetSchema = (version: string, name: string) => `https://openlineage.io/spec/facets/${version}/${name}.json#/$defs/${name}`;
/** The schema of the engine's own run facet, `itcOrchestrator_refresh`. */
export const REFRESH_FACET_SCHEMA = 'https://raw.githubusercontent.com/itc-orchestrator/itc-orchestrator/main/docs/openlineage/'
  + 'RefreshRunFacet-1-0-0.json#/$defs/RefreshRunFacet';

export const LineageLimits = {
  /** Longest view query in the `sql` facet, in characters. */
  SQL_CHARS: 32_000,
  /** Most bytes of JSON the columns of a `schema` facet take; the first columns that fit are listed. */
  SCHEMA_BYTES: 16 * 1024,
  /** Longest message of an `errorMessage` facet, in characters. */
  ERROR_CHARS: 4_000,
  /** Most inputs per event; a view reading more lists the first ones by name. */
  INPUTS: 200,
} as const;

export type EventType = 'START' | 'COMPLETE' | 'FAIL' | 'ABORT';

export interface JobRef {
  readonly namespace: string;
  readonly name: string;
}

export interface RunEvent {
  readonly eventType: EventType;
  readonly eventTime: string;
  readonly producer: string;
  readonly schemaURL: string;
  readonly run: { readonly runId: string; readonly facets?: Record<string, object> };
  readonly job: JobRef & { readonly facets?: Record<string, object> };
  readonly inputs?: object[];
  readonly outputs?: object[];
}

/** Who started a run: its parent and the root of the tree, as the `parent` facet names them. */
export interface Lineage {
  readonly parent?: { readonly runId: string; readonly job: JobRef };
  readonly root?: { readonly runId: string; readonly job: JobRef };
}

function facet(version: string, name: string, fields: object): object {
  return { _producer: PRODUCER, _schemaURL: facetSchema(version, name), ...fields };
}

function shorten(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

export function runEvent(eventType: EventType, runId: string, job: RunEvent['job'], runFacets: Record<string, object>,
  datasets: Pick<RunEvent, 'inputs' | 'outputs'> = {}): RunEvent {
  return {
    eventType,
    eventTime: new Date().toISOString(),
    producer: PRODUCER,
    schemaURL: EVENT_SCHEMA,
    run: Object.keys(runFacets).length > 0 ? { runId, facets: runFacets } : { runId },
    job,
    ...datasets,
  };
}

export function parentFacet(lineage: Lineage): Record<string, object> {
  if (!lineage.parent) return {};
  const ref = (at: NonNullable<Lineage['parent']>) => ({ run: { runId: at.runId }, job: { namespace: at.job.namespace, name: at.job.name } });
  return { parent: facet('1-2-0', 'ParentRunFacet', { ...ref(lineage.parent), ...lineage.root ? { root: ref(lineage.root) } : {} }) };
}

export function jobTypeFacet(jobType: string): object {
  return facet('2-0-4', 'JobTypeJobFacet', { processingType: 'BATCH', integration: 'ITC_ORCHESTRATOR', jobType });
}

export function errorFacet(message: string): Record<string, object> {
  return { errorMessage: facet('1-0-1', 'ErrorMessageRunFacet', { message: shorten(message, LineageLimits.ERROR_CHARS), programmingLanguage: 'JavaScript' }) };
}

export function processingEngineFacet(version: string): Record<string, object> {
  return version ? { processing_engine: facet('1-1-1', 'ProcessingEngineRunFacet', { name: 'PostgreSQL', version }) } : {};
}

/** The engine's own run facet: how the refresh run ended and why it refreshed what it did. */
export function refreshFacet(fields: object): Record<string, object> {
  return { itcOrchestrator_refresh: { _producer: PRODUCER, _schemaURL: REFRESH_FACET_SCHEMA, ...fields } };
}

/** The job of one materialized view's refresh, with its SQL when the catalog was read. */
export function viewJob(job: JobRef, facts: ViewFacts | undefined): RunEvent['job'] {
  const facets: Record<string, object> = { jobType: jobTypeFacet('MATERIALIZED_VIEW') };
  if (facts?.sql) facets.sql = facet('1-1-0', 'SQLJobFacet', { query: shorten(facts.sql, LineageLimits.SQL_CHARS), dialect: 'postgres' });
  return { ...job, facets };
}

/** Names datasets as dbt and Airflow do for PostgreSQL: namespace `postgres://{host}:{port}`, name `{database}.{schema}.{table}`. */
export class DatasetNames {
  constructor(readonly namespace: string, readonly database: string) {}

  name(schema: string, relation: string): string {
    return `${this.database}.${schema}.${relation}`;
  }

  private dataset(schema: string, relation: string, facets: Record<string, object>): object {
    const dataSource = facet('1-0-1', 'DatasourceDatasetFacet', { name: this.namespace, uri: this.namespace });
    return { namespace: this.namespace, name: this.name(schema, relation), facets: { dataSource, ...facets } };
  }

  /** The view's inputs and its output, with the output's type and columns when the catalog was read. */
  viewDatasets(schema: string, view: string, facts: ViewFacts | undefined): Pick<RunEvent, 'inputs' | 'outputs'> {
    const inputs = (facts?.inputs ?? []).slice(0, LineageLimits.INPUTS).map((input) => this.dataset(input.schema, input.name, inputFacets(input)));
    const outputFacets: Record<string, object> = { datasetType: facet('1-0-1', 'DatasetTypeDatasetFacet', { datasetType: 'VIEW', subType: 'MATERIALIZED' }) };
    if (facts && facts.columns.length > 0) outputFacets.schema = schemaFacet(facts.columns);
    return { inputs, outputs: [this.dataset(schema, view, outputFacets)] };
  }
}

const DATASET_TYPES: Record<string, { datasetType: string; subType?: string }> = {
  r: { datasetType: 'TABLE' },
  p: { datasetType: 'TABLE', subType: 'PARTITIONED' },
  f: { datasetType: 'TABLE', subType: 'FOREIGN' },
  m: { datasetType: 'VIEW', subType: 'MATERIALIZED' },
};

function inputFacets(input: LineageInput): Record<string, object> {
  const type = DATASET_TYPES[input.relkind];
  return type ? { datasetType: facet('1-0-1', 'DatasetTypeDatasetFacet', type) } : {};
}

function schemaFacet(columns: readonly LineageColumn[]): object {
  const fields: object[] = [];
  let size = 2;
  for (const column of columns) {
    const field = { name: column.name, type: column.type, ordinal_position: column.position };
    size += Buffer.byteLength(JSON.stringify(field)) + 1;
    if (size > LineageLimits.SCHEMA_BYTES) break;
    fields.push(field);
  }
  return facet('1-2-0', 'SchemaDatasetFacet', { fields });
}

export type { LineageCatalog };
