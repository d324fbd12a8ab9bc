import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSchedule, parseFreezeText, parseWindowText, type Window } from '../../src/policy/change-window.ts';

const at = (iso: string): number => Date.parse(iso);
const iso = (instant: number | undefined): string | undefined =>
  instant === undefined ? undefined : new Date(instant).toISOString();

function schedule(allow: readonly string[], freezes: readonly string[] = [], zone?: string) {
  const windows = allow.map((text) => parseWindowText(text) as Window);
  const frozen = freezes.map((text) => {
    const parsed = parseFreezeText(text);
    if (typeof parsed === 'string') throw new Error(parsed);
    return parsed;
  });
  return compileSchedule({ allow: windows, freezes: frozen }, zone);
}

describe('the short forms of windows and freezes', () => {
  it.each([
    [
      'Mon-Fri 09:00-16:00 Europe/Berlin',
      { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '16:00', timezone: 'Europe/Berlin' },
    ],
    ['Mon–Fri 09:00–16:00', { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '16:00' }],
    ['daily 22:00-04:00', { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '22:00', end: '04:00' }],
    ['Sat,Sun 00:00-24:00', { days: ['sat', 'sun'], start: '00:00', end: '24:00' }],
    ['Fri-Mon 20:00-06:00', { days: ['mon', 'fri', 'sat', 'sun'], start: '20:00', end: '06:00' }],
    [
      'weekdays 08:30-17:45 America/New_York',
      { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:30', end: '17:45', timezone: 'America/New_York' },
    ],
  ])('reads %s', (text, expected) => {
    expect(parseWindowText(text)).toEqual(expected);
  });

  it.each([
    ['Mon-Fri 9:00-16:00', /not a window/],
    ['Mon-Fry 09:00-16:00', /not a day/],
    ['Mon 09:00-09:00', /same time/],
    ['Mon 24:00-09:00', /starts at 00:00 to 23:59/],
    ['Mon 09:00-16:00 Mars/Olympus', /IANA time zone/],
    ['Mon 25:00-26:00', /HH:MM/],
  ])('refuses %s', (text, problem) => {
    expect(parseWindowText(text)).toMatch(problem);
  });

  it.each([
    ['freeze 2026-12-20 to 2027-01-04', { from: '2026-12-20', to: '2027-01-04' }],
    [
      '2026-12-20T18:00 to 2026-12-21T06:00 Europe/Berlin',
      { from: '2026-12-20T18:00', to: '2026-12-21T06:00', timezone: 'Europe/Berlin' },
    ],
  ])('reads the freeze %s', (text, expected) => {
    expect(parseFreezeText(text)).toEqual(expected);
  });

  it('refuses a freeze that ends before it starts', () => {
    expect(parseFreezeText('2027-01-04 to 2026-12-20')).toMatch(/ends after it starts/);
  });
});

describe('a weekday window in Europe/Berlin', () => {
  const berlin = schedule(['Mon-Fri 09:00-16:00 Europe/Berlin']);

  it.each([
    ['2026-01-14T08:00:00Z', true, 'Wednesday 09:00 CET'],
    ['2026-01-14T07:59:59Z', false, 'Wednesday 08:59 CET'],
    ['2026-01-14T15:00:00Z', false, 'Wednesday 16:00 CET: the end is excluded'],
    ['2026-07-15T07:00:00Z', true, 'Wednesday 09:00 CEST'],
    ['2026-07-15T14:59:00Z', false, 'Wednesday 16:59 CEST'],
    ['2026-01-17T10:00:00Z', false, 'Saturday'],
  ])('at %s is open: %s (%s)', (instant, open) => {
    expect(berlin.isOpen(at(instant))).toBe(open);
  });

  it('opens next on Monday morning when asked on Friday evening', () => {
    expect(iso(berlin.nextOpening(at('2026-01-16T17:00:00Z')))).toBe('2026-01-19T08:00:00.000Z');
  });

  it('answers now when already open', () => {
    expect(berlin.nextOpening(at('2026-01-14T10:00:00Z'))).toBe(at('2026-01-14T10:00:00Z'));
  });

  it('opens at the CEST hour on the Monday after the clocks spring forward', () => {
    expect(iso(berlin.nextOpening(at('2026-03-28T12:00:00Z')))).toBe('2026-03-30T07:00:00.000Z');
  });
});

describe('daylight-saving days', () => {
  it.each([
    [
      'Europe/Berlin spring forward: 02:30 does not exist, the window opens as the clock jumps to 03:00',
      'Sun 02:30-04:00',
      'Europe/Berlin',
      '2026-03-29T00:00:00Z',
      '2026-03-29T01:00:00.000Z',
    ],
    [
      'America/New_York spring forward: the same at 02:00 EST -> 03:00 EDT',
      'Sun 02:30-04:00',
      'America/New_York',
      '2026-03-08T05:00:00Z',
      '2026-03-08T07:00:00.000Z',
    ],
    [
      'Europe/Berlin fall back: 02:30 happens twice, the window opens at the first',
      'Sun 02:30-02:45',
      'Europe/Berlin',
      '2026-10-25T00:00:00Z',
      '2026-10-25T00:30:00.000Z',
    ],
    [
      'America/New_York fall back: 01:30 happens twice, the window opens at the first',
      'Sun 01:30-01:45',
      'America/New_York',
      '2026-11-01T04:00:00Z',
      '2026-11-01T05:30:00.000Z',
    ],
    [
      'America/New_York fall back: between the two 01:30s, the window opens again at the second',
      'Sun 01:30-01:45',
      'America/New_York',
      '2026-11-01T05:50:00Z',
      '2026-11-01T06:30:00.000Z',
    ],
  ])('%s', (_, window, zone, from, expected) => {
    expect(iso(schedule([window], [], zone).nextOpening(at(from)))).toBe(expected);
  });

  it('keeps a window ending at 02:30 open through both 02:00-02:30 hours when the clock falls back in Berlin', () => {
    const night = schedule(['Sun 01:00-02:30'], [], 'Europe/Berlin');
    expect(night.isOpen(at('2026-10-25T00:15:00Z'))).toBe(true); // 02:15 CEST
    expect(night.isOpen(at('2026-10-25T00:45:00Z'))).toBe(false); // 02:45 CEST
    expect(night.isOpen(at('2026-10-25T01:15:00Z'))).toBe(true); // 02:15 CET, the second time
    expect(night.isOpen(at('2026-10-25T01:30:00Z'))).toBe(false); // 02:30 CET
  });

  it('gives a window a real hour less on the spring-forward day', () => {
    const night = schedule(['Sun 01:00-04:00'], [], 'America/New_York');
    const open: number[] = [];
    for (let minute = 0; minute < 24 * 60; minute += 15)
      if (night.isOpen(at('2026-03-08T00:00:00Z') + minute * 60_000)) open.push(minute);
    expect(open.length * 15).toBe(120);
  });
});

describe('a window crossing midnight', () => {
  const nights = schedule(['Fri 22:00-04:00 Europe/Berlin']);

  it.each([
    ['2026-01-16T21:00:00Z', true, 'Friday 22:00'],
    ['2026-01-17T02:59:00Z', true, "Saturday 03:59, still Friday's window"],
    ['2026-01-17T03:00:00Z', false, 'Saturday 04:00'],
    ['2026-01-16T02:00:00Z', false, "Friday 03:00 belongs to Thursday's night, which is not listed"],
  ])('at %s is open: %s (%s)', (instant, open) => {
    expect(nights.isOpen(at(instant))).toBe(open);
  });
});

describe('freezes', () => {
  const december = schedule(['Mon-Fri 09:00-16:00'], ['freeze 2026-12-20 to 2027-01-04'], 'Europe/Berlin');

  it('closes a window inside the freeze, including its last day', () => {
    expect(december.isOpen(at('2026-12-22T10:00:00Z'))).toBe(false);
    expect(december.isOpen(at('2027-01-04T10:00:00Z'))).toBe(false);
    expect(december.closedBecause(at('2026-12-22T10:00:00Z'))).toMatchObject({ kind: 'freeze' });
  });

  it('opens at the first window after the freeze', () => {
    expect(iso(december.nextOpening(at('2026-12-21T10:00:00Z')))).toBe('2027-01-05T08:00:00.000Z');
  });

  it('opens when a freeze ends inside a window', () => {
    const noon = schedule(['daily 00:00-24:00'], ['2026-06-01T00:00 to 2026-06-01T12:30'], 'UTC');
    expect(iso(noon.nextOpening(at('2026-06-01T03:00:00Z')))).toBe('2026-06-01T12:30:00.000Z');
  });

  it('with no windows, is open except in freezes', () => {
    const only = compileSchedule({ freezes: [{ from: '2026-12-24', to: '2026-12-26' }] }, 'America/New_York');
    expect(only.isOpen(at('2026-12-23T12:00:00Z'))).toBe(true);
    expect(iso(only.nextOpening(at('2026-12-25T12:00:00Z')))).toBe('2026-12-27T05:00:00.000Z');
  });
});

describe('nextOpening, as a property', () => {
  const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'UTC'];
  const windowArb = fc.record({
    days: fc.uniqueArray(fc.constantFrom('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun' as const), {
      minLength: 1,
      maxLength: 7,
    }),
    start: fc.integer({ min: 0, max: 95 }),
    length: fc.integer({ min: 1, max: 95 }),
    zone: fc.constantFrom(...zones),
  });
  const hhmm = (quarter: number): string =>
    `${String(Math.floor(quarter / 4)).padStart(2, '0')}:${String((quarter % 4) * 15).padStart(2, '0')}`;

  it('returns an open instant, with none open between now and it', () => {
    fc.assert(
      fc.property(
        fc.array(windowArb, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: at('2026-01-01T00:00:00Z'), max: at('2027-12-31T00:00:00Z') }),
        (specs, now) => {
          const allow = specs.map((spec): Window => ({
            days: spec.days,
            start: hhmm(spec.start),
            end: hhmm((spec.start + spec.length) % 96),
            timezone: spec.zone,
          }));
          const compiled = compileSchedule({ allow });
          const next = compiled.nextOpening(now);
          expect(next).toBeDefined();
          expect(compiled.isOpen(next!)).toBe(true);
          for (let probe = now; probe < next!; probe += Math.max(60_000, Math.floor((next! - now) / 50)))
            expect(compiled.isOpen(probe)).toBe(false);
          if (next! > now) expect(compiled.isOpen(next! - 1000)).toBe(false);
        },
      ),
      { numRuns: 60 },
    );
  });
});
