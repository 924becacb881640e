import { join } from 'node:path';
import * as ts from 'typescript';

test('the union classes cannot be subclassed or stood in for by plain objects, and removed props do not compile', () => {
  const file = join(__dirname, 'compile-checks', 'unions.ts');
  const config = ts.getParsedCommandLineOfConfigFile(join(__dirname, '..', 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  })!;
  const program = ts.createProgram([file], { ...config.options, noEmit: true, isolatedModules: false, skipLibCheck: true });
  const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const where = diagnostic.file && diagnostic.start !== undefined
      ? `${diagnostic.file.fileName}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line + 1}: `
      : '';
    return where + ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
  });
  expect(problems).toEqual([]);
}, 60_000);
