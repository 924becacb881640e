/**
 * The npm package as `npm pack` makes it from a clean clone: the refresh handler's bundle is part of it even when
 * nothing has bundled it yet, because synthesizing a stack needs `assets/engine/refresh.lambda/index.js`; and once
 * compiled, packed and unpacked, every require its code makes resolves where it is installed.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { PackageManifest, unresolvedRequires } from './shipped-requires';

const ROOT = join(__dirname, '..', '..');
const BUNDLE = 'assets/engine/refresh.lambda/index.js';
/** The RDS signer beside the bundle, which IAM authentication loads. */
const SIGNER = 'assets/engine/refresh.lambda/rds-signer.js';

let clone: string;

beforeAll(() => {
  // A clean clone: the files git tracks (or would track), nothing built, and the installed dependencies.
  clone = mkdtempSync(join(tmpdir(), 'itc-pack-'));
  const tracked = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of tracked) {
    if (!existsSync(join(ROOT, file))) continue;
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(clone, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
});

afterAll(() => {
  rmSync(clone, { recursive: true, force: true });
});

test('npm pack in a clean clone bundles the refresh handler and its RDS signer into the package', () => {
  expect(existsSync(join(clone, BUNDLE))).toBe(false);
  expect(existsSync(join(clone, SIGNER))).toBe(false);

  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: clone, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
  ) as Array<{ files: Array<{ path: string; size: number }> }>;

  const bundle = packed[0].files.find((file) => file.path === BUNDLE);
  expect(bundle).toBeDefined();
  expect(bundle!.size).toBeGreaterThan(10_000);
  const signer = packed[0].files.find((file) => file.path === SIGNER);
  expect(signer).toBeDefined();
  expect(signer!.size).toBeGreaterThan(10_000);
});

/** Every file under `dir`, by its path relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'));
}

describe('the packed tarball, compiled and packed from a clean clone', () => {
  let files: Map<string, string>;
  let manifest: PackageManifest;

  beforeAll(() => {
    execFileSync('npx', ['jsii', '--silence-warnings=reserved-word'], { cwd: clone, stdio: ['ignore', 'pipe', 'pipe'] });
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', clone], { cwd: clone, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    ) as Array<{ filename: string }>;
    const unpacked = join(clone, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', join(clone, packed[0].filename), '-C', unpacked]);
    const root = join(unpacked, 'package');
    files = new Map(filesUnder(root).map((file) => [file, file.endsWith('.js') ? readFileSync(join(root, file), 'utf8') : '']));
    manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageManifest;
  });

  test('leaves out the run-time code, which runs from its bundles', () => {
    const shipped = [...files.keys()];
    expect(shipped).toContain('lib/index.js');
    expect(shipped.filter((file) => file.startsWith('lib/engine/') || file.startsWith('lib/task-bootstrap/'))).toEqual([]);
  });

  test('every require in lib/ names a file in the package, a Node.js built-in or a declared dependency', () => {
    expect(Object.keys(manifest.peerDependencies ?? {})).toEqual(expect.arrayContaining(['aws-cdk-lib', 'constructs']));
    expect([...files.keys()].filter((file) => file.startsWith('lib/') && file.endsWith('.js')).length).toBeGreaterThan(10);
    expect(unresolvedRequires(files, manifest)).toEqual([]);
  });
});

describe('unresolvedRequires', () => {
  const manifest: PackageManifest = { dependencies: { yaml: '^2' }, peerDependencies: { 'aws-cdk-lib': '^2', 'constructs': '^10' } };

  test('accepts the package\'s own files, Node.js built-ins, dependencies and peer dependencies, with subpaths', () => {
    const files = new Map([
      ['lib/index.js', 'const a = require("./private/a"); const fs = require("fs"); const path = require("node:path");'],
      ['lib/private/a.js', 'require("../shared"); require("./data.json"); require(\'aws-cdk-lib/aws-ec2\'); require("constructs"); require("yaml");'],
      ['lib/shared/index.js', ''],
      ['lib/private/data.json', ''],
    ]);
    expect(unresolvedRequires(files, manifest)).toEqual([]);
  });

  test('names each require that would fail once installed: a file left out, outside the package, or an undeclared package', () => {
    const files = new Map([
      ['lib/index.js', 'require("./orchestrator"); require("./engine/run");'],
      ['lib/orchestrator.js', 'require("../../src/shared/names"); require("pg"); require("@aws-sdk/client-sfn"); require("/opt/nodejs/x");'],
      // Not under lib/: never loaded by the construct, so not checked.
      ['assets/engine/refresh.lambda/index.js', 'require("pg");'],
    ]);
    expect(unresolvedRequires(files, manifest)).toEqual([
      'lib/index.js: require(\'./engine/run\') names no file in the package (lib/engine/run)',
      'lib/orchestrator.js: require(\'../../src/shared/names\') points outside the package',
      'lib/orchestrator.js: require(\'pg\') loads pg, which is neither a Node.js built-in nor a dependency or peer dependency',
      'lib/orchestrator.js: require(\'@aws-sdk/client-sfn\') loads @aws-sdk/client-sfn, which is neither a Node.js built-in nor a dependency or peer dependency',
      'lib/orchestrator.js: require(\'/opt/nodejs/x\') is an absolute path',
    ]);
  });
});
