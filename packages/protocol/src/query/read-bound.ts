import type { QueryBound } from './ast.ts';
import { isNumberText } from './field-types.ts';
import { instantMillis, looksLikeDate, relativeOffsetMillis } from './time-value.ts';
import { versionKey } from './version-key.ts';

/** Why a text is not a bound, ready to become an error where it was written. */
export interface BoundProblem {
  readonly code: 'QUERY_SYNTAX' | 'QUERY_TYPE';
  readonly message: string;
}

/**
 * Reads the right side of an ordering comparison, as written after `<`, `<=`, `>` or `>=`
 * in a query or in a short-form selector value: a relative time (`now-30d`), an absolute one
 * (`2024-05-01`), or a number or version (`3`, `4.2`, `v1.29.3`).
 */
export function readBound(text: string): QueryBound | BoundProblem {
  const offset = relativeOffsetMillis(text);
  if (offset !== null) {
    return { kind: 'time', time: { kind: 'relative', offsetMs: offset } };
  }
  if (/^[+-]?\d+[smhdw]$/.test(text)) {
    return {
      code: 'QUERY_SYNTAX',
      message: `'${text}' is not a time; a relative time starts with now, as in now-${text.replace(/^[+-]/, '')}`,
    };
  }
  if (text.startsWith('now')) {
    return {
      code: 'QUERY_SYNTAX',
      message: `'${text}' is not a relative time; write now, now-30d or now+12h (units s, m, h, d, w)`,
    };
  }
  if (looksLikeDate(text)) {
    if (instantMillis(text) === null) {
      return {
        code: 'QUERY_SYNTAX',
        message: `'${text}' is not a valid date or date-time with a zone; write 2024-05-01 or 2024-05-01T12:00:00Z`,
      };
    }
    return { kind: 'time', time: { kind: 'absolute', iso: text } };
  }
  if (!isNumberText(text) && versionKey(text) === null) {
    return {
      code: 'QUERY_TYPE',
      message: `expected a number (3, 2.5), a version (4.2, v1.29.3) or a time (now-30d, 2024-05-01), found '${text}'`,
    };
  }
  return { kind: 'scalar', text };
}

/** Whether {@link readBound} found a problem rather than a bound. */
export function isBoundProblem(value: QueryBound | BoundProblem): value is BoundProblem {
  return 'code' in value;
}
