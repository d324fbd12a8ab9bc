import { describe, expect, it } from 'vitest';
import { formatRelative, instantMillis, relativeOffsetMillis } from '../../src/query/time-value.ts';

describe('instantMillis', () => {
  it.each([
    ['2024-05-01', Date.UTC(2024, 4, 1)],
    ['2024-05-01T12:30Z', Date.UTC(2024, 4, 1, 12, 30)],
    ['2024-05-01T12:30:15Z', Date.UTC(2024, 4, 1, 12, 30, 15)],
    ['2024-05-01T12:30:15.25Z', Date.UTC(2024, 4, 1, 12, 30, 15, 250)],
    ['2024-05-01T12:30:00+02:00', Date.UTC(2024, 4, 1, 10, 30)],
    ['2024-05-01T00:30:00-01:30', Date.UTC(2024, 4, 1, 2, 0)],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
    ['0099-01-01', Date.parse('0099-01-01T00:00:00Z')],
  ])('reads %s', (text, millis) => {
    expect(instantMillis(text)).toBe(millis);
  });

  it.each([
    ['2023-02-29'],
    ['2024-13-01'],
    ['2024-05-01T24:00Z'],
    ['2024-05-01T12:00'],
    ['2024-5-1'],
    ['yesterday'],
    ['2024-05-01T12:00:00.1234Z'],
    ['2024-05-01T12:00+25:00'],
  ])('is null for %s', (text) => {
    expect(instantMillis(text)).toBeNull();
  });
});

describe('relative times', () => {
  it.each([
    ['now', 0],
    ['now-30d', -30 * 86_400_000],
    ['now+12h', 12 * 3_600_000],
    ['now-90m', -90 * 60_000],
    ['now-2w', -14 * 86_400_000],
    ['now-15s', -15_000],
  ])('reads %s as an offset of %d ms', (text, offset) => {
    expect(relativeOffsetMillis(text)).toBe(offset);
  });

  it.each([['now-30'], ['now-d'], ['now-1y'], ['now - 1d'], ['Now'], ['now-1.5h']])('is null for %j', (text) => {
    expect(relativeOffsetMillis(text)).toBeNull();
  });

  it.each([
    [0, 'now'],
    [-30 * 86_400_000, 'now-30d'],
    [-14 * 86_400_000, 'now-2w'],
    [36 * 3_600_000, 'now+36h'],
    [-90_000, 'now-90s'],
  ])('writes an offset of %d ms as %s', (offset, text) => {
    expect(formatRelative(offset)).toBe(text);
  });
});
