/**
 * The fleet selector and query language: one syntax tree ({@link Query}) read from a query
 * string, a selector object or selector YAML; evaluated in memory or compiled to SQL.
 * See docs/query-language.md.
 */
export {
  EMPTY_QUERY,
  QUERY_BUILTIN_FIELDS,
  QUERY_FIELD_PREFIXES,
  type Query,
  type QueryBound,
  type QueryBuiltinField,
  type QueryCompareOp,
  type QueryField,
  type QueryFieldPrefix,
  type QueryPattern,
  type QueryTime,
} from './ast.ts';
export { parseQuery } from './parse-query.ts';
export { parseSelector, parseSelectorYaml } from './parse-selector.ts';
export { parseQueryField } from './parse-field.ts';
export { formatQuery, formatQueryField } from './format-query.ts';
export { checkQuery, queryFieldType, QUERY_VERSION_FACTS, type QueryFieldType } from './field-types.ts';
export { compileMatcher, matchesQuery, type QueryEvaluateOptions } from './evaluate.ts';
export { FleetIndex, type FleetIndexColumns } from './fleet-index.ts';
export { compileQuerySql, type QuerySqlOptions, type QuerySqlWhere } from './compile-sql.ts';
export { targetFieldRows, storedFieldName, targetTimes, type TargetFieldRow } from './target-fields.ts';
export { targetFieldsSql, targetFieldRowParams } from './target-fields-sql.ts';
export { buildQueryFieldCatalog, queryCatalogFromFieldNames, type QueryFieldCatalog } from './field-catalog.ts';
export { validateQuery, findUnknownFields, type QueryWarning, type UnknownQueryField } from './validate-query.ts';
export { versionKey, versionLinePrefix } from './version-key.ts';
export { instantMillis } from './time-value.ts';
export { QUERY_LIMITS } from './query-limits.ts';

