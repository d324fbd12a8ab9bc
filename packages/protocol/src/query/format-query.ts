import {
  QUERY_BUILTIN_FIELDS,
  QUERY_FIELD_PREFIXES,
  type QueryBound,
  type QueryField,
  type QueryPattern,
  type Query,
} from './ast.ts';
import { escapeGlob } from './glob.ts';
import { isWordChar, KEYWORDS } from './lexer.ts';
import { formatRelative } from './time-value.ts';

const RESERVED_BARE: ReadonlySet<string> = new Set<string>([...QUERY_BUILTIN_FIELDS, ...QUERY_FIELD_PREFIXES]);

function isBareWord(text: string): boolean {
  return text !== '' && Array.from(text).every(isWordChar) && !KEYWORDS.has(text.toLowerCase());
}

function quote(source: string): string {
  return `"${source.replace(/"/g, '\\"')}"`;
}

/** A field key after its prefix: bare when it lexes back as itself, else quoted. */
function formatKey(key: string): string {
  return isBareWord(key) && !/[*?]/.test(key) ? key : quote(key.replace(/\\/g, '\\\\'));
}

/** Writes a field so that {@link parseQuery} reads it back as the same field. */
export function formatQueryField(field: QueryField): string {
  switch (field.kind) {
    case 'builtin':
      return field.name;
    case 'key':
      return isBareWord(field.key) && !/[*?.]/.test(field.key) && !RESERVED_BARE.has(field.key)
        ? field.key
        : quote(field.key.replace(/\\/g, '\\\\'));
    default:
      return `${field.kind}.${formatKey(field.key)}`;
  }
}

function formatPattern(value: QueryPattern): string {
  const pattern = value.kind === 'glob' ? value.pattern : escapeGlob(value.text);
  return isBareWord(pattern) ? pattern : quote(pattern);
}

function formatBound(bound: QueryBound): string {
  if (bound.kind === 'scalar') {
    return bound.text;
  }
  return bound.time.kind === 'relative' ? formatRelative(bound.time.offsetMs) : bound.time.iso;
}

type Place = 'top' | 'clause' | 'operand';

/**
 * Writes a query in its canonical one-line form, the inverse of {@link parseQuery}:
 * `parseQuery(formatQuery(q))` equals `q` for every well-formed tree. Nested groups get
 * parentheses; `!=`, `notin` and `!field` are used where they say the same as `not`.
 *
 * @example formatQuery(parseQuery('region in (eu-*) , owner = atlas')) === 'region in (eu-*), owner=atlas'
 * @throws TypeError for an empty `and` below the top or an empty `or`, which have no spelling.
 */
export function formatQuery(query: Query): string {
  return format(query, 'top');
}

function format(query: Query, place: Place): string {
  switch (query.kind) {
    case 'and': {
      if (query.items.length === 0) {
        if (place !== 'top') {
          throw new TypeError('an empty and (match everything) can only be the whole query');
        }
        return '';
      }
      const text = query.items.map((item) => format(item, 'clause')).join(', ');
      return place === 'top' ? text : `(${text})`;
    }
    case 'or': {
      if (query.items.length === 0) {
        throw new TypeError('an empty or (match nothing) has no spelling in the query language');
      }
      const text = query.items.map((item) => format(item, 'operand')).join(' or ');
      return place === 'operand' ? `(${text})` : text;
    }
    case 'not': {
      const item = query.item;
      if (item.kind === 'exists') {
        return `!${formatQueryField(item.field)}`;
      }
      if (item.kind === 'in' && item.values.length === 1) {
        return `${formatQueryField(item.field)}!=${formatPattern(item.values[0] as QueryPattern)}`;
      }
      if (item.kind === 'in') {
        return `${formatQueryField(item.field)} notin (${item.values.map(formatPattern).join(', ')})`;
      }
      return `not ${format(item, 'operand')}`;
    }
    case 'exists':
      return formatQueryField(query.field);
    case 'in':
      return query.values.length === 1
        ? `${formatQueryField(query.field)}=${formatPattern(query.values[0] as QueryPattern)}`
        : `${formatQueryField(query.field)} in (${query.values.map(formatPattern).join(', ')})`;
    case 'compare':
      return `${formatQueryField(query.field)}${query.op}${formatBound(query.bound)}`;
  }
}
