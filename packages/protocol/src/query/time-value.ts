/**
 * Instants in the query language: ISO 8601 dates and date-times written by people, and the
 * same text found in property, label and fact values. One strict parser serves both, so a
 * value is a time in SQL exactly when it is a time in memory.
 */

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|([+-])(\d{2}):(\d{2})))?$/;

/** Text that starts like a date: the query parser treats it as a time or reports why not. */
export function looksLikeDate(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}/.test(text);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Epoch milliseconds of an ISO 8601 date (`2024-05-01`, midnight UTC) or date-time with a
 * zone (`2024-05-01T12:30Z`, `2024-05-01T12:30:00.250+02:00`); `null` for anything else,
 * including impossible dates such as `2024-02-30` and date-times without a zone.
 */
export function instantMillis(text: string): number | null {
  const match = INSTANT.exec(text);
  if (match === null) {
    return null;
  }
  const [, y, mo, d, h, mi, s, frac, zone, sign, oh, om] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h ?? '0');
  const minute = Number(mi ?? '0');
  const second = Number(s ?? '0');
  const millis = Number((frac ?? '').padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return null;
  }
  let offset = 0;
  if (zone !== undefined && zone !== 'Z') {
    const offsetHours = Number(oh);
    const offsetMinutes = Number(om);
    if (offsetHours > 23 || offsetMinutes > 59) {
      return null;
    }
    offset = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, millis);
  return utc.getTime() - offset;
}

/** Milliseconds in each unit of a relative time. Days are 24 hours: no calendar, no DST. */
const TIME_UNITS = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
export type TimeUnit = keyof typeof TIME_UNITS;

/**
 * The offset in milliseconds of `now`, `now-30d`, `now+12h` (units s, m, h, d, w); `null` when
 * the text is not a relative time.
 */
export function relativeOffsetMillis(text: string): number | null {
  const match = /^now(?:([+-])(\d{1,9})([smhdw]))?$/.exec(text);
  if (match === null) {
    return null;
  }
  const [, sign, amount, unit] = match;
  if (sign === undefined) {
    return 0;
  }
  const value = Number(amount) * TIME_UNITS[unit as TimeUnit];
  return sign === '-' ? -value : value;
}

/** The shortest spelling of a relative offset: `now`, `now-30d`, `now+90m`. */
export function formatRelative(offsetMillis: number): string {
  if (offsetMillis === 0) {
    return 'now';
  }
  const sign = offsetMillis < 0 ? '-' : '+';
  const magnitude = Math.abs(offsetMillis);
  for (const [unit, size] of Object.entries(TIME_UNITS)) {
    if (magnitude % size === 0) {
      return `now${sign}${magnitude / size}${unit}`;
    }
  }
  throw new TypeError(`a relative time is a whole number of seconds; got ${offsetMillis} ms`);
}
