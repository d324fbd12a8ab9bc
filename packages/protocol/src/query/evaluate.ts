import type { QueryCompareOp, Query } from './ast.ts';
import type { Target } from '../documents/target.ts';
import { globMatcher } from '../lib/glob.ts';
import { nowMillis, planQuery, selectivityRank, type Plan, type RowTest } from './plan-query.ts';
import { fieldReader, typedValue, type FieldValue } from './target-fields.ts';

/** What evaluation needs besides the query: the time `now-30d` is relative to. */
export interface QueryEvaluateOptions {
  readonly now: Date | number;
}

type Matcher = (target: Target) => boolean;

export function compare<T extends number | string>(op: QueryCompareOp, left: T, right: T): boolean {
  switch (op) {
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '>':
      return left > right;
    case '>=':
      return left >= right;
  }
}

/**
 * A test on one value, reading only what it needs: text tests never parse versions or
 * times. What it reads is what {@link typedValue} (and so `target_fields`) holds.
 */
export function valueMatcher(test: RowTest): (value: FieldValue) => boolean {
  switch (test.kind) {
    case 'any':
      return () => true;
    case 'text':
      return (value) => textOf(value) === test.text;
    case 'glob': {
      const matches = globMatcher(test.pattern);
      return (value) => matches(textOf(value));
    }
    case 'version':
      return (value) => typedValue(value).version === test.key;
    case 'version-line':
      return (value) => typedValue(value).version?.startsWith(test.prefix) === true;
    case 'number':
      return (value) => typeof value === 'number' && compare(test.op, value, test.value);
    case 'version-order':
      return (value) => {
        const version = typedValue(value).version;
        return version !== null && compare(test.op, version, test.key);
      };
    case 'time':
      return (value) => {
        const time = typedValue(value).time;
        return time !== null && compare(test.op, time, test.value);
      };
  }
}

function textOf(value: FieldValue): string {
  return typeof value === 'string' ? value : String(value);
}

/** Same numbers as `targetTimes`, which the hub stores in the time columns of `targets`. */
function timeOf(target: Target, column: 'lastSeen' | 'lastChanged' | 'enrolled'): number | null {
  const iso =
    column === 'lastSeen' ? target.lastSeenAt : column === 'lastChanged' ? target.lastChangedAt : target.enrolledAt;
  return iso === null ? null : Date.parse(iso);
}

function build(plan: Plan): Matcher {
  switch (plan.kind) {
    case 'const':
      return () => plan.value;
    case 'and': {
      // The likeliest-selective condition first, so that most targets fail fast.
      const items = plan.items
        .map((item, index) => ({ item, index }))
        .sort((a, b) => selectivityRank(a.item) - selectivityRank(b.item) || a.index - b.index)
        .map(({ item }) => build(item));
      return (target) => items.every((item) => item(target));
    }
    case 'or': {
      const items = plan.items.map(build);
      return (target) => items.some((item) => item(target));
    }
    case 'not': {
      const item = build(plan.item);
      return (target) => !item(target);
    }
    case 'rows': {
      const read = fieldReader(plan.field);
      const tests = plan.tests.map(valueMatcher);
      const test =
        tests.length === 1
          ? (tests[0] as (value: FieldValue) => boolean)
          : (value: FieldValue) => tests.some((t) => t(value));
      return (target) => read(target, test);
    }
    case 'text-column': {
      const tests = plan.tests.map(valueMatcher);
      return (target) => tests.some((test) => test(target[plan.column]));
    }
    case 'time-column':
      return (target) => {
        const time = timeOf(target, plan.column);
        return time !== null && compare(plan.op, time, plan.value);
      };
    case 'time-column-exists':
      return (target) => timeOf(target, plan.column) !== null;
  }
}

/**
 * Compiles a query into a predicate over targets, for evaluating it against many targets in
 * memory. Relative times are fixed at `options.now`.
 *
 * @example fleet.filter(compileMatcher(parseQuery('region in (eu-*), running.app>=4.2'), { now: clock.now() }))
 * @throws FlotillaError `QUERY_TYPE` for an ill-typed condition in a hand-built tree.
 */
export function compileMatcher(query: Query, options: QueryEvaluateOptions): Matcher {
  return build(planQuery(query, nowMillis(options.now)));
}

/** Whether one target matches a query at `options.now`. */
export function matchesQuery(query: Query, target: Target, options: QueryEvaluateOptions): boolean {
  return compileMatcher(query, options)(target);
}
