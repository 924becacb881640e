/**
 * The npm package as `npm pack` makes it from a clean clone: the refresh handler's bundle is part of it even when
 * nothing has bundled it yet, because synthesizing a stack needs `assets/engine/refresh.lambda/index.js`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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
