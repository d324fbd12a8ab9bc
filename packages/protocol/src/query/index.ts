/**
 * `@flotilla/protocol/query`: the fleet selector and query language (docs/query-language.md).
 * One syntax tree ({@link Query}) read from a query string, a selector object or selector
 * YAML, checked against the fields a fleet has, written back in canonical form, and evaluated
 * in memory. The hub's SQL compiler and in-memory index build on the plan and the field rows
 * exported here, so every evaluation of a query reads it the same way.
 */
export { QUERY_BUILTIN_FIELDS, QUERY_FIELD_PREFIXES, type Query, type QueryCompareOp, type QueryField } from './ast.ts';
export { parseQueryField } from './parse-field.ts';
export { parseQuery } from './parse-query.ts';
export { parseSelector, parseSelectorYaml } from './parse-selector.ts';
export { formatQuery } from './format-query.ts';
export { compare, compileMatcher, valueMatcher } from './evaluate.ts';
export {
  DESIRED_FIELD_PREFIX,
  desiredFieldRows,
  storedFieldName,
  driftFieldRows,
  isReportedField,
  reportedFieldRows,
  sameReportedFields,
  targetFieldRows,
  targetTimes,
  type FieldValue,
  type ReportedFields,
  type TargetFieldRow,
} from './target-fields.ts';
export { buildQueryFieldCatalog, queryCatalogFromFieldNames } from './field-catalog.ts';
export { validateQuery, type QueryWarning } from './validate-query.ts';
export {
  nowMillis,
  planQuery,
  selectivityRank,
  type Plan,
  type RowTest,
  type TextColumn,
  type TimeColumn,
} from './plan-query.ts';
export { literalPrefix } from './glob.ts';
export { globSteps } from '../lib/glob.ts';
