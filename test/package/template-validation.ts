/**
 * The template validation of the newest aws-cdk-lib (CloudFormation Validate), which every `cdk synth` runs since
 * aws-cdk-lib 2.262.0: its findings are warnings, and errors in an app with `@aws-cdk/core:validateAgainstDefaultRules`
 * set, as `cdk init` sets it. It runs in a process of its own, on the newest aws-cdk-lib installed as
 * `aws-cdk-lib-validate`, so it never meets the aws-cdk-lib the construct is built against.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NamedTemplate {
  /** What the template comes from, for the findings. */
  readonly title: string;
  readonly template: unknown;
}

const VALIDATE = `
const { CloudFormationValidatePlugin } = require('aws-cdk-lib-validate');
const stackTemplates = JSON.parse(process.argv[1]);
const report = new CloudFormationValidatePlugin().validate({ stackTemplates });
process.stdout.write(JSON.stringify(report.violations));
`;

/** Each finding of the newest aws-cdk-lib's template validation, as `<title>: <rule> <resource> <description>`. */
export function templateValidationFindings(templates: NamedTemplate[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'itc-validate-'));
  try {
    const titles = new Map<string, string>();
    const stackTemplates = templates.map(({ title, template }, index) => {
      const templatePath = join(dir, `template-${index}.json`);
      writeFileSync(templatePath, JSON.stringify(template));
      titles.set(templatePath, title);
      return { stackConstructPath: `Template${index}`, templatePath, accountId: '123456789012', region: 'eu-west-1' };
    });
    const output = execFileSync(process.execPath, ['-e', VALIDATE, JSON.stringify(stackTemplates)], {
      cwd: join(__dirname, '..', '..'),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
    const violations = JSON.parse(output) as Array<{
      ruleName: string;
      description: string;
      violatingResources: Array<{ resourceLogicalId: string; templatePath: string }>;
    }>;
    return violations.flatMap((violation) => violation.violatingResources.map((resource) =>
      `${titles.get(resource.templatePath) ?? resource.templatePath}: ${violation.ruleName} ${resource.resourceLogicalId} ${violation.description}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
