import type { MaterializedView } from '../../../src/engine/catalog';

let nextOid = 1;

/** A materialized view as the catalog describes it: populated, with a usable unique index, unless told otherwise. */
export function materializedView(name: string, dependsOn: MaterializedView[] = [], overrides: Partial<MaterializedView> = {}): MaterializedView {
  return {
    oid: nextOid++,
    schema: 'mart',
    name,
    qualifiedName: `mart.${name}`,
    populated: true,
    hasUsableUniqueIndex: true,
    invalidUniqueIndexes: [],
    dependsOn: dependsOn.map((dependency) => dependency.oid),
    ...overrides,
  };
}
