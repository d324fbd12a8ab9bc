/**
 * The one syntax tree behind every way of choosing targets: the query string, the selector
 * object and the selector YAML all become a {@link Query}, which evaluates in memory and
 * compiles to SQL. Nodes are plain data (JSON-serialisable, structurally comparable).
 */

/** Fields the language knows by name. Anything else without a prefix is a bare key. */
export const QUERY_BUILTIN_FIELDS = [
  'id',
  'name',
  'status',
  'health',
  'phase',
  'drift',
  'lastSeen',
  'lastChanged',
  'enrolled',
] as const;
export type QueryBuiltinField = (typeof QUERY_BUILTIN_FIELDS)[number];

/** Prefixes of keyed fields, as written in a query: `labels.tier`, `running.app`. */
export const QUERY_FIELD_PREFIXES = ['labels', 'properties', 'facts', 'running', 'desired'] as const;
export type QueryFieldPrefix = (typeof QUERY_FIELD_PREFIXES)[number];

/**
 * What a condition looks at.
 * - `builtin`: a named field of the target record.
 * - `labels` / `properties`: one key of those maps.
 * - `facts`: a leaf of the agent's facts, named by its keys joined with dots.
 * - `running` / `desired`: the version of a release the target reports running / should run.
 * - `key`: a bare key: the property of that name if the target has one, else the label.
 */
export type QueryField =
  | { readonly kind: 'builtin'; readonly name: QueryBuiltinField }
  | { readonly kind: QueryFieldPrefix; readonly key: string }
  | { readonly kind: 'key'; readonly key: string };

/**
 * A value to match: exact `text`, or a `glob` pattern where `*` and `?` are wildcards and a
 * backslash escapes `*`, `?` and `\` (see glob.ts).
 */
export type QueryPattern =
  { readonly kind: 'text'; readonly text: string } | { readonly kind: 'glob'; readonly pattern: string };

/** A point in time: relative to the injected `now`, or absolute (ISO 8601 text). */
export type QueryTime =
  { readonly kind: 'relative'; readonly offsetMs: number } | { readonly kind: 'absolute'; readonly iso: string };

/**
 * The right side of an ordering comparison: a `scalar` (a number such as `3` or `2.5`, or a
 * version such as `4.2`, `v1.29.3`, `1.0.0-rc.1`), or a `time`.
 */
export type QueryBound =
  { readonly kind: 'scalar'; readonly text: string } | { readonly kind: 'time'; readonly time: QueryTime };

export type QueryCompareOp = '<' | '<=' | '>' | '>=';

/**
 * A query. `and` with no items matches every target (the empty query); `in` with one value
 * is `field=value`; `!=` and `notin` are `not` around `in`, and `!field` is `not` around
 * `exists`, which keeps the node kinds few for the evaluators and the formatter.
 */
export type Query =
  | { readonly kind: 'and'; readonly items: readonly Query[] }
  | { readonly kind: 'or'; readonly items: readonly Query[] }
  | { readonly kind: 'not'; readonly item: Query }
  | { readonly kind: 'exists'; readonly field: QueryField }
  | { readonly kind: 'in'; readonly field: QueryField; readonly values: readonly QueryPattern[] }
  | { readonly kind: 'compare'; readonly field: QueryField; readonly op: QueryCompareOp; readonly bound: QueryBound };

/** The empty query: it matches every target. */
export const EMPTY_QUERY: Query = { kind: 'and', items: [] };

/** `and` of the items, without a wrapper when there is only one. */
export function allOf(items: readonly Query[]): Query {
  return items.length === 1 ? (items[0] as Query) : { kind: 'and', items };
}
