/** How a pipeline reports the tables it changed, as its branch reads it. */
export type ChangedTablesReport =
  | { readonly kind: 'fixed'; readonly tables: string[] }
  /** `path` is a JSONPath of plain field names into the pipeline's result. */
  | { readonly kind: 'result'; readonly path: string }
  | { readonly kind: 'unknown' };
