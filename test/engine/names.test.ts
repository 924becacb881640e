import { createTestDatabase } from './support/database';
import { invoke, localModeEnv, logLines } from './support/refresh';
import { runSql } from '../../local/pg';
import { reportViewName } from '../../src/private/freshness-alarms';
import { NON_UNRESERVED_KEYWORDS } from '../../src/shared/keywords';
import { formatRelationName } from '../../src/shared/names';

/** Names `format('%I')` treats differently: keywords, case, spaces, quotes, digits first, non-ASCII, `$`. */
const TRICKY_NAMES = [
  'daily_totals', '_private', 'x1', 'order', 'Order', 'ORDER', 'user', 'select', 'table', 'group', 'abort', 'between',
  'left', 'authorization', 'Sales Hub', 'Daily Totals', 'UPPER', 'camelCase', 'say "hi"', '"', '""', "it's", 'a.b',
  ' leading', 'trailing ', 'tab\there', '2024_totals', '1', 'mv$1', '$', '$x', 'Äpfel', 'äpfel', 'ß', '日本語',
  'emoji 😀', 'ｆｕｌｌｗｉｄｔｈ', 'x'.repeat(63), 'select;drop',
];

describe('names as PostgreSQL formats them', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase('names');
  });

  test('the keywords quoted in names are the server\'s keywords that are not unreserved', async () => {
    const rows = await runSql<{ word: string }>(database, "SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode <> 'U' ORDER BY word");
    expect([...NON_UNRESERVED_KEYWORDS].sort()).toEqual(rows.map((row) => row.word));
  });

  test('every name, and every keyword of the server, is formatted as format(\'%I.%I\') formats it', async () => {
    const keywords = await runSql<{ word: string }>(database, 'SELECT word FROM pg_catalog.pg_get_keywords()');
    const names = [...TRICKY_NAMES, ...keywords.map((row) => row.word)];
    const pairs = names.flatMap((name) => [['reporting', name], [name, 'daily'], [name, name]]);

    const rows = await runSql<{ formatted: string }>(database,
      `SELECT format('%I.%I', schema, name) AS formatted
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS pair(schema, name, ord)
        ORDER BY ord`,
      [pairs.map(([schema]) => schema), pairs.map(([, name]) => name)]);

    expect(pairs.map(([schema, name]) => formatRelationName(schema, name))).toEqual(rows.map((row) => row.formatted));
  });

  test('the handler reports and measures each view under the name the construct watches', async () => {
    await runSql(database, `
      CREATE SCHEMA reporting;
      CREATE SCHEMA "Sales Hub";
      CREATE SCHEMA "user";
      CREATE MATERIALIZED VIEW reporting."order" AS SELECT 1 AS id;
      CREATE MATERIALIZED VIEW reporting.daily AS SELECT 1 AS id;
      CREATE MATERIALIZED VIEW "Sales Hub"."Daily Totals" AS SELECT 1 AS id;
      CREATE MATERIALIZED VIEW "user"."select" AS SELECT 1 AS id;
    `);
    // As a user writes them in freshness.views or metricViewRefreshed.
    const written = ['reporting.order', 'Reporting.Daily', '"Sales Hub"."Daily Totals"', 'User.Select'];

    process.env.AWS_LAMBDA_FUNCTION_NAME = 'names-refresh';
    const { report, error, output } = await invoke({ views: written }, localModeEnv(database)).finally(() => {
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    });

    expect(error).toBeUndefined();
    const watched = written.map((view) => reportViewName(view, 'freshness.views')).sort();
    expect(report!.views.map((view) => view.view).sort()).toEqual(watched);
    const measured = logLines(output).filter((line) => 'ViewRefreshed' in line).map((line) => line.View);
    expect(measured.sort()).toEqual(watched);
  });
});
