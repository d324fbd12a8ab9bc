import type { QueryBound, QueryCompareOp, QueryField, QueryPattern, Query } from './ast.ts';
import { FlotillaError } from '../errors.ts';
import { compareProblem, queryFieldType, isNumberText, matchProblem } from './field-types.ts';
import { queryLimitProblem } from './query-limits.ts';
import { storedFieldName } from './target-fields.ts';
import { literalPrefix } from './glob.ts';
import { instantMillis } from './time-value.ts';
import { versionKey, versionLinePrefix } from './version-key.ts';

/**
 * A test on one row of `target_fields`. A condition on a stored field holds when some row of
 * that field passes some of its tests.
 */
export type RowTest =
  | { readonly kind: 'any' }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'glob'; readonly pattern: string }
  | { readonly kind: 'version'; readonly key: string }
  | { readonly kind: 'version-line'; readonly prefix: string }
  | { readonly kind: 'number'; readonly op: QueryCompareOp; readonly value: number }
  | { readonly kind: 'version-order'; readonly op: QueryCompareOp; readonly key: string }
  | { readonly kind: 'time'; readonly op: QueryCompareOp; readonly value: number };

export type TextColumn = 'id' | 'name' | 'status';
export type TimeColumn = 'lastSeen' | 'lastChanged' | 'enrolled';

/**
 * A query with its meaning fixed: literals turned into the keys, numbers and instants the
 * stored columns hold, relative times resolved against `now`. The SQL compiler and the
 * in-memory evaluator both interpret this plan and nothing else, which is what keeps them in
 * agreement.
 */
export type Plan =
  | { readonly kind: 'const'; readonly value: boolean }
  | { readonly kind: 'and' | 'or'; readonly items: readonly Plan[] }
  | { readonly kind: 'not'; readonly item: Plan }
  | { readonly kind: 'rows'; readonly field: string; readonly tests: readonly RowTest[] }
  | {
      readonly kind: 'text-column';
      readonly column: TextColumn;
      readonly tests: readonly (RowTest & { kind: 'text' | 'glob' })[];
    }
  | { readonly kind: 'time-column'; readonly column: TimeColumn; readonly op: QueryCompareOp; readonly value: number }
  | { readonly kind: 'time-column-exists'; readonly column: TimeColumn };

/** Resolves `now` given as a Date or epoch milliseconds. */
export function nowMillis(now: Date | number): number {
  const millis = typeof now === 'number' ? now : now.getTime();
  if (!Number.isFinite(millis)) {
    throw new TypeError(`now must be a valid Date or epoch milliseconds; got ${String(now)}`);
  }
  return millis;
}

/**
 * Plans a query for evaluation at `now` (epoch milliseconds).
 *
 * @throws FlotillaError `QUERY_SYNTAX` for a hand-built tree beyond `QUERY_LIMITS`,
 *   `QUERY_TYPE` for an ill-typed condition.
 */
export function planQuery(query: Query, now: number): Plan {
  const tooLarge = queryLimitProblem(query);
  if (tooLarge !== undefined) {
    throw new FlotillaError('QUERY_SYNTAX', tooLarge);
  }
  return plan(query, now);
}

function plan(query: Query, now: number): Plan {
  switch (query.kind) {
    case 'and':
    case 'or':
      return { kind: query.kind, items: query.items.map((item) => plan(item, now)) };
    case 'not':
      return { kind: 'not', item: plan(query.item, now) };
    case 'exists':
      return planExists(query.field);
    case 'in':
      return planMatch(query.field, query.values);
    case 'compare':
      return planCompare(query.field, query.op, query.bound, now);
  }
}

function planExists(field: QueryField): Plan {
  const stored = storedFieldName(field);
  if (stored !== undefined) {
    return { kind: 'rows', field: stored, tests: [{ kind: 'any' }] };
  }
  if (field.kind === 'builtin' && field.name === 'lastSeen') {
    return { kind: 'time-column-exists', column: 'lastSeen' };
  }
  // id, name, status, enrolled and lastChanged are always present.
  return { kind: 'const', value: true };
}

function typeError(problem: string, field: QueryField): FlotillaError {
  return new FlotillaError('QUERY_TYPE', problem, {
    field: storedFieldName(field) ?? (field.kind === 'builtin' ? field.name : field.key),
  });
}

function planMatch(field: QueryField, values: readonly QueryPattern[]): Plan {
  const problem = matchProblem(field, values);
  if (problem !== undefined) {
    throw typeError(problem, field);
  }
  const versioned = queryFieldType(field) === 'version';
  const tests: RowTest[] = [];
  for (const value of values) {
    if (value.kind === 'glob') {
      tests.push({ kind: 'glob', pattern: value.pattern });
      continue;
    }
    const prefix = versioned ? versionLinePrefix(value.text) : null;
    const key = versioned ? versionKey(value.text) : null;
    // A value stored with this very text has this very version key, so the version test
    // alone also covers text equality: one test, one index range, no OR in the SQL.
    if (prefix !== null) {
      tests.push({ kind: 'version-line', prefix });
    } else if (key !== null) {
      tests.push({ kind: 'version', key });
    } else {
      tests.push({ kind: 'text', text: value.text });
    }
  }
  const stored = storedFieldName(field);
  if (stored !== undefined) {
    return { kind: 'rows', field: stored, tests };
  }
  const column = (field as { name: TextColumn }).name;
  return { kind: 'text-column', column, tests: tests as (RowTest & { kind: 'text' | 'glob' })[] };
}

function planCompare(field: QueryField, op: QueryCompareOp, bound: QueryBound, now: number): Plan {
  const problem = compareProblem(field, op, bound);
  if (problem !== undefined) {
    throw typeError(problem, field);
  }
  if (bound.kind === 'time') {
    const value =
      bound.time.kind === 'relative' ? now + bound.time.offsetMs : (instantMillis(bound.time.iso) as number);
    if (field.kind === 'builtin') {
      return { kind: 'time-column', column: field.name as TimeColumn, op, value };
    }
    return { kind: 'rows', field: storedFieldName(field) as string, tests: [{ kind: 'time', op, value }] };
  }
  const tests: RowTest[] = [];
  if (queryFieldType(field) === 'dynamic' && isNumberText(bound.text)) {
    tests.push({ kind: 'number', op, value: Number(bound.text) });
  }
  const key = versionKey(bound.text);
  if (key !== null) {
    tests.push({ kind: 'version-order', op, key });
  }
  return { kind: 'rows', field: storedFieldName(field) as string, tests };
}

function testRank(test: RowTest): number {
  switch (test.kind) {
    case 'text':
    case 'version':
      return 0;
    case 'glob':
      return literalPrefix(test.pattern) === '' ? 4 : 1;
    case 'version-line':
      return 2;
    case 'number':
    case 'version-order':
    case 'time':
      return 3;
    case 'any':
      return 4;
  }
}

/**
 * A guess at how few targets a plan selects, as a rank (lower is fewer): exact values,
 * then globs with a literal prefix and version lines (index ranges), then orderings, then
 * whole-field scans and compound conditions. Both evaluators put the lowest rank first
 * among conditions that must all hold: SQL drives its join from it, memory tests it first.
 * Without statistics this is the best guess there is, and a wrong guess costs a constant
 * factor, never a scan per candidate.
 */
export function selectivityRank(plan: Plan): number {
  switch (plan.kind) {
    case 'const':
      return -1;
    case 'text-column':
      return plan.tests.every((test) => test.kind === 'text') ? 0 : 1;
    case 'rows':
      // Several alternatives are as selective as their broadest one, and a little worse.
      return Math.max(...plan.tests.map(testRank)) + (plan.tests.length > 1 ? 0.5 : 0);
    case 'time-column':
    case 'time-column-exists':
      return 3;
    default:
      return 5;
  }
}
