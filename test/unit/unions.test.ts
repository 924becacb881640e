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
  // The checks file's own diagnostics: the checker still reads every declaration the file uses, but leaves the
  // bodies of src/ (which the jsii compilation checks) unchecked.
  const source = program.getSourceFile(file)!;
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...program.getSyntacticDiagnostics(source),
    ...program.getSemanticDiagnostics(source),
  ];
  const problems = diagnostics.map((diagnostic) => {
    const where = diagnostic.file && diagnostic.start !== undefined
      ? `${diagnostic.file.fileName}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line + 1}: `
      : '';
    return where + ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
  });
  expect(problems).toEqual([]);
}, 60_000);
