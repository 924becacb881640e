import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { ClientConfig } from 'pg';
import { createTestDatabase } from './support/database';
import { SLOW_FUNCTION_SQL, invoke, loggedReport, refreshingBackend } from './support/refresh';
import { runSql } from '../../local/pg';
import { RefreshEnv } from '../../src/shared/contract';

process.env.AWS_REGION = 'eu-west-1';

const secretsManager = mockClient(SecretsManagerClient);

/**
 * The password rotates while a run is going: the refreshes that start afterwards open new connections, which
 * the server rejects with 28P01 until the secret is read again.
 */
describe('password rotation mid-run', () => {
  let db: ClientConfig;
  const role = `rotated_${randomBytes(3).toString('hex')}`;
  const [oldPassword, newPassword] = [1, 2].map((n) => `Rot${n}-${randomBytes(6).toString('hex')}`);
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rotated-AbCdEf';
  const secret = (password: string) => JSON.stringify({ host: db.host, port: db.port, dbname: db.database, username: role, password });
  const reads = () => secretsManager.commandCalls(GetSecretValueCommand, { SecretId: arn }).length;

  beforeAll(async () => {
    db = await createTestDatabase('refresh_rotation');
    await runSql(db, `
      CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${oldPassword}';
      ${SLOW_FUNCTION_SQL}
      CREATE TABLE facts (id int PRIMARY KEY);
      INSERT INTO facts VALUES (1);
      CREATE MATERIALIZED VIEW root AS SELECT f.id FROM facts f CROSS JOIN (SELECT pause('root')) p;
      CREATE MATERIALIZED VIEW child_1 AS SELECT count(*)::int AS n FROM root;
      CREATE MATERIALIZED VIEW child_2 AS SELECT count(*)::int AS n FROM root;
      CREATE MATERIALIZED VIEW child_3 AS SELECT count(*)::int AS n FROM root;
      INSERT INTO knobs (tag, seconds) VALUES ('root', 1);
    `);
  });

  afterAll(async () => {
    await runSql(db, `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  });

  test('the refreshes after the rotation read the secret once more and every view is refreshed', async () => {
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: secret(oldPassword) });
    const env = { [RefreshEnv.SECRET_ARN]: arn, [RefreshEnv.TLS_MODE]: 'disable', [RefreshEnv.CONCURRENCY]: '4' };
    const run = invoke({ views: ['root', 'child_1', 'child_2', 'child_3'] }, env);

    // While root refreshes on the run's only pool connection, the password rotates in the database and the secret.
    await refreshingBackend(db, 'root', 2_000);
    await runSql(db, `ALTER ROLE ${role} PASSWORD '${newPassword}'`);
    secretsManager.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: secret(newPassword) });
    const { error, output } = await run;

    expect(error).toBeUndefined();
    expect(loggedReport(output).totals).toEqual({ selected: 4, refreshed: 4, failed: 0, skipped: 0 });
    // Read at the start, then once after the first rejected connection, however many were rejected.
    expect(reads()).toBe(2);
    expect(output).not.toContain(oldPassword);
    expect(output).not.toContain(newPassword);
  });
});
