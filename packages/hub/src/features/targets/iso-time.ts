const DAY = 86_400_000;
/** 9999-12-31T23:59:59.999Z and one: beyond it `toISOString` writes six-digit years. */
const FOUR_DIGIT_YEARS_END = 253_402_300_800_000;
const DAYS_KEPT = 4096;

const TWO_DIGITS = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, '0'));
/** Each day's `YYYY-MM-DDT`, by day since the epoch: the days of a fleet's times repeat. */
const dayPrefixes = new Map<number, string>();

/**
 * `new Date(ms).toISOString()`, for the three times of every target document a page reads: a
 * Date and its formatting cost more than the rest of a page's documents but the JSON, so the
 * date is kept per day and the time of day written from tables of digits. Times outside years
 * 1970–9999, or not whole milliseconds, go to `toISOString`.
 */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= FOUR_DIGIT_YEARS_END) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    if (dayPrefixes.size >= DAYS_KEPT) dayPrefixes.clear();
    prefix = new Date(day * DAY).toISOString().slice(0, 11);
    dayPrefixes.set(day, prefix);
  }
  let rest = ms - day * DAY;
  const milli = rest % 1000;
  rest = (rest - milli) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;
  return `${prefix}${TWO_DIGITS[hour]!}:${TWO_DIGITS[minute]!}:${TWO_DIGITS[second]!}.${THREE_DIGITS[milli]!}Z`;
}
