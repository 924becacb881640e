/**
 * The npm package as `npm pack` makes it from a clean clone with no earlier step: the compiled code and the refresh
 * handler's bundle are part of it even when nothing has compiled or bundled yet, because synthesizing a stack needs
 * both; `npx projen package:js` packs from a clean clone too; and once packed and unpacked, every require its code
 * makes resolves where it is installed.
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

/** A clean clone: the files git tracks (or would track), nothing built, and the installed dependencies. */
function cleanClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'itc-pack-'));
  const tracked = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of tracked) {
    if (!existsSync(join(ROOT, file))) continue;
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(dir, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

let clone: string;

beforeAll(() => {
  clone = cleanClone();
});

afterAll(() => {
  rmSync(clone, { recursive: true, force: true });
});

test('npm pack in a clean clone compiles, and bundles the refresh handler and its RDS signer into the package', () => {
  expect(existsSync(join(clone, BUNDLE))).toBe(false);
  expect(existsSync(join(clone, SIGNER))).toBe(false);
  expect(existsSync(join(clone, 'lib'))).toBe(false);
  expect(existsSync(join(clone, '.jsii'))).toBe(false);

  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: clone, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
  ) as Array<{ files: Array<{ path: string; size: number }> }>;

  const bundle = packed[0].files.find((file) => file.path === BUNDLE);
  expect(bundle).toBeDefined();
  expect(bundle!.size).toBeGreaterThan(10_000);
  const signer = packed[0].files.find((file) => file.path === SIGNER);
  expect(signer).toBeDefined();
  expect(signer!.size).toBeGreaterThan(10_000);
  const paths = packed[0].files.map((file) => file.path);
  expect(paths).toEqual(expect.arrayContaining(['.jsii', 'lib/index.js', 'lib/index.d.ts', 'lib/orchestrator.js']));
});

test('npx projen package:js in a clean clone compiles, bundles and packs the package into dist/js', () => {
  const other = cleanClone();
  try {
    execFileSync('npx', ['projen', 'package:js'], { cwd: other, stdio: ['ignore', 'pipe', 'pipe'] });
    const tarballs = readdirSync(join(other, 'dist', 'js')).filter((file) => file.endsWith('.tgz'));
    expect(tarballs).toHaveLength(1);
    const listed = execFileSync('tar', ['-tzf', join(other, 'dist', 'js', tarballs[0])], { encoding: 'utf8' }).split('\n');
    expect(listed).toEqual(expect.arrayContaining(['package/.jsii', 'package/lib/index.js', `package/${BUNDLE}`, `package/${SIGNER}`]));
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

/** Every file under `dir`, by its path relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'));
}

describe('the packed tarball, compiled and packed from a clean clone', () => {
  let files: Map<string, string>;
  let manifest: PackageManifest & { bin?: Record<string, string> };
  let root: string;

  beforeAll(() => {
    // No compile step: the pack compiles (the first test packed this clone already).
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', clone], { cwd: clone, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    ) as Array<{ filename: string }>;
    const unpacked = join(clone, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', join(clone, packed[0].filename), '-C', unpacked]);
    root = join(unpacked, 'package');
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

  test('ships the run timeline as the itc-orchestrator-timeline command, which draws a report read from standard input', () => {
    expect(manifest.bin).toEqual({ 'itc-orchestrator-timeline': 'lib/timeline/cli.js' });
    expect(files.get('lib/timeline/cli.js')).toMatch(/^#!\/usr\/bin\/env node\n/);
    const view = { view: 'sales.daily', status: 'refreshed', concurrently: true, startedAt: '2026-03-01T05:30:00.100Z', durationMs: 700, attempts: 1 };
    const totals = { selected: 1, refreshed: 1, failed: 0, skipped: 0 };
    const run = { status: 'succeeded', lock: 'acquired', concurrency: 2, startedAt: '2026-03-01T05:30:00.000Z', durationMs: 900, planningMs: 10 };
    const report = { ...run, views: [view], viewsOmitted: 0, totals, selection: { basis: 'configured' } };
    const svg = execFileSync(process.execPath, [join(root, 'lib', 'timeline', 'cli.js')], { input: JSON.stringify({ output: JSON.stringify(report) }), encoding: 'utf8' });
    expect(svg).toMatch(/^<\?xml[^]*<rect class="bar refreshed critical" data-view="sales.daily" data-status="refreshed" data-start-ms="100" data-duration-ms="700"/);
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
