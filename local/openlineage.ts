import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/**
 * OpenLineage for the local runtime: the pinned JSON Schemas events are validated against, as OpenLineage's
 * compatibility tests validate them, and a receiver that records what the engine sends.
 */

const REPOSITORY = resolve(__dirname, '..');
const SPEC_FOLDER = join('shared', 'openlineage-spec');

/**
 * The folder of the pinned OpenLineage schemas: `$OPENLINEAGE_SPEC_DIR` when set; else `../shared/openlineage-spec`
 * beside the checkout, or in a linked worktree beside its main checkout; else, in a clone whose `origin` is a local
 * path, beside that path (or beside its main checkout). Throws naming each place it looked when none holds them.
 */
export function openLineageSpecFolder(env: Record<string, string | undefined> = process.env, repository = REPOSITORY): string {
  const looked: string[] = [];
  const holdsSpec = (folder: string) => {
    looked.push(folder);
    return existsSync(join(folder, 'OpenLineage.json'));
  };
  const configured = env.OPENLINEAGE_SPEC_DIR;
  if (configured) {
    if (holdsSpec(resolve(configured))) return resolve(configured);
    throw new Error(`OPENLINEAGE_SPEC_DIR=${configured} holds no OpenLineage.json`);
  }
  const beside = resolve(repository, '..', SPEC_FOLDER);
  if (holdsSpec(beside)) return beside;
  const main = mainCheckout(repository);
  if (main && main !== repository) {
    const besideMain = resolve(main, '..', SPEC_FOLDER);
    if (holdsSpec(besideMain)) return besideMain;
  }
  const origin = localOrigin(repository);
  if (origin) {
    // The origin may itself be a linked worktree, whose main checkout has the folder beside it.
    for (const checkout of new Set([origin, mainCheckout(origin) ?? origin])) {
      const besideOrigin = resolve(checkout, '..', SPEC_FOLDER);
      if (holdsSpec(besideOrigin)) return besideOrigin;
    }
  }
  throw new Error(`The pinned OpenLineage JSON Schemas were not found: looked in ${looked.join(', ')}`
    + `${origin ? '' : ' (the clone has no origin remote on a local path)'}; set OPENLINEAGE_SPEC_DIR to their folder`);
}

/** The main checkout of the repository (the folder holding its `.git`), for a linked worktree. */
function mainCheckout(repository: string): string | undefined {
  try {
    const common = git(repository, 'rev-parse', '--path-format=absolute', '--git-common-dir');
    return common.endsWith('/.git') ? dirname(common) : undefined;
  } catch {
    return undefined;
  }
}

function git(repository: string, ...args: string[]): string {
  return execFileSync('git', ['-C', repository, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

/** The path of the `origin` remote when it is a local folder (a path or a file: URL), else undefined. */
function localOrigin(repository: string): string | undefined {
  let url: string;
  try {
    url = git(repository, 'remote', 'get-url', 'origin');
  } catch {
    return undefined;
  }
  if (url.startsWith('file://')) return fileURLToPath(url);
  return isAbsolute(url) ? url : undefined;
}

/** The schema of the engine's own facet, which the project publishes beside its documentation. */
const OWN_FACET_SCHEMAS = [join(REPOSITORY, 'docs', 'openlineage', 'RefreshRunFacet-1-0-0.json')];

/**
 * Validates run events: the whole event against the core schema, then each facet, as `{ key: facet }`, against
 * the schema that defines that key. A facet no schema defines is a problem too.
 */
export class OpenLineageValidator {
  private readonly event: ValidateFunction;
  private readonly facets = new Map<string, ValidateFunction>();

  constructor(specFolder = openLineageSpecFolder()) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    const core = JSON.parse(readFileSync(join(specFolder, 'OpenLineage.json'), 'utf8'));
    ajv.addSchema(core);
    this.event = ajv.getSchema(`${core.$id}#/$defs/RunEvent`)!;
    const facetFiles = readdirSync(join(specFolder, 'facets')).filter((name) => name.endsWith('.json')).map((name) => join(specFolder, 'facets', name));
    for (const file of [...facetFiles, ...OWN_FACET_SCHEMAS]) {
      const schema = JSON.parse(readFileSync(file, 'utf8'));
      const validate = ajv.compile(schema);
      for (const key of Object.keys(schema.properties ?? {})) this.facets.set(key, validate);
    }
  }

  /** What is wrong with the event: an empty list when it is valid. */
  problems(event: unknown): string[] {
    const problems: string[] = [];
    if (!this.event(event)) problems.push(...(this.event.errors ?? []).map((error) => `event${error.instancePath} ${error.message}`));
    const e = event as Record<string, any>;
    const check = (where: string, facets: Record<string, unknown> | undefined) => {
      for (const [key, facet] of Object.entries(facets ?? {})) {
        const validate = this.facets.get(key);
        if (!validate) problems.push(`${where}.${key}: no schema defines this facet`);
        else if (!validate({ [key]: facet })) problems.push(...(validate.errors ?? []).map((error) => `${where}${error.instancePath} ${error.message}`));
      }
    };
    check('run.facets', e?.run?.facets);
    check('job.facets', e?.job?.facets);
    for (const [list, extra] of [['inputs', 'inputFacets'], ['outputs', 'outputFacets']] as const) {
      (e?.[list] ?? []).forEach((dataset: Record<string, any>, index: number) => {
        check(`${list}[${index}].facets`, dataset.facets);
        check(`${list}[${index}].${extra}`, dataset[extra]);
      });
    }
    return problems;
  }
}

/** An event the receiver got, with the request's headers. */
export interface ReceivedEvent {
  readonly event: any;
  readonly headers: IncomingHttpHeaders;
  readonly path: string;
}

/** How the receiver answers: a status code, or `hang` to never answer. */
export type ReceiverAnswer = number | 'hang';

/**
 * A local OpenLineage receiver on 127.0.0.1, like Marquez's `POST /api/v1/lineage` (201 on success). Records
 * every event; `answer` decides the reply.
 */
export class LineageReceiver {
  static async start(answer: ReceiverAnswer | ((event: any) => ReceiverAnswer) = 201): Promise<LineageReceiver> {
    const receiver = new LineageReceiver(answer);
    await new Promise<void>((done) => receiver.server.listen(0, '127.0.0.1', done));
    return receiver;
  }

  readonly received: ReceivedEvent[] = [];
  private readonly server: Server;
  private readonly hanging = new Set<ServerResponse>();

  private constructor(private readonly answer: ReceiverAnswer | ((event: any) => ReceiverAnswer)) {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        this.received.push({ event, headers: request.headers, path: request.url ?? '' });
        const reply = typeof this.answer === 'function' ? this.answer(event) : this.answer;
        if (reply === 'hang') {
          this.hanging.add(response);
          return;
        }
        response.writeHead(reply, { 'content-type': 'application/json' }).end(reply < 300 ? '' : '{"error":"refused"}');
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The events received, in order of arrival. */
  get events(): any[] {
    return this.received.map((entry) => entry.event);
  }

  async close(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

/** A port on 127.0.0.1 nothing listens on: a receiver started and closed again. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

