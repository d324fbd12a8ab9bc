import { describe, expect, it } from 'vitest';
import { faultPoints, FaultSpec, NO_FAULTS, type FaultPoint } from '../src/index.ts';

describe('fault points', () => {
  it('crash at the chosen hit of the chosen point, and only there', () => {
    const crashes: [FaultPoint, number][] = [];
    const faults = faultPoints(FaultSpec.parse('apply:after:3, report:before-commit:1'), (point, hit) =>
      crashes.push([point, hit]),
    );
    for (let i = 0; i < 5; i++) faults.reach('apply:after');
    faults.reach('rollout:before-commit');
    faults.reach('report:before-commit');
    faults.reach('report:before-commit');
    expect(crashes).toEqual([
      ['apply:after', 3],
      ['report:before-commit', 1],
    ]);
  });

  it('are inert when nothing is armed', () => {
    expect(faultPoints(FaultSpec.parse(''), () => expect.fail('crashed'))).toBe(NO_FAULTS);
  });

  it.each(['apply:800', 'apply:after', 'apply:after:0', 'nowhere:1', 'apply:after:1.5'])(
    'refuse the spec %s, naming the points',
    (spec) => {
      const parsed = FaultSpec.safeParse(spec);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.message).toMatch(/apply:after, report:after-send/);
    },
  );
});
