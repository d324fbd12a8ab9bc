import { FlotillaError, type ErrorCode } from '../errors.ts';

/** Where a problem is in a query string. `column` counts characters from 1. */
export interface QueryPosition {
  readonly query: string;
  /** UTF-16 index of the offending character. */
  readonly index: number;
}

/**
 * Two lines: the query, then a caret under the offending column. Tabs and line breaks in the
 * query are shown as spaces so that the caret stays aligned.
 */
function caretLines(query: string, column: number): string {
  return `${query.replace(/[\t\r\n]/g, ' ')}\n${' '.repeat(column - 1)}^`;
}

/**
 * A {@link FlotillaError} about a query string: the message ends with the column, and
 * `details` holds `{ column, query, caret }` so a CLI or dashboard can point at it.
 */
export function queryError(
  code: ErrorCode,
  message: string,
  at: QueryPosition,
  extra: Record<string, unknown> = {},
): FlotillaError {
  const column = Array.from(at.query.slice(0, at.index)).length + 1;
  return new FlotillaError(code, `${message} (at column ${column})`, {
    ...extra,
    column,
    query: at.query,
    caret: caretLines(at.query, column),
  });
}
