import { MIN_DAG_VIEWS } from './dag-schema';

export const SECTIONS = ['wall-time', 'readers', 'handler', 'overhead', 'scale', 'changed-tables', 'detected-changes'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  /** Smaller data and fewer repetitions, for development. Results go to bench/.work/. */
  readonly quick: boolean;
  /** Views in the main wall-time DAG. */
  readonly views: number;
  readonly sections: readonly Section[];
  readonly help: boolean;
}

export const USAGE = `Usage: npx projen bench [options]
       ts-node --transpile-only --project bench/tsconfig.json bench/bench.ts [options]

  --quick            smaller data, fewer runs, for development
  --views N          views in the main wall-time DAG (default 24, at least ${MIN_DAG_VIEWS}, at most 400)
  --sections LIST    comma-separated subset of: ${SECTIONS.join(', ')} (default: all)
  --help             this text

A full run of every section replaces bench/results.json and bench/results.md;
quick and partial runs write bench/.work/results-partial.json and .md instead.`;

/** Parses the command line; throws an error naming the bad option and value. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  let quick = false;
  let help = false;
  let views = 24;
  let sections: Section[] = [...SECTIONS];

  for (let i = 0; i < argv.length; i++) {
    const [flag, inlineValue] = argv[i].split(/=(.*)/s, 2);
    const value = (): string => {
      const next = inlineValue ?? argv[++i];
      if (next === undefined || next === '') {
        throw new Error(`${flag} needs a value`);
      }
      return next;
    };
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      case '--views': {
        const raw = value();
        views = Number(raw);
        if (!/^\d+$/.test(raw) || views < MIN_DAG_VIEWS || views > 400) {
          throw new Error(`--views must be a whole number from ${MIN_DAG_VIEWS} to 400, got "${raw}"`);
        }
        break;
      }
      case '--sections': {
        const raw = value();
        const names = raw.split(',').map((name) => name.trim());
        const unknown = names.filter((name) => !(SECTIONS as readonly string[]).includes(name));
        if (unknown.length > 0) {
          throw new Error(`--sections: unknown section "${unknown.join('", "')}"; choose from ${SECTIONS.join(', ')}`);
        }
        sections = SECTIONS.filter((section) => names.includes(section));
        break;
      }
      default:
        throw new Error(`Unknown option "${argv[i]}"\n${USAGE}`);
    }
  }
  return { quick, views, sections, help };
}
