import { createTestDatabase } from './support/database';
import { runSql } from '../../local/pg';

test('the shared PostgreSQL serves isolated databases', async () => {
  const a = await createTestDatabase('a');
  const b = await createTestDatabase('b');
  await runSql(a, 'CREATE TABLE t (id int)');
  const inB = await runSql(b, "SELECT count(*)::int AS n FROM pg_class WHERE relname = 't'");
  expect(inB[0].n).toBe(0);
  const version = await runSql<{ server_version_num: string }>(a, 'SHOW server_version_num');
  expect(Number(version[0].server_version_num)).toBeGreaterThanOrEqual(140000);
});
