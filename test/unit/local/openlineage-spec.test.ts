import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLineageSpecFolder } from '../../../local/openlineage';

/**
 * Where the lineage tests find the pinned OpenLineage schemas: named by OPENLINEAGE_SPEC_DIR, beside the checkout, or,
 * in a fresh clone elsewhere, beside the local repository it was cloned from.
 */
describe('the OpenLineage schemas folder', () => {
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, stdio: 'ignore' });
  let root: string;
  let origin: string;

  /** `<root>/<name>/shared/openlineage-spec`, holding a core schema. */
  function specBeside(folder: string): string {
    const spec = join(folder, '..', 'shared', 'openlineage-spec');
    mkdirSync(spec, { recursive: true });
    writeFileSync(join(spec, 'OpenLineage.json'), '{}');
    return realpathSync(spec);
  }

  beforeAll(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'ol-spec-')));
    origin = join(root, 'work', 'main');
    mkdirSync(origin, { recursive: true });
    git(origin, 'init', '--quiet');
    git(origin, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '--quiet', '--allow-empty', '-m', 'first');
  });

  test('OPENLINEAGE_SPEC_DIR names the folder; one without the core schema is an error naming it', () => {
    const spec = specBeside(join(root, 'elsewhere', 'x'));
    expect(openLineageSpecFolder({ OPENLINEAGE_SPEC_DIR: spec }, origin)).toBe(spec);
    expect(() => openLineageSpecFolder({ OPENLINEAGE_SPEC_DIR: join(root, 'nothing') }, origin))
      .toThrow(`OPENLINEAGE_SPEC_DIR=${join(root, 'nothing')} holds no OpenLineage.json`);
  });

  test('a fresh clone in another folder finds the folder beside its origin, and fails naming where it looked without it', () => {
    const clone = join(realpathSync(mkdtempSync(join(tmpdir(), 'ol-clone-'))), 'p');
    git(root, 'clone', '--quiet', origin, clone);
    expect(() => openLineageSpecFolder({}, clone)).toThrow(
      `The pinned OpenLineage JSON Schemas were not found: looked in ${join(clone, '..', 'shared', 'openlineage-spec')}, `
      + `${join(root, 'work', 'shared', 'openlineage-spec')}; set OPENLINEAGE_SPEC_DIR to their folder`);
    const spec = specBeside(origin);
    expect(openLineageSpecFolder({}, clone)).toBe(spec);
  });

  test('a checkout finds the folder beside itself, a linked worktree beside its main checkout', () => {
    const spec = specBeside(origin);
    expect(openLineageSpecFolder({}, origin)).toBe(spec);
    const worktree = join(root, 'work', 'wt', 'feature');
    git(origin, 'worktree', 'add', '--quiet', '-b', 'feature', worktree);
    expect(openLineageSpecFolder({}, worktree)).toBe(spec);
  });

  test('a clone with no origin on a local path says so', () => {
    const lone = join(root, 'lone', 'p');
    mkdirSync(lone, { recursive: true });
    git(lone, 'init', '--quiet');
    expect(() => openLineageSpecFolder({}, lone)).toThrow(/the clone has no origin remote on a local path/);
  });
});
