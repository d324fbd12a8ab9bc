import { parse as parseYaml, YAMLParseError } from 'yaml';
import { allOf, type QueryField, type QueryPattern, type Query } from './ast.ts';
import { FlotillaError } from '../errors.ts';
import { matchProblem } from './field-types.ts';
import { hasWildcard, isValidGlob, unescapeGlob } from './glob.ts';
import { parseQueryField } from './parse-field.ts';
import { parseQuery } from './parse-query.ts';
import { queryLimitProblem } from './query-limits.ts';
import { closest } from './suggest.ts';

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
const WRAPPER = 'target_selector';

/**
 * Reads a selector object (parsed JSON or YAML) into a {@link Query}. All entries must hold
 * (AND); an empty selector matches every target, as in Kubernetes. Accepted entries, with or
 * without a `target_selector:` wrapper:
 *
 * - `<field>: value` or `<field>: [v1, v2]` — the field (a bare key such as `region`, or any
 *   field of the query language such as `labels.tier`, `running.app`) equals the value, or
 *   any of the values; `*` and `?` are globs.
 * - `exclude_labels: [k1, k2]` — the target carries none of these label keys.
 * - `matchLabels: {k: v}` — Kubernetes: label `k` is exactly `v`.
 * - `matchExpressions: [{key, operator, values}]` — Kubernetes: `In`, `NotIn`, `Exists`,
 *   `DoesNotExist` on label keys (exact values; `NotIn` also matches targets without the key).
 * - `query: "<query string>"` — any query, for what the short form cannot say (`<`, `or`).
 *
 * @example parseSelector({ target_selector: { region: ['us-*', 'eu-*'], tier: 'production', exclude_labels: ['frozen'] } })
 * @throws FlotillaError `QUERY_SYNTAX` (with `details.path`), `QUERY_UNKNOWN_FIELD` or `QUERY_TYPE`.
 */
export function parseSelector(selector: unknown): Query {
  let body = selector;
  let path = '';
  if (isRecord(body) && WRAPPER in body) {
    if (Object.keys(body).length !== 1) {
      throw selectorError(`${WRAPPER} must be the only key of the selector document; found ${Object.keys(body).join(', ')}`, '');
    }
    body = body[WRAPPER];
    path = WRAPPER;
  }
  if (body === null || body === undefined || body === '') {
    return allOf([]);
  }
  if (!isRecord(body)) {
    throw selectorError(`a selector is a mapping of fields to values; got ${describe(body)}`, path);
  }
  const items: Query[] = [];
  for (const [key, value] of Object.entries(body)) {
    const at = join(path, key);
    switch (key) {
      case 'matchLabels':
        items.push(...matchLabels(value, at));
        break;
      case 'matchExpressions':
        items.push(...matchExpressions(value, at));
        break;
      case 'exclude_labels':
        items.push(...excludeLabels(value, at));
        break;
      case 'query':
        if (typeof value !== 'string') {
          throw selectorError(`query is a query string such as "running.app>=4.2"; got ${describe(value)}`, at);
        }
        items.push(withPath(() => parseQuery(value), at));
        break;
      default:
        items.push(shortForm(key, value, at));
    }
  }
  const query = allOf(items);
  const tooLarge = queryLimitProblem(query);
  if (tooLarge !== undefined) {
    throw selectorError(tooLarge, path);
  }
  return query;
}

/**
 * Reads selector YAML, with or without the `target_selector:` wrapper. Scalars stay text
 * (YAML's failsafe schema), so `version: 4.10` means "4.10", not the number 4.1.
 *
 * @throws FlotillaError `QUERY_SYNTAX` with `details: { line, column }` for YAML that does not parse.
 */
export function parseSelectorYaml(text: string): Query {
  let document: unknown;
  try {
    document = parseYaml(text, { schema: 'failsafe', uniqueKeys: true });
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const position = error.linePos?.[0];
      throw new FlotillaError('QUERY_SYNTAX', `selector YAML does not parse: ${error.message.split('\n')[0] ?? error.code}`, position === undefined ? {} : { line: position.line, column: position.col });
    }
    throw error;
  }
  return parseSelector(document);
}

function shortForm(key: string, value: unknown, at: string): Query {
  const field = withPath(() => parseQueryField(key), at);
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0) {
    throw selectorError(`${key}: [] matches nothing; give at least one value`, at);
  }
  const patterns = values.map((item, index) => pattern(item, Array.isArray(value) ? `${at}[${index}]` : at));
  return typed(field, patterns, at);
}

function pattern(value: unknown, at: string): QueryPattern {
  if (typeof value === 'number' || typeof value === 'boolean') {
    return { kind: 'text', text: String(value) };
  }
  if (typeof value !== 'string') {
    throw selectorError(`expected a string, number or boolean; got ${describe(value)}`, at);
  }
  if (!isValidGlob(value)) {
    throw selectorError(`in '${value}' a backslash must escape *, ? or \\`, at);
  }
  return hasWildcard(value) ? { kind: 'glob', pattern: value } : { kind: 'text', text: unescapeGlob(value) };
}

function typed(field: QueryField, values: QueryPattern[], at: string): Query {
  const problem = matchProblem(field, values);
  if (problem !== undefined) {
    throw new FlotillaError('QUERY_TYPE', problem, { path: at });
  }
  return { kind: 'in', field, values };
}

function matchLabels(value: unknown, at: string): Query[] {
  if (!isRecord(value)) {
    throw selectorError(`matchLabels maps label keys to values; got ${describe(value)}`, at);
  }
  return Object.entries(value).map(([key, labelValue]) => {
    if (typeof labelValue !== 'string') {
      throw selectorError(`a label value is a string; got ${describe(labelValue)}`, join(at, key));
    }
    return { kind: 'in', field: { kind: 'labels', key }, values: [{ kind: 'text', text: labelValue }] };
  });
}

function matchExpressions(value: unknown, at: string): Query[] {
  if (!Array.isArray(value)) {
    throw selectorError(`matchExpressions is a list of {key, operator, values}; got ${describe(value)}`, at);
  }
  return value.map((expression: unknown, index) => {
    const here = `${at}[${index}]`;
    if (!isRecord(expression)) {
      throw selectorError(`expected {key, operator, values}; got ${describe(expression)}`, here);
    }
    const { key, operator, values } = expression;
    const unknown = Object.keys(expression).filter((name) => !['key', 'operator', 'values'].includes(name));
    if (unknown.length > 0) {
      throw selectorError(`unknown entry ${unknown.join(', ')}; an expression has key, operator and values`, here);
    }
    if (typeof key !== 'string' || key === '') {
      throw selectorError(`key is a label key; got ${describe(key)}`, `${here}.key`);
    }
    if (typeof operator !== 'string' || !(OPERATORS as readonly string[]).includes(operator)) {
      const hint = typeof operator === 'string' ? closest(operator, OPERATORS) : undefined;
      throw selectorError(`operator is one of ${OPERATORS.join(', ')}; got ${describe(operator)}${hint === undefined ? '' : `; did you mean ${hint}?`}`, `${here}.operator`);
    }
    const field: QueryField = { kind: 'labels', key };
    if (operator === 'Exists' || operator === 'DoesNotExist') {
      if (values !== undefined && !(Array.isArray(values) && values.length === 0)) {
        throw selectorError(`${operator} takes no values`, `${here}.values`);
      }
      const exists: Query = { kind: 'exists', field };
      return operator === 'Exists' ? exists : { kind: 'not', item: exists };
    }
    if (!Array.isArray(values) || values.length === 0 || values.some((item) => typeof item !== 'string')) {
      throw selectorError(`${operator} needs a non-empty list of string values; got ${describe(values)}`, `${here}.values`);
    }
    const match: Query = { kind: 'in', field, values: (values as string[]).map((text) => ({ kind: 'text', text })) };
    return operator === 'In' ? match : { kind: 'not', item: match };
  });
}

function excludeLabels(value: unknown, at: string): Query[] {
  const keys = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(keys) || keys.some((key) => typeof key !== 'string' || key === '')) {
    throw selectorError(`exclude_labels is a list of label keys; got ${describe(value)}`, at);
  }
  return (keys as string[]).map((key) => ({ kind: 'not', item: { kind: 'exists', field: { kind: 'labels', key } } }));
}

function withPath<T>(read: () => T, at: string): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof FlotillaError) {
      throw new FlotillaError(error.code, `${at}: ${error.message}`, { ...error.details, path: at });
    }
    throw error;
  }
}

function selectorError(message: string, path: string): FlotillaError {
  return new FlotillaError('QUERY_SYNTAX', path === '' ? message : `${path}: ${message}`, { path });
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) {
    return String(value);
  }
  if (Array.isArray(value)) {
    return 'a list';
  }
  return typeof value === 'object' ? 'a mapping' : `${typeof value} ${JSON.stringify(value)}`;
}
