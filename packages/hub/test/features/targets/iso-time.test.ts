import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoTime } from '../../../src/features/targets/iso-time.ts';

describe('isoTime', () => {
  it('writes every whole millisecond as toISOString does, from 1970 to 9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => {
        expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 5_000 },
    );
  });

  it('writes the first and last millisecond of the range, and times outside it, as toISOString does', () => {
    for (const ms of [
      0, 1, 999, 86_399_999, 86_400_000, 951_782_400_000, 253_402_300_799_999, 253_402_300_800_000, -1, -86_400_001,
      1.5,
    ])
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });
});
