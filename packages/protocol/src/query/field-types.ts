import type { QueryBound, QueryCompareOp, QueryField, QueryPattern } from './ast.ts';
import { TargetStatus } from '../documents/target.ts';
import { Health, ReportPhase } from '../documents/report.ts';
import { DriftClass } from '../documents/drift-policy.ts';
import { isValidGlob } from './glob.ts';
import { instantMillis, looksLikeDate } from './time-value.ts';
import { versionKey } from './version-key.ts';

/**
 * How a field compares.
 * - `text`: exact text and globs only (`id`, `name`).
 * - `enum`: like text, but a plain value must be one of the allowed ones (`status`, `health`,
 *   `phase`, `drift`).
 * - `time`: ordering against times only (`lastSeen`, `lastChanged`, `enrolled`).
 * - `version`: equality is version-aware (`running.app=4.2` is the 4.2 line), ordering is by version.
 * - `dynamic`: labels, properties, facts and bare keys: exact text for equality; ordering as
 *   numbers, versions or times depending on the value written.
 */
export type QueryFieldType = 'text' | 'enum' | 'time' | 'version' | 'dynamic';

/** Facts the agent reports as versions; they compare like `running.*`. */
const QUERY_VERSION_FACTS: ReadonlySet<string> = new Set(['kubernetesVersion', 'kubeletVersions', 'agentVersion']);

/** Allowed values of the enumerated builtins. */
const ENUM_VALUES: Readonly<Record<'status' | 'health' | 'phase' | 'drift', readonly string[]>> = {
  status: TargetStatus.options,
  health: Health.options,
  phase: ReportPhase.options,
  drift: DriftClass.options,
};

export function queryFieldType(field: QueryField): QueryFieldType {
  switch (field.kind) {
    case 'builtin':
      switch (field.name) {
        case 'id':
        case 'name':
          return 'text';
        case 'status':
        case 'health':
        case 'phase':
        case 'drift':
          return 'enum';
        case 'lastSeen':
        case 'lastChanged':
        case 'enrolled':
          return 'time';
      }
      break;
    case 'running':
    case 'desired':
      return 'version';
    case 'facts':
      return QUERY_VERSION_FACTS.has(field.key) ? 'version' : 'dynamic';
    case 'labels':
    case 'properties':
    case 'key':
      return 'dynamic';
  }
}

/** A number as the query language reads one: optional minus, digits, optional fraction. */
export function isNumberText(text: string): boolean {
  return /^-?\d+(?:\.\d+)?$/.test(text);
}

/** Whether a scalar bound is well formed: a number or a version, and not a date. */
function isScalarText(text: string): boolean {
  return !looksLikeDate(text) && !text.startsWith('now') && (isNumberText(text) || versionKey(text) !== null);
}

function fieldLabel(field: QueryField): string {
  return field.kind === 'builtin' ? field.name : field.kind === 'key' ? field.key : `${field.kind}.${field.key}`;
}

/** Why `field in (values)` is ill-typed, or `undefined` when it is fine. */
export function matchProblem(field: QueryField, values: readonly QueryPattern[]): string | undefined {
  if (values.length === 0) {
    return `${fieldLabel(field)} in () needs at least one value`;
  }
  const badGlob = values.find((value) => value.kind === 'glob' && !isValidGlob(value.pattern));
  if (badGlob !== undefined && badGlob.kind === 'glob') {
    return `in the pattern '${badGlob.pattern}' a backslash must escape *, ? or \\`;
  }
  const type = queryFieldType(field);
  if (type === 'time') {
    return `${fieldLabel(field)} is a time: compare it with <, <=, > or >= and a time such as now-30d or 2024-05-01`;
  }
  if (type === 'enum' && field.kind === 'builtin') {
    const allowed = ENUM_VALUES[field.name as keyof typeof ENUM_VALUES];
    const bad = values.find((value) => value.kind === 'text' && !allowed.includes(value.text));
    if (bad !== undefined && bad.kind === 'text') {
      return `${field.name} is one of ${allowed.join(', ')}; got '${bad.text}'`;
    }
  }
  return undefined;
}

/** Why `field op bound` is ill-typed, or `undefined` when it is fine. */
export function compareProblem(field: QueryField, op: QueryCompareOp, bound: QueryBound): string | undefined {
  const type = queryFieldType(field);
  const name = fieldLabel(field);
  if (type === 'text' || type === 'enum') {
    return `${name} cannot be ordered with ${op}; use =, != or in`;
  }
  if (bound.kind === 'time') {
    if (bound.time.kind === 'absolute' && instantMillis(bound.time.iso) === null) {
      return `'${bound.time.iso}' is not a valid date or date-time with a zone (e.g. 2024-05-01 or 2024-05-01T12:00:00Z)`;
    }
    if (bound.time.kind === 'relative' && !Number.isSafeInteger(bound.time.offsetMs)) {
      return `a relative time is a whole number of milliseconds; got ${bound.time.offsetMs}`;
    }
    return type === 'version' ? `${name} holds versions; compare it with a version such as 4.2, not a time` : undefined;
  }
  if (!isScalarText(bound.text)) {
    return `${op} compares with a number (3, 2.5), a version (4.2, v1.29.3) or a time (now-30d, 2024-05-01); got '${bound.text}'`;
  }
  if (type === 'time') {
    return `${name} is a time: compare it with a time such as now-30d or 2024-05-01, not '${bound.text}'`;
  }
  if (type === 'version' && versionKey(bound.text) === null) {
    return `${name} holds versions; '${bound.text}' is not a version`;
  }
  return undefined;
}
