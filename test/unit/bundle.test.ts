import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { REFRESH_BUNDLE } from '../../local/lambda';

/** The asset the construct deploys, as `npx projen bundle` builds it from `src/refresh.lambda.ts`. */
describe('the refresh handler bundle', () => {
  const code = readFileSync(REFRESH_BUNDLE, 'utf8');

  test('is under 250 KB', () => {
    expect(Buffer.byteLength(code)).toBeLessThan(250 * 1000);
  });

  test('contains its libraries and leaves only the AWS SDK and pg-native to the runtime', () => {
    const required = [...new Set([...code.matchAll(/\brequire\("([^"]+)"\)/g)].map((match) => match[1]))];
    // The Secrets Manager client and the RDS signer (IAM authentication) ship with the Lambda Node.js runtime.
    expect(required.filter((name) => !isBuiltin(name)).sort()).toEqual(['@aws-sdk/client-secrets-manager', '@aws-sdk/rds-signer', 'pg-native']);
  });

  test('is minified', () => {
    const lines = code.split('\n').length;
    expect(code.length / lines).toBeGreaterThan(1_000);
  });
});
