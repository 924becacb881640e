/**
 * Every TypeScript app in README.md, synthesized exactly as printed (only `itc-orchestrator` resolves to this
 * repository's sources), the way `cdk synth` would without AWS credentials: nothing may need a context lookup.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ts from 'typescript';

const ROOT = join(__dirname, '..', '..');

interface Snippet {
  readonly title: string;
  readonly code: string;
}

/** The complete apps: the `ts fixture=app` blocks, named after the README section they are in. */
function readmeApps(): Snippet[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const snippets: Snippet[] = [];
  let section = '';
  for (const match of readme.matchAll(/^## (.+)$|^```ts fixture=app\n([\s\S]*?)^```$/gm)) {
    if (match[1] !== undefined) {
      section = match[1];
    } else {
      snippets.push({ title: `${section} #${snippets.filter((s) => s.title.startsWith(section)).length + 1}`, code: match[2] });
    }
  }
  return snippets;
}

/** Runs a snippet as a CommonJS module and returns the cloud assembly manifest and templates it wrote. */
function synthesize(snippet: Snippet) {
  const outdir = mkdtempSync(join(tmpdir(), 'itc-readme-'));
  // What the CDK CLI sets for an app: its output directory, and no account or region without credentials.
  const variables = ['CDK_OUTDIR', 'CDK_DEFAULT_ACCOUNT', 'CDK_DEFAULT_REGION'];
  const previous = Object.fromEntries(variables.map((name) => [name, process.env[name]]));
  process.env.CDK_OUTDIR = outdir;
  delete process.env.CDK_DEFAULT_ACCOUNT;
  delete process.env.CDK_DEFAULT_REGION;
  try {
    const { outputText } = ts.transpileModule(snippet.code, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
    const load = (name: string): unknown => jest.requireActual(name === 'itc-orchestrator' ? '../../src' : name);
    new Function('require', 'exports', 'module', outputText)(load, {}, { exports: {} });
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8'));
    const stacks = Object.entries(manifest.artifacts as Record<string, any>).filter(([, artifact]) => artifact.type === 'aws:cloudformation:stack');
    const templates = stacks.map(([, artifact]) => JSON.parse(readFileSync(join(outdir, artifact.properties.templateFile), 'utf8')));
    const messages = stacks.flatMap(([, artifact]) => Object.values((artifact.metadata ?? {}) as Record<string, any[]>).flat())
      .filter((entry) => ['aws:cdk:warning', 'aws:cdk:error'].includes(entry.type))
      .map((entry) => `${entry.type}: ${entry.data}`);
    return { manifest, templates, messages };
  } finally {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(outdir, { recursive: true, force: true });
  }
}

const apps = readmeApps();

test('the README has its TypeScript apps', () => {
  expect(apps.map((app) => app.title)).toEqual(['Quick start #1', 'Usage #1']);
});

test.each(apps.map((app) => [app.title, app] as const))('the README app in "%s" synthesizes without AWS credentials', (_title, app) => {
  const { manifest, templates, messages } = synthesize(app);

  // A context lookup (availability zones, VPC, ...) would make `cdk synth` call AWS.
  expect(manifest.missing ?? []).toEqual([]);
  expect(messages.filter((message) => message.startsWith('aws:cdk:error'))).toEqual([]);
  // Its pipelines are where the stack is: no warning about a function in another account or region.
  expect(messages.filter((message) => message.includes('Pipeline "'))).toEqual([]);
  const types = templates.flatMap((template) => Object.values(template.Resources as Record<string, { Type: string }>).map((r) => r.Type));
  expect(types).toEqual(expect.arrayContaining(['AWS::StepFunctions::StateMachine', 'AWS::Lambda::Function', 'AWS::RDS::DBInstance', 'AWS::Scheduler::Schedule']));
});
