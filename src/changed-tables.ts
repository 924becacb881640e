import { Token } from 'aws-cdk-lib';
import type { ChangedTablesReport } from './private/changed-tables-report';

/** A plain JSONPath into the result: `$` then `.field` steps, so it can be appended to the branch's own path. */
const RESULT_PATH_PATTERN = /^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/;

/**
 * Which tables a pipeline changes, read by the refresh when `refresh.onlyChangedTables` is on: a fixed list,
 * a list at a path in the pipeline's result, or unknown (every view is refreshed and the report names the pipeline).
 *
 * @example
 * ChangedTables.of(['sales.orders']);          // a Glue job that always writes sales.orders
 * ChangedTables.fromResult('$.changedTables'); // a function's payload or a nested workflow's output
 * ChangedTables.unknown();                     // a full refresh whenever this pipeline ran
 */
export class ChangedTables {
  /**
   * The pipeline always changes these tables, and only these.
   *
   * @param tables schema-qualified table names, e.g. `sales.orders`; an empty list says it changes nothing
   */
  public static of(tables: string[]): ChangedTables {
    for (const table of tables) {
      if (Token.isUnresolved(table) || typeof table !== 'string' || table.trim() === '' || /["'{}\\]/.test(table)) {
        throw new Error(`\`ChangedTables.of\` takes literal table names without quotes, braces or backslashes, got ${JSON.stringify(table)}`);
      }
    }
    return new ChangedTables({ kind: 'fixed', tables: [...tables] });
  }

  /**
   * The pipeline's result names the tables it changed as a list at this path: in a Lambda function's payload,
   * a nested workflow's output, or a task's output. A result without a list there makes every view refresh,
   * and the report names the pipeline.
   *
   * @param path a JSONPath of plain field names, e.g. `$.changedTables`
   */
  public static fromResult(path: string): ChangedTables {
    if (Token.isUnresolved(path) || !RESULT_PATH_PATTERN.test(path)) {
      throw new Error(`\`ChangedTables.fromResult\` takes a JSONPath of plain field names such as "$.changedTables", got ${JSON.stringify(path)}`);
    }
    return new ChangedTables({ kind: 'result', path });
  }

  /** The pipeline does not say what it changed: with change selection on, every view is refreshed. */
  public static unknown(): ChangedTables {
    return new ChangedTables({ kind: 'unknown' });
  }

  private constructor(
    /** @internal */
    public readonly _report: ChangedTablesReport,
  ) {}
}
