import { z } from 'zod';
import { addDays, instantsOfWallTime, isTimeZone, wallTimeAt, weekdayOf, type WallTime } from './lib/zone-time.ts';

/**
 * Change windows: when a change may be applied to a target, on the wall clock of a time zone.
 * A recurring window opens on the listed days at `start` and closes at `end` (the next day
 * when `end` is earlier than `start`); a freeze closes everything between two dates. Times
 * are wall-clock times, so "09:00" is nine in the morning in winter and in summer, and on
 * the day the clock springs forward past 02:30 a window starting at 02:30 opens when the
 * clock jumps (03:00); on the day it falls back a window ending at 02:30 stays open until
 * the second 02:30.
 */

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export const Weekday = z.enum(WEEKDAYS);
export type Weekday = z.infer<typeof Weekday>;

export const TimeZoneName = z.string().max(64).refine(isTimeZone, {
  message: 'not an IANA time zone this runtime knows, such as Europe/Berlin or America/New_York',
});

const ClockTime = z
  .string()
  .regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, 'a time is HH:MM on the 24-hour clock, 00:00 to 24:00');
const FreezeBound = z
  .string()
  .regex(
    /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9])?$/,
    'a freeze bound is a date YYYY-MM-DD or a local time YYYY-MM-DDTHH:MM',
  );

/** A recurring window: open on `days` from `start` until `end`, on the wall clock of `timezone`. */
export const Window = z
  .strictObject({
    days: z.array(Weekday).min(1).max(7),
    start: ClockTime.refine((time) => time !== '24:00', { message: 'a window starts at 00:00 to 23:59' }),
    end: ClockTime,
    /** Defaults to the section's time zone, then to the target's `timezone` property. */
    timezone: TimeZoneName.optional(),
  })
  .refine((window) => window.start !== window.end, {
    message: 'start and end are the same time; write 00:00-24:00 for a whole day',
    path: ['end'],
  });
export type Window = z.infer<typeof Window>;

/**
 * A freeze: nothing opens from `from` until `to`. A date bound is a whole day (a freeze from
 * 2026-12-20 to 2027-01-04 includes both days); a local time bound is exact (`to` excluded).
 */
export const Freeze = z
  .strictObject({
    from: FreezeBound,
    to: FreezeBound,
    reason: z.string().max(256).optional(),
    timezone: TimeZoneName.optional(),
  })
  .refine((freeze) => startKey(freeze.from) < endKey(freeze.to), {
    message: 'a freeze ends after it starts',
    path: ['to'],
  });
export type Freeze = z.infer<typeof Freeze>;

function startKey(bound: string): string {
  return bound.length === 10 ? `${bound}T00:00` : bound;
}

function endKey(bound: string): string {
  return bound.length === 10 ? `${addDays(bound, 1)}T00:00` : bound;
}

const DAY_NAMES: Readonly<Record<string, readonly Weekday[]>> = {
  daily: WEEKDAYS,
  weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
  weekends: ['sat', 'sun'],
};

/** Days as written in the short form: `Mon-Fri`, `Mon–Fri,Sun`, `Sat`, `daily`, `weekdays`, `weekends`. */
function parseDays(text: string): Weekday[] | string {
  const named = DAY_NAMES[text.toLowerCase()];
  if (named !== undefined) return [...named];
  const days = new Set<Weekday>();
  for (const part of text.toLowerCase().split(',')) {
    const [first, last, extra] = part.split(/[-–]/);
    const from = WEEKDAYS.indexOf(first as Weekday);
    const to = last === undefined ? from : WEEKDAYS.indexOf(last as Weekday);
    if (from < 0 || to < 0 || extra !== undefined) return `'${part}' is not a day or a range of days such as Mon-Fri`;
    for (let i = from; ; i = (i + 1) % 7) {
      days.add(WEEKDAYS[i] as Weekday);
      if (i === to) break;
    }
  }
  return WEEKDAYS.filter((day) => days.has(day));
}

/**
 * Reads the short form of a window, `DAYS HH:MM-HH:MM [ZONE]`:
 * `Mon-Fri 09:00-16:00 Europe/Berlin`, `daily 22:00-04:00`. Returns the problem as a string.
 */
export function parseWindowText(text: string): Window | string {
  const match = /^\s*(\S+)\s+(\d{2}:\d{2})\s*[-–]\s*(\d{2}:\d{2})(?:\s+(\S+))?\s*$/.exec(text);
  if (match === null)
    return `'${text}' is not a window; write DAYS HH:MM-HH:MM [ZONE], for example Mon-Fri 09:00-16:00 Europe/Berlin`;
  const days = parseDays(match[1] as string);
  if (typeof days === 'string') return days;
  const parsed = Window.safeParse({
    days,
    start: match[2],
    end: match[3],
    ...(match[4] === undefined ? {} : { timezone: match[4] }),
  });
  return parsed.success ? parsed.data : (parsed.error.issues[0]?.message ?? 'invalid window');
}

/** Reads the short form of a freeze, `[freeze] FROM to TO [ZONE]`: `freeze 2026-12-20 to 2027-01-04`. */
export function parseFreezeText(text: string): Freeze | string {
  const match = /^\s*(?:freeze\s+)?(\S+)\s+(?:to|–|-)\s+(\S+)(?:\s+(\S+))?\s*$/i.exec(text);
  if (match === null) return `'${text}' is not a freeze; write FROM to TO, for example 2026-12-20 to 2027-01-04`;
  const parsed = Freeze.safeParse({
    from: match[1],
    to: match[2],
    ...(match[3] === undefined ? {} : { timezone: match[3] }),
  });
  return parsed.success ? parsed.data : (parsed.error.issues[0]?.message ?? 'invalid freeze');
}

/** A window in either spelling: the object, or its short form (read into the object). */
export const WindowInput = z.union([Window, z.string().max(128)]).transform((value, ctx): Window => {
  if (typeof value !== 'string') return value;
  const parsed = parseWindowText(value);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed, input: value });
    return z.NEVER;
  }
  return parsed;
});

/** A freeze in either spelling. */
export const FreezeInput = z.union([Freeze, z.string().max(128)]).transform((value, ctx): Freeze => {
  if (typeof value !== 'string') return value;
  const parsed = parseFreezeText(value);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed, input: value });
    return z.NEVER;
  }
  return parsed;
});

/** Formats a window in its short form: `Mon-Fri 09:00-16:00 Europe/Berlin`. */
export function formatWindow(window: Window, zone?: string): string {
  return `${formatDays(window.days)} ${window.start}-${window.end}${(window.timezone ?? zone) === undefined ? '' : ` ${window.timezone ?? zone}`}`;
}

function formatDays(days: readonly Weekday[]): string {
  const title = (day: Weekday): string => day[0]!.toUpperCase() + day.slice(1);
  const indexes = days.map((day) => WEEKDAYS.indexOf(day)).sort((a, b) => a - b);
  if (indexes.length === 7) return 'daily';
  const runs: string[] = [];
  for (let i = 0; i < indexes.length;) {
    let j = i;
    while (j + 1 < indexes.length && indexes[j + 1] === indexes[j]! + 1) j++;
    const first = WEEKDAYS[indexes[i]!] as Weekday;
    const last = WEEKDAYS[indexes[j]!] as Weekday;
    runs.push(i === j ? title(first) : `${title(first)}-${title(last)}`);
    i = j + 1;
  }
  return runs.join(',');
}

/** Formats a freeze in its short form: `2026-12-20 to 2027-01-04`. */
export function formatFreeze(freeze: Freeze): string {
  return `${freeze.from} to ${freeze.to}${freeze.timezone === undefined ? '' : ` ${freeze.timezone}`}`;
}

/** A window section, its time zones resolved: what is checked against a clock. */
export interface WindowSchedule {
  readonly allow?: readonly Window[] | undefined;
  readonly freezes?: readonly Freeze[] | undefined;
}

interface CompiledWindow {
  readonly window: Window;
  readonly zone: string;
  readonly days: ReadonlySet<number>;
  readonly start: number;
  readonly end: number;
}

interface CompiledFreeze {
  readonly freeze: Freeze;
  readonly zone: string;
  readonly from: string;
  readonly to: string;
}

/** Why a schedule is closed at an instant: outside every window, or inside a freeze. */
export type ClosedBecause =
  | { readonly kind: 'outside'; readonly windows: readonly Window[] }
  | { readonly kind: 'freeze'; readonly freeze: Freeze };

/** A schedule ready to answer `isOpen` and `nextOpening`. */
export interface CompiledSchedule {
  /** Open at `instant` (epoch ms): inside some window (or there are none) and inside no freeze. */
  isOpen(instant: number): boolean;
  /** Why it is closed at `instant`, or undefined when open. */
  closedBecause(instant: number): ClosedBecause | undefined;
  /** The first instant at or after `instant` at which it is open; undefined when none within two years. */
  nextOpening(instant: number): number | undefined;
}

const HORIZON_DAYS = 732;
const CHUNK_DAYS = 8;
const DAY = 86_400_000;

function minutesOf(time: string): number {
  return Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));
}

/**
 * Compiles a schedule whose windows and freezes each name a zone or take `zone`. Throws a
 * TypeError when one has no zone at all: callers resolve zones first (see `resolveZone`).
 */
export function compileSchedule(schedule: WindowSchedule, zone?: string): CompiledSchedule {
  const zoneFor = (own: string | undefined): string => {
    const resolved = own ?? zone;
    if (resolved === undefined)
      throw new TypeError('compileSchedule: a window or freeze has no time zone and no default was given');
    return resolved;
  };
  const windows: CompiledWindow[] = (schedule.allow ?? []).map((window) => ({
    window,
    zone: zoneFor(window.timezone),
    days: new Set(window.days.map((day) => WEEKDAYS.indexOf(day) + 1)),
    start: minutesOf(window.start),
    end: minutesOf(window.end),
  }));
  const freezes: CompiledFreeze[] = (schedule.freezes ?? []).map((freeze) => ({
    freeze,
    zone: zoneFor(freeze.timezone),
    from: startKey(freeze.from),
    to: endKey(freeze.to),
  }));

  const walls = (instant: number): ((zone: string) => WallTime) => {
    const seen = new Map<string, WallTime>();
    return (name) => {
      let wall = seen.get(name);
      if (wall === undefined) {
        wall = wallTimeAt(instant, name);
        seen.set(name, wall);
      }
      return wall;
    };
  };

  const inWindow = (entry: CompiledWindow, wall: WallTime): boolean => {
    if (entry.start < entry.end)
      return entry.days.has(wall.weekday) && wall.minutes >= entry.start && wall.minutes < entry.end;
    const yesterday = wall.weekday === 1 ? 7 : wall.weekday - 1;
    return (
      (entry.days.has(wall.weekday) && wall.minutes >= entry.start) ||
      (entry.days.has(yesterday) && wall.minutes < entry.end)
    );
  };

  const closedBecause = (instant: number): ClosedBecause | undefined => {
    const wallIn = walls(instant);
    for (const entry of freezes) {
      const wall = wallIn(entry.zone);
      const key = `${wall.date}T${String(Math.floor(wall.minutes / 60)).padStart(2, '0')}:${String(wall.minutes % 60).padStart(2, '0')}`;
      if (key >= entry.from && key < entry.to) return { kind: 'freeze', freeze: entry.freeze };
    }
    if (windows.length === 0 || windows.some((entry) => inWindow(entry, wallIn(entry.zone)))) return undefined;
    return { kind: 'outside', windows: windows.map((entry) => entry.window) };
  };

  const freezeEnds = freezes.flatMap((entry) =>
    instantsOfWallTime(entry.to.slice(0, 10), minutesOf(entry.to.slice(11)), entry.zone),
  );

  const firstOpen = (candidates: number[]): number | undefined =>
    candidates.sort((a, b) => a - b).find((candidate) => closedBecause(candidate) === undefined);

  const nextOpening = (instant: number): number | undefined => {
    if (closedBecause(instant) === undefined) return instant;
    if (windows.length === 0) return firstOpen(freezeEnds.filter((end) => end > instant));
    // Chunks of instants, so that every candidate of one chunk precedes those of the next
    // whatever the zones of the windows.
    for (let offset = 0; offset < HORIZON_DAYS; offset += CHUNK_DAYS) {
      const from = instant + offset * DAY;
      const to = from + CHUNK_DAYS * DAY;
      const candidates: number[] = freezeEnds.filter((end) => end >= from && end < to);
      for (const entry of windows) {
        const first = addDays(wallTimeAt(from, entry.zone).date, -1);
        for (let day = 0; day <= CHUNK_DAYS + 1; day++) {
          const date = addDays(first, day);
          if (!entry.days.has(weekdayOf(date))) continue;
          for (const candidate of instantsOfWallTime(date, entry.start, entry.zone)) {
            if (candidate > instant && candidate >= from && candidate < to) candidates.push(candidate);
          }
        }
      }
      const found = firstOpen(candidates);
      if (found !== undefined) return found;
    }
    return undefined;
  };

  return { isOpen: (instant) => closedBecause(instant) === undefined, closedBecause, nextOpening };
}
