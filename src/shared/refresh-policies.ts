/*
 * Public choices of how views are refreshed. The handler reads them from its environment, so this
 * module stays free of aws-cdk-lib imports.
 */

/** When a refresh may use `REFRESH MATERIALIZED VIEW CONCURRENTLY`. */
export enum ConcurrentRefresh {
  /**
   * Use CONCURRENTLY when PostgreSQL allows it: the view is populated and has a unique index on
   * plain columns with no WHERE clause. Readers are never locked out of such views.
   */
  AUTO = 'auto',
  /** Always use CONCURRENTLY. A view that does not qualify fails, and the others go on. */
  ALWAYS = 'always',
  /** Never use CONCURRENTLY: a plain REFRESH, which locks readers out while it runs. */
  NEVER = 'never',
}

/**
 * What a refresh run does when another refresh run of the same views (the same database and selection) is
 * going. Refresh runs of other views are never held up; a view two refresh runs share is refreshed by one at a time.
 */
export enum OverlapPolicy {
  /**
   * Wait for the other refresh run to finish, then refresh. A refresh run still waiting when
   * `runLockWaitTimeout` elapses ends as skipped.
   */
  WAIT = 'wait',
  /** End at once as skipped. */
  SKIP = 'skip',
}

/**
 * A dependency between materialized views that the PostgreSQL catalog does not record, such as a view
 * that reads another through a function with a string body (`AS $$ ... $$`) or through a foreign table.
 */
export interface ViewDependency {
  /** The materialized view that reads the others, schema-qualified where needed (`reporting.summary`). */
  readonly view: string;

  /** The materialized views it reads; when selected in the same refresh run, they are refreshed first. */
  readonly dependsOn: string[];
}
