#!/usr/bin/env node
/**
 * `itc-orchestrator-timeline [file]`: reads a refresh report (an execution's output, or the whole JSON of
 * `aws stepfunctions describe-execution`) from the file or standard input and writes its timeline as SVG to
 * standard output.
 */
import { readFileSync } from 'node:fs';
import { readReport, renderTimelineSvg } from './timeline';

const USAGE = 'usage: itc-orchestrator-timeline [report.json] > run.svg   (reads standard input without a file)';

function main(args: readonly string[]): number {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.length > 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const input = readFileSync(args[0] ?? 0, 'utf8');
    process.stdout.write(renderTimelineSvg(readReport(input)));
    return 0;
  } catch (error) {
    process.stderr.write(`itc-orchestrator-timeline: ${(error as Error).message}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
