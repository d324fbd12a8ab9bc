import { DateTime, IANAZone } from 'luxon';

/**
 * Wall-clock arithmetic in IANA time zones, on luxon (which reads the zone rules from the
 * runtime's ICU data). Windows and freezes are defined on the wall clock, so these are the
 * only two questions asked of a zone: what does the clock show at an instant, and when does
 * it first show a given time on a given day.
 */

/** What a clock in some zone shows: date, minutes since midnight and ISO weekday (1 = Monday). */
export interface WallTime {
  readonly date: string;
  readonly minutes: number;
  readonly weekday: number;
}

/** True for a zone name the runtime knows (`Europe/Berlin`, `UTC`); offsets like `+02:00` are not zone names. */
export function isTimeZone(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(name) && IANAZone.isValidZone(name);
}

const zones = new Map<string, IANAZone>();

function zoneOf(name: string): IANAZone {
  let zone = zones.get(name);
  if (zone === undefined) {
    zone = IANAZone.create(name);
    zones.set(name, zone);
  }
  return zone;
}

/** The wall time at `instant` (epoch ms) in `zone`. */
export function wallTimeAt(instant: number, zone: string): WallTime {
  const dt = DateTime.fromMillis(instant, { zone: zoneOf(zone) });
  return { date: dt.toISODate() as string, minutes: dt.hour * 60 + dt.minute, weekday: dt.weekday };
}

/** A wall time as one comparable number: `YYYYMMDDhhmm`. */
function wallKey(date: string, minutes: number): number {
  return (
    Number(date.slice(0, 4)) * 1e8 +
    Number(date.slice(5, 7)) * 1e6 +
    Number(date.slice(8, 10)) * 1e4 +
    Math.floor(minutes / 60) * 100 +
    (minutes % 60)
  );
}

function wallKeyAt(instant: number, zone: string): number {
  const wall = wallTimeAt(instant, zone);
  return wallKey(wall.date, wall.minutes);
}

/** The ISO date `days` after `date`. */
export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** ISO weekday of a date, 1 = Monday. */
export function weekdayOf(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return ((new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7) + 1;
}

const HOUR = 3_600_000;

/**
 * The instants at which the clock in `zone` reaches `minutes` on `date` (minutes may be 1440,
 * the end of the day): usually one; two on a fall-back day when that time occurs twice; and in
 * a spring-forward gap, where the time never shows, the instant the clock jumps past it.
 */
export function instantsOfWallTime(date: string, minutes: number, zone: string): number[] {
  if (minutes >= 1440) return instantsOfWallTime(addDays(date, 1), minutes - 1440, zone);
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const asUtc = Date.UTC(y, m - 1, d, Math.floor(minutes / 60), minutes % 60);
  const target = wallKey(date, minutes);
  const z = zoneOf(zone);
  const offsets = [...new Set([-26, 0, 26].map((h) => z.offset(asUtc + h * HOUR)))];
  const exact = offsets
    .map((offset) => asUtc - offset * 60_000)
    .filter((instant) => wallKeyAt(instant, zone) === target);
  if (exact.length > 0) return [...new Set(exact)].sort((a, b) => a - b);
  // In a gap the clock is below the time before the jump and above it after: search for the jump.
  let lo = asUtc - Math.max(...offsets) * 60_000;
  let hi = asUtc - Math.min(...offsets) * 60_000;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallKeyAt(mid, zone) >= target) hi = mid;
    else lo = mid;
  }
  return [hi];
}
