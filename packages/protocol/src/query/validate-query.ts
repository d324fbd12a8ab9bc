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

function fieldsOf(query: Query): QueryField[] {
  switch (query.kind) {
    case 'and':
    case 'or':
      return query.items.flatMap(fieldsOf);
    case 'not':
      return fieldsOf(query.item);
    default:
      return [query.field];
  }
}

/** Every field of the query that no target in the catalog has, in query order. */
export function findUnknownFields(query: Query, catalog: QueryFieldCatalog): UnknownQueryField[] {
  const unknown: UnknownQueryField[] = [];
  for (const field of fieldsOf(query)) {
    if (!isKnown(field, catalog)) {
      const spelling = formatQueryField(field);
      const suggestion = closest(spelling, spellings(catalog));
      unknown.push(suggestion === undefined ? { field, spelling } : { field, spelling, suggestion });
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
 * Rejects a query that names a label, property, fact or release no target has, so that a
 * typo is an error rather than a silently empty result. Pass the query text to get a caret
 * under the field (for trees that came from {@link parseQuery} on that text).
 *
 * @example validateQuery(parseQuery(text), catalog, text)
 * @throws FlotillaError `QUERY_UNKNOWN_FIELD` with `details: { field, suggestion?, column?, query?, caret? }`.
 */
export function validateQuery(query: Query, catalog: QueryFieldCatalog, source?: string): void {
  const [first] = findUnknownFields(query, catalog);
  if (first === undefined) {
    return;
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
