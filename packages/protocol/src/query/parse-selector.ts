import { parseDocument, type YAMLError } from 'yaml';
import { allOf, type QueryCompareOp, type QueryField, type QueryPattern, type Query } from './ast.ts';
import { FlotillaError } from '../errors.ts';
import { compareProblem, matchProblem } from './field-types.ts';
import { formatQueryField } from './format-query.ts';
import { hasWildcard, isValidGlob, unescapeGlob } from './glob.ts';
import { parseQueryField } from './parse-field.ts';
import { parseQuery } from './parse-query.ts';
import { queryLimitProblem } from './query-limits.ts';
import { isBoundProblem, readBound } from './read-bound.ts';
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
      throw selectorError(
        `${WRAPPER} must be the only key of the selector document; found ${Object.keys(body).join(', ')}`,
        '',
      );
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
      case 'labels':
      case 'properties':
        items.push(...keyedEntries(key, value, at));
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
  const document = parseDocument(text, { schema: 'failsafe', uniqueKeys: true, logLevel: 'silent' });
  const [error] = document.errors;
  if (error !== undefined) {
    throw new FlotillaError(
      'QUERY_SYNTAX',
      `selector YAML does not parse: ${error.message.split('\n')[0] ?? error.code}`,
      yamlPosition(error),
    );
  }
  // An unquoted `!=atlas` is a YAML tag on an empty value: refused, not read as the empty text.
  const tag = document.warnings.find((warning) => warning.code === 'TAG_RESOLVE_FAILED');
  if (tag !== undefined) {
    const source = text.slice(tag.pos[0], tag.pos[1]);
    throw new FlotillaError(
      'QUERY_SYNTAX',
      `selector YAML: '${source}' is read by YAML as a tag; quote the value: "${source}"`,
      yamlPosition(tag),
    );
  }
  return parseSelector(document.toJS());
}

function yamlPosition(problem: YAMLError): { line?: number; column?: number } {
  const position = problem.linePos?.[0];
  return position === undefined ? {} : { line: position.line, column: position.col };
}

function shortForm(key: string, value: unknown, at: string): Query {
  return shortFormCondition(
    withPath(() => parseQueryField(key), at),
    value,
    at,
  );
}

/**
 * `labels: {k: v}` or `properties: {k: v}`: short-form entries whose keys are label or
 * property keys, spelled exactly, so that a selector can say which kind of field it means.
 */
function keyedEntries(kind: 'labels' | 'properties', value: unknown, at: string): Query[] {
  if (!isRecord(value)) {
    throw selectorError(
      `${kind} maps ${kind === 'labels' ? 'label' : 'property'} keys to values, as in ${kind}: {tier: gold}; got ${describe(value)}`,
      at,
    );
  }
  return Object.entries(value).map(([key, item]) => {
    if (key === '') {
      throw selectorError(`a ${kind === 'labels' ? 'label' : 'property'} key cannot be empty`, join(at, key));
    }
    return shortFormCondition({ kind, key }, item, join(at, key));
  });
}

/** An operator at the start of a short-form value, and the blanks after it. */
const VALUE_OPERATOR = /^(<=|>=|!=|<|>|=)\s*/;

/**
 * A short-form entry: the field equals the value, or any of the values. A string value may
 * start with an operator: `>=1.28`, `<now-15m` order as in the query language, `!=x` excludes
 * and `=x` is plain equality (for a value that itself starts with an operator character).
 * Several values are alternatives: plain ones form one `in`, each ordering is or-ed to it.
 */
function shortFormCondition(field: QueryField, value: unknown, at: string): Query {
  const list = Array.isArray(value);
  const values: unknown[] = list ? value : [value];
  if (values.length === 0) {
    throw selectorError(`${formatQueryField(field)}: [] matches nothing; give at least one value`, at);
  }
  const plain: QueryPattern[] = [];
  const orderings: Query[] = [];
  values.forEach((item, index) => {
    const here = list ? `${at}[${index}]` : at;
    const operator = typeof item === 'string' ? VALUE_OPERATOR.exec(item) : null;
    if (typeof item !== 'string' || operator === null) {
      if (typeof item === 'string' && item.startsWith('!')) {
        throw selectorError(
          `'${item}' starts with '!', which negates nothing in a value; did you mean '!=${item.slice(1)}'? (write '=${item}' for the text itself)`,
          here,
        );
      }
      plain.push(pattern(item, here));
      return;
    }
    const op = operator[1] as '<=' | '>=' | '!=' | '<' | '>' | '=';
    const rest = item.slice(operator[0].length);
    if (op === '=') {
      plain.push(pattern(rest, here));
    } else if (op === '!=') {
      if (values.length > 1) {
        const excluded = values.map((v) => (typeof v === 'string' ? v.replace(VALUE_OPERATOR, '') : String(v)));
        throw selectorError(
          `'${item}' in a list of alternatives: a target passes when any one holds, so exclusions here select nearly everything; write query: ${formatQueryField(field)} notin (${excluded.join(', ')})`,
          here,
        );
      }
      orderings.push({ kind: 'not', item: typed(field, [pattern(rest, here)], here) });
    } else {
      orderings.push(ordering(field, op, rest, here));
    }
  });
  const items = [...(plain.length === 0 ? [] : [typed(field, plain, at)]), ...orderings];
  return items.length === 1 ? (items[0] as Query) : { kind: 'or', items };
}

function ordering(field: QueryField, op: QueryCompareOp, text: string, at: string): Query {
  if (/^\d+[smhdw]$/.test(text)) {
    throw selectorError(
      `'${op}${text}' is not a time: for ${formatQueryField(field)} within the last ${text} write '>now-${text}'; for more than ${text} ago write '<now-${text}'`,
      at,
    );
  }
  if (hasWildcard(text)) {
    throw new FlotillaError(
      'QUERY_TYPE',
      `${at}: wildcards do not work with ${op}; use a plain value or a list for globs`,
      { path: at },
    );
  }
  const bound = readBound(text);
  if (isBoundProblem(bound)) {
    throw new FlotillaError(bound.code, `${at}: ${bound.message}`, { path: at });
  }
  const problem = compareProblem(field, op, bound);
  if (problem !== undefined) {
    throw new FlotillaError('QUERY_TYPE', `${at}: ${problem}`, { path: at });
  }
  return { kind: 'compare', field, op, bound };
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
      throw selectorError(
        `operator is one of ${OPERATORS.join(', ')}; got ${describe(operator)}${hint === undefined ? '' : `; did you mean ${hint}?`}`,
        `${here}.operator`,
      );
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
      throw selectorError(
        `${operator} needs a non-empty list of string values; got ${describe(values)}`,
        `${here}.values`,
      );
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
