import { describe, expect, it } from 'vitest';
import { EMPTY_SYNC_STATE } from '../../src/agent-state.ts';
import {
  CLOCK_SKEW_TOLERANCE_MS,
  clockBehindSeconds,
  judgementTime,
  raiseTimeFloor,
} from '../../src/sync/time-floor.ts';

const FLOOR = '2025-03-01T12:00:00.000Z';
const floor = Date.parse(FLOOR);
const withFloor = { ...EMPTY_SYNC_STATE, timeFloor: FLOOR };

describe('the time floor', () => {
  it('judges at the clock when it is ahead of the floor, and at the floor when it is behind', () => {
    expect(judgementTime(floor + 1000, withFloor)).toBe(floor + 1000);
    expect(judgementTime(floor - 3 * 86_400_000, withFloor)).toBe(floor);
    expect(judgementTime(1234, EMPTY_SYNC_STATE)).toBe(1234);
  });

  it.each([
    ['a clock ahead of the floor', floor + 1, undefined],
    ['a clock a little behind, as two machines differ', floor - CLOCK_SKEW_TOLERANCE_MS, undefined],
    ['a clock three days back', floor - 3 * 86_400_000, 3 * 86_400],
  ])('reports %s', (_name, clock, behind) => {
    expect(clockBehindSeconds(clock, withFloor)).toBe(behind);
  });

  it('only ever rises', () => {
    expect(raiseTimeFloor(withFloor, '2025-03-01T11:00:00.000Z')).toBeUndefined();
    expect(raiseTimeFloor(withFloor, FLOOR)).toBeUndefined();
    expect(raiseTimeFloor(withFloor, '2025-03-01T13:00:00.000Z')?.timeFloor).toBe('2025-03-01T13:00:00.000Z');
    expect(raiseTimeFloor(EMPTY_SYNC_STATE, FLOOR)?.timeFloor).toBe(FLOOR);
  });
});
