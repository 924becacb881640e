import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from './support/database';
import { runSql } from '../../local/pg';
import { startPostgres } from '../../local/postgres';

test('the shared PostgreSQL serves isolated databases', async () => {
  const a = await createTestDatabase('a');
  const b = await createTestDatabase('b');
  await runSql(a, 'CREATE TABLE t (id int)');
  const inB = await runSql(b, "SELECT count(*)::int AS n FROM pg_class WHERE relname = 't'");
  expect(inB[0].n).toBe(0);
  const version = await runSql<{ server_version_num: string }>(a, 'SHOW server_version_num');
  expect(Number(version[0].server_version_num)).toBeGreaterThanOrEqual(140000);
});

test('as root, a temporary folder the server user cannot enter fails the start at once, saying what to do', async () => {
  // Open itself, but inside a folder only its owner can enter, as a temporary folder in /root would be.
  const closed = mkdtempSync(join(tmpdir(), 'itc-closed-'));
  const inside = join(closed, 'tmp');
  mkdirSync(inside);
  chmodSync(inside, 0o777);
  const started = await startPostgres({ directory: inside }).then(
    (server) => ({ server, error: undefined }),
    (error: Error) => ({ server: undefined, error }),
  );
  try {
    if (process.getuid?.() === 0) {
      // Which folder it names first depends on where the clone lies: a clone in a closed folder cannot lend
      // the server its binaries either, so the copy meant for the closed temporary folder is named instead.
      expect(started.error?.message).toMatch(
        /runs as the user postgres, which (cannot reach its data directory|can reach neither the binaries) .*Set TMPDIR to a folder every user can enter/,
      );
    } else {
      // Not root: the server runs as this user, who can enter the folder.
      expect(started.error).toBeUndefined();
    }
  } finally {
    await started.server?.stop();
  }
  expect(readdirSync(inside)).toEqual([]);
  rmSync(closed, { recursive: true, force: true });
});
