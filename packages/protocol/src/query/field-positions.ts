import type { QueryField } from './ast.ts';

/**
 * Where each field of a parsed query was written, kept beside the tree rather than in it so
 * that trees stay plain data (equal trees compare equal whatever their source). Used to put
 * a caret under an unknown field found after parsing, by {@link validateQuery}.
 */
const positions = new WeakMap<QueryField, number>();

export function rememberFieldPosition(field: QueryField, index: number): void {
  positions.set(field, index);
}

/** The UTF-16 index of the field in the query it was parsed from, if known. */
export function fieldPosition(field: QueryField): number | undefined {
  return positions.get(field);
}
