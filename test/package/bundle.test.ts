import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import * as ts from 'typescript';
import { REFRESH_BUNDLE } from '../../local/lambda';
import { RDS_SIGNER_FILE } from '../../src/shared/contract';

/**
 * The modules a bundle loads: the names of its `require("…")` and `import("…")` calls, read from its syntax tree,
 * so text that only looks like a call (an error message quoting one) does not count. A call whose name is not a
 * string literal counts as `<computed>`: nobody can tell what it loads.
 */
function loadedModules(code: string): string[] {
  const source = ts.createSourceFile('bundle.js', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const names = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)
      && ((ts.isIdentifier(node.expression) && node.expression.text === 'require') || node.expression.kind === ts.SyntaxKind.ImportKeyword)) {
      const [name] = node.arguments;
      names.add(name && ts.isStringLiteralLike(name) ? name.text : '<computed>');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...names].sort();
}

/** The code without its string and template literals (a template's substitutions stay). */
function withoutStringLiterals(code: string): string {
  const source = ts.createSourceFile('bundle.js', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const literals: Array<[number, number]> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) {
      literals.push([node.getStart(source), node.end]);
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  let rest = '';
  let from = 0;
  for (const [start, end] of literals.sort(([a], [b]) => a - b)) {
    rest += code.slice(from, start);
    from = end;
  }
  return rest + code.slice(from);
}

/** The asset the construct deploys, as `npx projen bundle` builds it from `src/engine/refresh.lambda.ts`. */
describe('the refresh handler bundle', () => {
  const code = readFileSync(REFRESH_BUNDLE, 'utf8');

  test('is under 250 KB', () => {
    expect(Buffer.byteLength(code)).toBeLessThan(250 * 1000);
  });

  test('contains its libraries and leaves only AWS SDK clients and pg-native to the runtime, and the RDS signer to the file beside it', () => {
    // The Secrets Manager and DataZone (lineage) clients ship with the Lambda Node.js runtime and its image, which the
    // refresh task runs on; the RDS signer, a library, ships in the asset.
    expect(loadedModules(code).filter((name) => !isBuiltin(name)))
      .toEqual([`./${RDS_SIGNER_FILE}`, '@aws-sdk/client-datazone', '@aws-sdk/client-secrets-manager', 'pg-native']);
  });

  test('is minified', () => {
    // Minifying keeps the line breaks inside string and template literals (the engine's SQL), so only the code
    // between them is measured.
    const outside = withoutStringLiterals(code);
    expect(outside.length / outside.split('\n').length).toBeGreaterThan(1_000);
  });
});

/** The RDS signer beside the handler, which IAM database authentication loads. */
describe('the RDS signer file', () => {
  const code = readFileSync(join(dirname(REFRESH_BUNDLE), RDS_SIGNER_FILE), 'utf8');

  test('loads only Node.js built-ins: the signer and its libraries (credential providers included) are all in it', () => {
    const loaded = loadedModules(code);
    expect(loaded.length).toBeGreaterThan(0);
    expect(loaded.filter((name) => !isBuiltin(name))).toEqual([]);
  });

  test('exports the Signer class', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const signer = require(join(dirname(REFRESH_BUNDLE), RDS_SIGNER_FILE)) as { Signer?: unknown };
    expect(typeof signer.Signer).toBe('function');
    expect(String(signer.Signer)).toMatch(/getAuthToken/);
  });

  test('is minified', () => {
    const lines = code.split('\n').length;
    expect(code.length / lines).toBeGreaterThan(1_000);
  });
});
