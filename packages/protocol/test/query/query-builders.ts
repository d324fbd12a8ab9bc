/** Short constructors for expected trees in table-driven tests. */
import type { Query, QueryBound, QueryCompareOp, QueryField, QueryPattern } from '../../src/query/ast.ts';

export const key = (k: string): QueryField => ({ kind: 'key', key: k });
export const label = (k: string): QueryField => ({ kind: 'labels', key: k });
export const property = (k: string): QueryField => ({ kind: 'properties', key: k });
export const fact = (k: string): QueryField => ({ kind: 'facts', key: k });
export const running = (k: string): QueryField => ({ kind: 'running', key: k });
export const desired = (k: string): QueryField => ({ kind: 'desired', key: k });
export const builtin = (
  name: 'id' | 'name' | 'status' | 'health' | 'phase' | 'drift' | 'lastSeen' | 'lastChanged' | 'enrolled',
): QueryField => ({ kind: 'builtin', name });

export const text = (t: string): QueryPattern => ({ kind: 'text', text: t });
export const glob = (pattern: string): QueryPattern => ({ kind: 'glob', pattern });
const pattern = (value: string | QueryPattern): QueryPattern => (typeof value === 'string' ? text(value) : value);

export const eq = (field: QueryField, value: string | QueryPattern): Query => ({
  kind: 'in',
  field,
  values: [pattern(value)],
});
export const oneOf = (field: QueryField, ...values: (string | QueryPattern)[]): Query => ({
  kind: 'in',
  field,
  values: values.map(pattern),
});
export const exists = (field: QueryField): Query => ({ kind: 'exists', field });
export const not = (item: Query): Query => ({ kind: 'not', item });
export const and = (...items: Query[]): Query => ({ kind: 'and', items });
export const or = (...items: Query[]): Query => ({ kind: 'or', items });

export const scalar = (t: string): QueryBound => ({ kind: 'scalar', text: t });
export const ago = (ms: number): QueryBound => ({
  kind: 'time',
  time: { kind: 'relative', offsetMs: ms === 0 ? 0 : -ms },
});
export const at = (iso: string): QueryBound => ({ kind: 'time', time: { kind: 'absolute', iso } });
export const cmp = (field: QueryField, op: QueryCompareOp, bound: QueryBound | string): Query => ({
  kind: 'compare',
  field,
  op,
  bound: typeof bound === 'string' ? scalar(bound) : bound,
});

export const DAY = 86_400_000;
export const HOUR = 3_600_000;
