/**
 * Every TypeScript example in README.md and docs/*.md, synthesized exactly as printed (only `itc-orchestrator`
 * resolves to this repository's sources), the way `cdk synth` would without AWS credentials: nothing may need a
 * context lookup. The complete apps (`ts fixture=app`) run as they are; every other block runs inside the stack of
 * the jsii-rosetta fixture (rosetta/default.ts-fixture), with a value for each name it declares.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as ts from 'typescript';
import { NamedTemplate, templateValidationFindings } from './template-validation';
import { Pipeline } from '../../src';

const ROOT = join(__dirname, '..', '..');

interface Snippet {
  readonly title: string;
  readonly code: string;
}

/** The documents whose examples users copy: the README, then every page of docs/. */
const DOCUMENTS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];

/**
 * The fence info strings a document may use. TypeScript (`ts`, `ts fixture=app`) runs here, Python in
 * test/python/readme_apps.py, Java and Go (the README's Quick start, their only block) in test/java and test/go; the
 * others are not code a CDK app runs. Any other block (`typescript`, `py`, a block without a language, ...) fails the
 * test, so no example escapes the check.
 */
const KNOWN_FENCES = new Set(['ts', 'ts fixture=app', 'python', 'java', 'go', 'bash', 'sql', 'text', 'json', 'mermaid']);

/** The fenced blocks of a Markdown text, each with its info string, its code and the `## ` section it is in. */
function fencedBlocks(document: string, text: string): { info: string; code: string; section: string }[] {
  const blocks: { info: string; code: string; section: string }[] = [];
  let section = '';
  let open: { info: string; lines: string[] } | undefined;
  for (const line of text.split('\n')) {
    if (open) {
      if (line === '```') {
        blocks.push({ info: open.info, code: open.lines.map((code) => `${code}\n`).join(''), section });
        open = undefined;
      } else {
        open.lines.push(line);
      }
    } else if (line.startsWith('```')) {
      const info = line.slice(3).trim();
      if (!KNOWN_FENCES.has(info)) {
        throw new Error(`${document} has a \`\`\`${info} block, which no test runs: mark TypeScript \`\`\`ts and Python \`\`\`python ` +
          `(known: ${[...KNOWN_FENCES].join(', ')})`);
      }
      open = { info, lines: [] };
    } else if (line.startsWith('## ')) {
      section = line.slice(3);
    }
  }
  if (open) throw new Error(`${document} has a \`\`\`${open.info} block that is never closed`);
  return blocks;
}

/**
 * The `ts` blocks of a document, named after the document and the section they are in: the complete apps
 * (`ts fixture=app`) and the snippets (every other `ts` block).
 */
function documentBlocks(document: string, text: string): { apps: Snippet[]; snippets: Snippet[] } {
  const apps: Snippet[] = [];
  const snippets: Snippet[] = [];
  for (const { info, code, section } of fencedBlocks(document, text)) {
    if (!info.startsWith('ts')) continue;
    const list = info === 'ts fixture=app' ? apps : snippets;
    const prefix = `${document}: ${section} #`;
    list.push({ title: `${prefix}${list.filter((s) => s.title.startsWith(prefix)).length + 1}`, code });
  }
  return { apps, snippets };
}

/** The `ts` blocks of every document. */
function readmeBlocks(): { apps: Snippet[]; snippets: Snippet[] } {
  const blocks = DOCUMENTS.map((document) => documentBlocks(document, readFileSync(join(ROOT, document), 'utf8')));
  return { apps: blocks.flatMap((block) => block.apps), snippets: blocks.flatMap((block) => block.snippets) };
}

/**
 * What each name a snippet declares (`declare const vpc: ec2.IVpc;`) stands for, built in the snippet's stack. A
 * value may use others through `get`, which builds each at most once per stack. test/python/readme_apps.py
 * defines the same values for the Python snippets.
 */
const FIXTURE_VALUES: Record<string, (stack: Stack, get: (name: string) => any) => unknown> = {
  vpc: (stack) => new ec2.Vpc(stack, 'Vpc', { maxAzs: 2 }),
  instance: (stack, get) => new rds.DatabaseInstance(stack, 'Database', {
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
    vpc: get('vpc'),
    credentials: rds.Credentials.fromGeneratedSecret('itc'),
    storageEncrypted: true,
  }),
  cluster: (stack, get) => new rds.DatabaseCluster(stack, 'Cluster', {
    engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
    writer: rds.ClusterInstance.serverlessV2('Writer'),
    vpc: get('vpc'),
    credentials: rds.Credentials.fromGeneratedSecret('itc'),
  }),
  proxy: (_stack, get) => (get('instance') as rds.DatabaseInstance).addProxy('Proxy', {
    vpc: get('vpc'),
    secrets: [get('instance').secret],
    iamAuth: true,
  }),
  secret: (stack) => new secretsmanager.Secret(stack, 'Secret', {
    generateSecretString: { secretStringTemplate: JSON.stringify({ username: 'refresher' }), generateStringKey: 'password' },
  }),
  demand: (stack) => new lambda.Function(stack, 'DemandLoader', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({ loaded: true });'),
  }),
  // Functions in the stack's account and region.
  pipelines: (stack) => ['Demand', 'Supply'].map((name) =>
    Pipeline.fromFunctionArn(name, `arn:${stack.partition}:lambda:${stack.region}:${stack.account}:function:${name.toLowerCase()}-loader`)),
  alerts: (stack) => new sns.Topic(stack, 'Alerts'),
  loadWorkflow: (stack) => sfn.StateMachine.fromStateMachineArn(stack, 'LoadWorkflow',
    `arn:${stack.partition}:states:${stack.region}:${stack.account}:stateMachine:load`),
};

const builtValues = new WeakMap<Stack, Map<string, unknown>>();

/** Builds the value of a declared name in a stack, once; the snippet's `this` is the stack. */
function fixtureValue(stack: Stack, name: string): unknown {
  const values = builtValues.get(stack) ?? new Map<string, unknown>();
  builtValues.set(stack, values);
  if (!values.has(name)) {
    const build = FIXTURE_VALUES[name];
    if (!build) {
      throw new Error(`README snippet declares \`${name}\`, which has no fixture value (known: ${Object.keys(FIXTURE_VALUES).join(', ')})`);
    }
    values.set(name, build(stack, (other) => fixtureValue(stack, other)));
  }
  return values.get(name);
}
/**
 * A snippet as the complete app jsii-rosetta compiles it: the rosetta fixture, with the snippet in its stack's
 * constructor and each `declare const NAME: TYPE;` given its fixture value; then an app with that stack, synthesized.
 */
function inFixture(snippet: Snippet): string {
  const declared = [...snippet.code.matchAll(/^declare const (\w+): .+;$/gm)].map((match) => match[1]);
  const unknown = declared.filter((name) => !(name in FIXTURE_VALUES));
  if (unknown.length > 0) {
    throw new Error(`The README snippet in "${snippet.title}" declares ${unknown.map((name) => `\`${name}\``).join(', ')}, ` +
      `which has no fixture value in test/package/readme.test.ts (known: ${Object.keys(FIXTURE_VALUES).join(', ')})`);
  }
  const body = snippet.code.replace(/^declare const (\w+): (.+);$/gm, (_line, name, type) => `const ${name}: ${type} = fixtureValue(this, '${name}');`);
  const leftOver = body.match(/^\s*declare\b.*$/m);
  if (leftOver) throw new Error(`The README snippet in "${snippet.title}" has a declaration this test cannot give a value: ${leftOver[0]}`);
  const fixture = readFileSync(join(ROOT, 'rosetta', 'default.ts-fixture'), 'utf8');
  if (!fixture.includes('/// here')) throw new Error('rosetta/default.ts-fixture has no `/// here` line');
  return `${fixture.replace('/// here', body)}\nconst app = new App();\nnew Fixture(app, 'Readme');\napp.synth();\n`;
}

/** Runs a module's TypeScript source as CommonJS and returns the cloud assembly manifest and templates it wrote. */
function synthesize(source: string) {
  const outdir = mkdtempSync(join(tmpdir(), 'itc-readme-'));
  // What the CDK CLI sets for an app: its output directory, and no account or region without credentials.
  const variables = ['CDK_OUTDIR', 'CDK_DEFAULT_ACCOUNT', 'CDK_DEFAULT_REGION'];
  const previous = Object.fromEntries(variables.map((name) => [name, process.env[name]]));
  process.env.CDK_OUTDIR = outdir;
  delete process.env.CDK_DEFAULT_ACCOUNT;
  delete process.env.CDK_DEFAULT_REGION;
  try {
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
    const load = (name: string): unknown => jest.requireActual(name === 'itc-orchestrator' ? '../../src' : name);
    new Function('require', 'exports', 'module', 'fixtureValue', outputText)(load, {}, { exports: {} }, fixtureValue);
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8'));
    const stacks = Object.entries(manifest.artifacts as Record<string, any>).filter(([, artifact]) => artifact.type === 'aws:cloudformation:stack');
    const templates = stacks.map(([, artifact]) => JSON.parse(readFileSync(join(outdir, artifact.properties.templateFile), 'utf8')));
    const messages = stacks.flatMap(([, artifact]) => Object.values((artifact.metadata ?? {}) as Record<string, any[]>).flat())
      .filter((entry) => ['aws:cdk:warning', 'aws:cdk:error'].includes(entry.type))
      .map((entry) => `${entry.type}: ${entry.data}`);
    const types = templates.flatMap((template) => Object.values(template.Resources as Record<string, { Type: string }>).map((r) => r.Type));
    return { manifest, templates, messages, types };
  } finally {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * Type-checks TypeScript modules (name -> source) in one program, as the compiler checks a user's app in strict mode,
 * with `itc-orchestrator` resolving to this repository's sources, and returns each error with its module and line.
 * Synthesis alone would let an example pass with a prop the API no longer has: an object literal's unknown property
 * is simply ignored at run time.
 */
function typeErrors(modules: Record<string, string>): string[] {
  const files = new Map(Object.entries(modules).map(([name, source]) => [join(ROOT, 'test', 'package', '.examples', `${name.replace(/\W+/g, '-')}.ts`), { name, source }]));
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: ['node'],
    baseUrl: ROOT,
    paths: { 'itc-orchestrator': ['src/index.ts'] },
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const file = files.get(fileName);
    return file ? ts.createSourceFile(fileName, file.source, languageVersion, true) : getSourceFile.call(host, fileName, languageVersion, ...rest);
  };
  host.fileExists = (fileName) => files.has(fileName) || fileExists.call(host, fileName);
  host.readFile = (fileName) => files.get(fileName)?.source ?? readFile.call(host, fileName);
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file && files.has(diagnostic.file.fileName))
    .map((diagnostic) => {
      const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      const text = diagnostic.file!.text.split('\n')[line].trim();
      return `${files.get(diagnostic.file!.fileName)!.name}, line ${line + 1} (${text}): ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
    });
}

/** A snippet in the fixture, as a module the type checker can read: `fixtureValue` is what the test passes in. */
function typedInFixture(snippet: Snippet): string {
  return `declare function fixtureValue(scope: unknown, name: string): any;\n${inFixture(snippet)}`;
}

/** What `cdk synth` without AWS credentials needs of every README example. */
function expectSynthesizedCleanly({ manifest, messages }: ReturnType<typeof synthesize>) {
  // A context lookup (availability zones, VPC, ...) would make `cdk synth` call AWS.
  expect(manifest.missing ?? []).toEqual([]);
  expect(messages.filter((message) => message.startsWith('aws:cdk:error'))).toEqual([]);
  // Its pipelines are where the stack is: no warning about a function in another account or region.
  expect(messages.filter((message) => message.includes('Pipeline "'))).toEqual([]);
}

const { apps, snippets } = readmeBlocks();

/** Every template the examples synthesized, for the newest aws-cdk-lib's template validation at the end. */
const synthesizedTemplates: NamedTemplate[] = [];
function keepTemplates(title: string, synthesized: ReturnType<typeof synthesize>): void {
  synthesized.templates.forEach((template, index) => synthesizedTemplates.push({ title: `${title} (template ${index + 1})`, template }));
}

test('the README and docs have their TypeScript apps', () => {
  expect(DOCUMENTS).toEqual(expect.arrayContaining(['README.md', 'docs/configuration.md']));
  expect(apps.map((app) => app.title)).toEqual(['README.md: Quick start #1', 'docs/configuration.md: A complete app #1']);
});

test.each(apps.map((app) => [app.title, app] as const))('the README app in "%s" synthesizes without AWS credentials', (_title, app) => {
  const synthesized = synthesize(app.code);
  keepTemplates(app.title, synthesized);

  expectSynthesizedCleanly(synthesized);
  expect(synthesized.types).toEqual(expect.arrayContaining(['AWS::StepFunctions::StateMachine', 'AWS::Lambda::Function', 'AWS::RDS::DBInstance', 'AWS::Scheduler::Schedule']));
});

test('the README and docs have their TypeScript snippets', () => {
  expect(snippets.map((snippet) => snippet.title)).toEqual([
    'README.md: Pipelines #1',
    'README.md: Pipelines #2',
    'README.md: Long refreshes #1',
    'README.md: Alarms and freshness #1',
    'docs/configuration.md: Connecting to the database #1',
    'docs/configuration.md: Connecting to the database #2',
    'docs/configuration.md: Connecting to the database #3',
    'docs/lineage.md: Turn it on #1',
    'docs/migrating-from-terraform.md: An orchestrator in place of the module #1',
    'docs/pipelines.md: Kinds of pipeline #1',
  ]);
});

test.each(snippets.map((snippet) => [snippet.title, snippet] as const))('the README snippet in "%s" synthesizes in the fixture stack', (_title, snippet) => {
  const synthesized = synthesize(inFixture(snippet));
  keepTemplates(snippet.title, synthesized);

  expectSynthesizedCleanly(synthesized);
  expect(synthesized.templates).toHaveLength(1);
  if (/\bnew ItcOrchestrator\(/.test(snippet.code)) {
    expect(synthesized.types).toContain('AWS::StepFunctions::StateMachine');
  }
});

// A new `cdk init` app sets `@aws-cdk/core:validateAgainstDefaultRules`, which makes each finding a synth error; an
// older app on a recent aws-cdk-lib prints it as a warning. Either way an example must have none.
test('every template the README and docs examples synthesize passes the newest aws-cdk-lib\'s template validation', () => {
  expect(synthesizedTemplates.length).toBe(apps.length + snippets.length);
  expect(synthesizedTemplates.some(({ template }) => JSON.stringify(template).includes('AWS::ECS::TaskDefinition'))).toBe(true);

  expect(templateValidationFindings(synthesizedTemplates)).toEqual([]);
});

test('the template validation names a `${...}` outside Fn::Sub in a property, with the example it comes from', () => {
  const template = {
    Resources: {
      Task: {
        Type: 'AWS::ECS::TaskDefinition',
        Properties: { ContainerDefinitions: [{ Name: 'refresh', Image: 'node:22', EntryPoint: ['node', '-e', 'console.log(`${process.version}`)'] }] },
      },
    },
  };

  expect(templateValidationFindings([{ title: 'docs/example.md: Example #1', template }])).toEqual([
    expect.stringMatching(/^docs\/example\.md: Example #1: E1029 Task .*\$\{process\.version\}/),
  ]);
});

test('every TypeScript example of the README and docs type-checks against the current API', () => {
  const modules = Object.fromEntries([
    ...apps.map((app) => [app.title, app.code]),
    ...snippets.map((snippet) => [snippet.title, typedInFixture(snippet)]),
  ]);

  expect(typeErrors(modules)).toEqual([]);
});

test('the type check names an example that uses a prop the API does not have', () => {
  const snippet = {
    title: 'docs/example.md: Example #1',
    code: 'declare const vpc: ec2.IVpc;\ndeclare const instance: rds.DatabaseInstance;\ndeclare const pipelines: Pipeline[];\n\n' +
      "new ItcOrchestrator(this, 'Orchestrator', {\n  vpc,\n  pipelines,\n  database: OrchestratorDatabase.fromInstance(instance),\n  refreshMemory: 512,\n});\n",
  };

  expect(typeErrors({ [snippet.title]: typedInFixture(snippet) })).toEqual([
    expect.stringMatching(/^docs\/example\.md: Example #1, line \d+ \(refreshMemory: 512,\): .*'refreshMemory' does not exist/),
  ]);
});

test('a snippet that declares a name without a fixture value fails, naming it', () => {
  const snippet = { title: 'Example #1', code: "declare const warehouse: rds.IDatabaseInstance;\n\nnew CfnOutput(this, 'Host', { value: warehouse.dbInstanceEndpointAddress });\n" };

  expect(() => inFixture(snippet)).toThrow(/"Example #1" declares `warehouse`, which has no fixture value/);
});

test('a block no test runs fails, naming the document and the block', () => {
  expect(() => documentBlocks('docs/example.md', "## Example\n\n```typescript\nnew Stack(app, 'Example');\n```\n")).toThrow(
    /docs\/example\.md has a ```typescript block, which no test runs/,
  );
  expect(() => documentBlocks('docs/example.md', '## Example\n\n```\nnpx projen\n```\n')).toThrow(/docs\/example\.md has a ``` block/);
});

test('the blocks of a document are named after the document and their section', () => {
  const text = '## First\n\n```ts\nconst a = 1;\n```\n\n```python\na = 1\n```\n\n## Second\n\n```ts\nconst b = 2;\n```\n\n```ts fixture=app\nconst c = 3;\n```\n';

  expect(documentBlocks('docs/example.md', text)).toEqual({
    apps: [{ title: 'docs/example.md: Second #1', code: 'const c = 3;\n' }],
    snippets: [{ title: 'docs/example.md: First #1', code: 'const a = 1;\n' }, { title: 'docs/example.md: Second #1', code: 'const b = 2;\n' }],
  });
});
