import { QUERY_BUILTIN_FIELDS, type QueryField, type Query } from './ast.ts';
import { FlotillaError } from '../errors.ts';
import type { QueryFieldCatalog } from './field-catalog.ts';
import { fieldPosition } from './field-positions.ts';
import { formatQueryField } from './format-query.ts';
import { queryError } from './query-error.ts';
import { closest } from './suggest.ts';

/** A field no target in the catalog has, with the nearest known spelling if one is close. */
export interface UnknownQueryField {
  readonly field: QueryField;
  /** The field as written in the query language. */
  readonly spelling: string;
  readonly suggestion?: string;
  /**
   * Whether the condition sits under an odd number of negations (`!`, `!=`, `notin`,
   * `exclude_labels`, `DoesNotExist`): it then holds for every target, which is no typo trap.
   */
  readonly negated: boolean;
}

/**
 * A negated condition on a field no target has, whose spelling is close to one that exists:
 * probably a typo, but the query means something (every target passes it), so it is answered
 * with this warning rather than refused.
 */
export interface QueryWarning {
  readonly code: 'QUERY_UNKNOWN_FIELD';
  readonly message: string;
  readonly field: string;
  readonly suggestion: string;
  /** Where the field is in the query text, when it came from one. */
  readonly column?: number;
}

function isKnown(field: QueryField, catalog: QueryFieldCatalog): boolean {
  switch (field.kind) {
    case 'builtin':
      return true;
    case 'labels':
      return catalog.labels.has(field.key);
    case 'properties':
      return catalog.properties.has(field.key);
    case 'facts':
      return catalog.facts.has(field.key);
    case 'running':
    case 'desired':
      return catalog.releases.has(field.key);
    case 'key':
      return catalog.labels.has(field.key) || catalog.properties.has(field.key);
  }
}

function* spellings(catalog: QueryFieldCatalog): Iterable<string> {
  yield* QUERY_BUILTIN_FIELDS;
  for (const key of new Set([...catalog.properties, ...catalog.labels])) {
    yield formatQueryField({ kind: 'key', key });
  }
  for (const key of catalog.labels) {
    yield formatQueryField({ kind: 'labels', key });
  }
  for (const key of catalog.properties) {
    yield formatQueryField({ kind: 'properties', key });
  }
  for (const key of catalog.facts) {
    yield formatQueryField({ kind: 'facts', key });
  }
  for (const key of catalog.releases) {
    yield formatQueryField({ kind: 'running', key });
    yield formatQueryField({ kind: 'desired', key });
  }
}

/** Each condition's field, and whether an odd number of negations encloses it. */
function fieldsOf(query: Query, negated = false): { field: QueryField; negated: boolean }[] {
  switch (query.kind) {
    case 'and':
    case 'or':
      return query.items.flatMap((item) => fieldsOf(item, negated));
    case 'not':
      return fieldsOf(query.item, !negated);
    default:
      return [{ field: query.field, negated }];
  }
}

/** Every field of the query that no target in the catalog has, in query order. */
export function findUnknownFields(query: Query, catalog: QueryFieldCatalog): UnknownQueryField[] {
  const unknown: UnknownQueryField[] = [];
  for (const { field, negated } of fieldsOf(query)) {
    if (!isKnown(field, catalog)) {
      const spelling = formatQueryField(field);
      const suggestion = closest(spelling, spellings(catalog));
      unknown.push(suggestion === undefined ? { field, spelling, negated } : { field, spelling, suggestion, negated });
    }
  }
  return unknown;
}

function describeField(field: QueryField): string {
  switch (field.kind) {
    case 'labels':
      return `label '${field.key}'`;
    case 'properties':
      return `property '${field.key}'`;
    case 'facts':
      return `fact '${field.key}'`;
    case 'running':
    case 'desired':
      return `release '${field.key}'`;
    default:
      return `property or label '${formatQueryField(field)}'`;
  }
}

/**
 * Rejects a query whose positive conditions name a label, property, fact or release no target
 * has, so that a typo is an error rather than a silently empty result. A negated condition on
 * such a field (`!labels.frozen`, `owner notin (x)`, `exclude_labels`, `DoesNotExist`) is
 * never refused: it holds for every target, which is what the query says. When its spelling is
 * close to a field that exists, it comes back as a warning with the likely meant spelling.
 * Pass the query text to get a caret under the field (for trees that came from
 * {@link parseQuery} on that text).
 *
 * @example const warnings = validateQuery(parseQuery(text), catalog, text)
 * @returns the warnings about negated conditions on likely misspelt fields, in query order.
 * @throws FlotillaError `QUERY_UNKNOWN_FIELD` with `details: { field, suggestion?, column?, query?, caret? }`.
 */
export function validateQuery(query: Query, catalog: QueryFieldCatalog, source?: string): QueryWarning[] {
  const unknown = findUnknownFields(query, catalog);
  const first = unknown.find((field) => !field.negated);
  if (first === undefined) {
    return unknown.flatMap((field) =>
      field.suggestion === undefined ? [] : [negationWarning(field, field.suggestion, source)],
    );
  }
  const hint = first.suggestion === undefined ? '' : `; did you mean '${first.suggestion}'?`;
  const message = `no target has the ${describeField(first.field)}${hint}`;
  const extra = { field: first.spelling, ...(first.suggestion === undefined ? {} : { suggestion: first.suggestion }) };
  const index = fieldPosition(first.field);
  if (source !== undefined && index !== undefined) {
    throw queryError('QUERY_UNKNOWN_FIELD', message, { query: source, index }, extra);
  }
  throw new FlotillaError('QUERY_UNKNOWN_FIELD', message, extra);
}

function negationWarning(unknown: UnknownQueryField, suggestion: string, source: string | undefined): QueryWarning {
  const message = `no target has the ${describeField(unknown.field)}, so its negation holds for every target; did you mean '${suggestion}'?`;
  const index = fieldPosition(unknown.field);
  if (source === undefined || index === undefined) {
    return { code: 'QUERY_UNKNOWN_FIELD', message, field: unknown.spelling, suggestion };
  }
  const at = queryError('QUERY_UNKNOWN_FIELD', message, { query: source, index });
  return {
    code: 'QUERY_UNKNOWN_FIELD',
    message: at.message,
    field: unknown.spelling,
    suggestion,
    column: at.details!['column'] as number,
  };
}
