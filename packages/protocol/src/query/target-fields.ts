import type { QueryField } from './ast.ts';
import type { ReleaseRef } from '../documents/common.ts';
import type { Target } from '../documents/target.ts';
import { instantMillis } from './time-value.ts';
import { versionKey } from './version-key.ts';

/**
 * A value as every comparison sees it. Each comparison kind reads one member: equality and
 * globs read `text`, numeric order `num`, version order `version`, time order `time`.
 */
export interface TypedValue {
  /** Strings as they are, numbers by `String(n)`, booleans as `true` / `false`. */
  readonly text: string;
  /** Numbers only. */
  readonly num: number | null;
  /** Strings that read as versions: their {@link versionKey}. */
  readonly version: string | null;
  /** Strings that read as ISO 8601 instants: epoch milliseconds ({@link instantMillis}). */
  readonly time: number | null;
}

/**
 * One row of the hub's `target_fields` table: a queryable value of a target under its stored
 * field name (`labels.K`, `properties.K`, `facts.a.b`, `running.N`, `desired.N`, `health`,
 * `phase`, `drift` (one row per drift class present), or `key.K` for the bare key K).
 */
export interface TargetFieldRow extends TypedValue {
  readonly field: string;
}

/** A leaf value of a target as stored: label and property values, fact leaves, versions. */
export type FieldValue = string | number | boolean;
type Leaf = FieldValue;

const stringValues = new Map<string, TypedValue>();
const STRING_CACHE_LIMIT = 50_000;

/**
 * The typed form of a leaf value. Fleets repeat the same strings (regions, versions) across
 * thousands of targets, so parsed strings are cached, within a bound.
 */
export function typedValue(value: Leaf): TypedValue {
  if (typeof value === 'number') {
    return { text: String(value), num: value, version: null, time: null };
  }
  if (typeof value === 'boolean') {
    return { text: String(value), num: null, version: null, time: null };
  }
  let typed = stringValues.get(value);
  if (typed === undefined) {
    typed = { text: value, num: null, version: versionKey(value), time: instantMillis(value) };
    if (stringValues.size >= STRING_CACHE_LIMIT) {
      stringValues.clear();
    }
    stringValues.set(value, typed);
  }
  return typed;
}

/**
 * Leaves of a facts document: objects contribute their keys joined with dots (so
 * `{capabilities: {"nvidia.com/gpu": 2}}` is `capabilities.nvidia.com/gpu`), arrays contribute
 * each element under the array's own path, `null` and non-finite numbers contribute nothing.
 * `path` is `null` at the root, which holds no leaves of its own.
 */
function walkFacts(path: string | null, value: unknown, emit: (path: string, value: Leaf) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) {
      walkFacts(path, item, emit);
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      walkFacts(path === null ? key : `${path}.${key}`, child, emit);
    }
  } else if (path !== null && isLeaf(value)) {
    emit(path, value);
  }
}

function isLeaf(value: unknown): value is Leaf {
  return (
    typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))
  );
}

/**
 * Whether some leaf that {@link walkFacts} would emit at path `rest` (relative to `value`)
 * passes `visit`. Rather than walking every key, it looks up only the keys the path can
 * start with: for `a.b.c`, the keys `a`, `a.b` and `a.b.c`.
 */
function someFact(value: unknown, rest: string, visit: (value: Leaf) => boolean): boolean {
  if (Array.isArray(value)) {
    return value.some((item) => someFact(item, rest, visit));
  }
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const record = value as Record<string, unknown>;
  for (let dot = rest.indexOf('.'); ; dot = rest.indexOf('.', dot + 1)) {
    const key = dot < 0 ? rest : rest.slice(0, dot);
    if (
      Object.hasOwn(record, key) &&
      (dot < 0 ? someLeaf(record[key], visit) : someFact(record[key], rest.slice(dot + 1), visit))
    ) {
      return true;
    }
    if (dot < 0) {
      return false;
    }
  }
}

/** Leaves found exactly here: the value itself, or the elements of (nested) arrays. */
function someLeaf(value: unknown, visit: (value: Leaf) => boolean): boolean {
  if (Array.isArray(value)) {
    return value.some((item) => someLeaf(item, visit));
  }
  return isLeaf(value) && visit(value);
}

/** A function telling whether some value of one stored field of a target passes `test`. */
export type FieldReader = (target: Target, test: (value: FieldValue) => boolean) => boolean;

function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * Reads one stored field straight from a target, without flattening the rest of it: what the
 * in-memory evaluator uses. It sees exactly the values {@link targetFieldRows} stores.
 */
export function fieldReader(field: string): FieldReader {
  const dot = field.indexOf('.');
  const prefix = dot < 0 ? field : field.slice(0, dot);
  const key = field.slice(dot + 1);
  const one = (value: Leaf | undefined, test: (value: FieldValue) => boolean): boolean =>
    value !== undefined && test(value);
  switch (prefix) {
    case 'labels':
      return (target, test) => one(own(target.labels, key), test);
    case 'properties':
      return (target, test) => one(own(target.properties, key), test);
    case 'key':
      return (target, test) => one(own(target.properties, key) ?? own(target.labels, key), test);
    case 'facts':
      return (target, test) => someFact(target.facts, key, test);
    case 'running':
      return (target, test) =>
        (target.observed?.bundles ?? []).some((bundle) => bundle.name === key && test(bundle.version));
    case 'desired':
      return (target, test) => target.desired.bundles.some((bundle) => bundle.name === key && test(bundle.version));
    case 'health':
      return (target, test) => one(target.observed?.health, test);
    case 'phase':
      return (target, test) => one(target.observed?.phase, test);
    case 'drift':
      return (target, test) => driftClasses(target).some(test);
    default:
      throw new TypeError(`'${field}' is not a stored field name`);
  }
}

const DRIFT_CLASSES = ['acceptable', 'transient', 'suspicious', 'dangerous'] as const;

/** The drift classes a target's latest drift report holds at least one item of. */
function driftClasses(target: Pick<Target, 'drift'>): string[] {
  const counts = target.drift?.counts;
  return counts === undefined ? [] : DRIFT_CLASSES.filter((name) => counts[name] > 0);
}

/**
 * The `drift` rows of {@link targetFieldRows} alone, from the target's drift summary: what a
 * store rewrites when only the summary changed, without flattening the whole target.
 */
export function driftFieldRows(drift: Target['drift']): TargetFieldRow[] {
  return driftClasses({ drift }).map((name) => ({ field: 'drift', ...typedValue(name) }));
}

/**
 * Flattens a target into the rows of `target_fields`. The hub calls it whenever it writes a
 * target and replaces that target's rows with the result (see `targetFieldsSql`).
 *
 * The builtins `id`, `name`, `status`, `lastSeen`, `lastChanged` and `enrolled` are not here:
 * they are columns of `targets` ({@link targetTimes} gives the time columns). A bare key K
 * gets rows of its own, `key.K`, holding the property K when the target has one and
 * otherwise the label K, so that a bare key is one indexed lookup.
 *
 * Rows are unique by (field, text): values with the same text at the same field (a repeated
 * kubelet version, or the number 1 and the string "1" under one fact path) share a row that
 * carries each typed column any of them has. A condition tests one column per comparison,
 * so the merged row matches exactly when one of the values would.
 */
export function targetFieldRows(target: Target): TargetFieldRow[] {
  return collectRows((add) => {
    for (const [key, value] of Object.entries(target.labels)) {
      add(`labels.${key}`, value);
    }
    for (const [key, value] of Object.entries(target.properties)) {
      add(`properties.${key}`, value);
    }
    for (const key of new Set([...Object.keys(target.properties), ...Object.keys(target.labels)])) {
      const value = own(target.properties, key) ?? own(target.labels, key);
      if (value !== undefined) {
        add(`key.${key}`, value);
      }
    }
    addReported(add, target.observed, target.facts);
    addDesired(add, target.desired.bundles);
    for (const name of driftClasses(target)) {
      add('drift', name);
    }
  });
}

/** A target's observed state with its facts as JSON text, as a store holds them. */
export interface ReportedFields {
  readonly observed: Target['observed'];
  readonly factsJson: string;
}

/**
 * Whether {@link targetFieldRows} gives the same rows after a target's observed state and facts
 * went from `before` to `after`, all else equal. A report feeds only the `facts.*`,
 * `running.*`, `health` and `phase` rows: its seq, times and resources none. Facts are compared
 * as JSON text, so the same facts with keys in another order count as changed, a needless
 * rewrite and never a missed one. A hub skips the index when a report repeats the last one.
 */
export function sameReportedFields(before: ReportedFields, after: ReportedFields): boolean {
  const a = before.observed;
  const b = after.observed;
  if (a === null || b === null) return a === b && before.factsJson === after.factsJson;
  return (
    before.factsJson === after.factsJson &&
    a.health === b.health &&
    a.phase === b.phase &&
    a.bundles.length === b.bundles.length &&
    a.bundles.every((bundle, i) => bundle.name === b.bundles[i]!.name && bundle.version === b.bundles[i]!.version)
  );
}

/** The field names {@link desiredFieldRows} writes start with this, and no other field does. */
export const DESIRED_FIELD_PREFIX = 'desired.';

/**
 * The rows of `target_fields` that come from a target's desired releases alone: what a change
 * of desired state rewrites, leaving the target's other rows as they are.
 */
export function desiredFieldRows(bundles: readonly ReleaseRef[]): TargetFieldRow[] {
  return collectRows((add) => addDesired(add, bundles));
}

/**
 * The rows of {@link targetFieldRows} that come from what a target reports, its observed state
 * and facts: `facts.*`, `running.*`, `health` and `phase` ({@link isReportedField}). What a
 * store rewrites when a report changed them, leaving the target's other rows as they are.
 */
export function reportedFieldRows(observed: Target['observed'], facts: Target['facts']): TargetFieldRow[] {
  return collectRows((add) => addReported(add, observed, facts));
}

/** Whether {@link reportedFieldRows} writes rows under this field name. */
export function isReportedField(field: string): boolean {
  return field.startsWith('facts.') || field.startsWith('running.') || field === 'health' || field === 'phase';
}

type AddRow = (field: string, value: Leaf) => void;

function addReported(add: AddRow, observed: Target['observed'], facts: Target['facts']): void {
  walkFacts(null, facts, (path, value) => add(`facts.${path}`, value));
  if (observed !== null) {
    for (const bundle of observed.bundles) {
      add(`running.${bundle.name}`, bundle.version);
    }
    add('health', observed.health);
    add('phase', observed.phase);
  }
}

function addDesired(add: AddRow, bundles: readonly ReleaseRef[]): void {
  for (const bundle of bundles) {
    add(`${DESIRED_FIELD_PREFIX}${bundle.name}`, bundle.version);
  }
}

function collectRows(fill: (add: AddRow) => void): TargetFieldRow[] {
  const rows = new Map<string, TargetFieldRow>();
  const add: AddRow = (field, value) => {
    const typed = typedValue(value);
    const identity = `${field}\u0000${typed.text}`;
    const existing = rows.get(identity);
    rows.set(
      identity,
      existing === undefined
        ? { field, ...typed }
        : {
            field,
            text: typed.text,
            num: existing.num ?? typed.num,
            version: existing.version ?? typed.version,
            time: existing.time ?? typed.time,
          },
    );
  };
  fill(add);
  return [...rows.values()];
}

/**
 * The stored field name of a field kept in `target_fields`, or `undefined` for the builtins
 * kept as columns of `targets`. Facets use it: `WHERE field = storedFieldName(...)`.
 *
 * @example storedFieldName({ kind: 'key', key: 'region' }) === 'key.region'
 */
export function storedFieldName(field: QueryField): string | undefined {
  if (field.kind === 'builtin') {
    return field.name === 'health' || field.name === 'phase' || field.name === 'drift' ? field.name : undefined;
  }
  return `${field.kind}.${field.key}`;
}

/**
 * The epoch milliseconds the hub stores in `targets.enrolled_at`, `last_seen_at` and
 * `last_changed_at`; the in-memory evaluator compares the same numbers.
 */
export function targetTimes(target: Target): { enrolledAt: number; lastSeenAt: number | null; lastChangedAt: number } {
  return {
    enrolledAt: Date.parse(target.enrolledAt),
    lastSeenAt: target.lastSeenAt === null ? null : Date.parse(target.lastSeenAt),
    lastChangedAt: Date.parse(target.lastChangedAt),
  };
}
