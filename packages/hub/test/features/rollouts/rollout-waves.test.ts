import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  firstWave,
  percentCutoff,
  POSITION_SPACE,
  wavePosition,
  type WaveCriterion,
} from '../../../src/features/rollouts/wave-planner.ts';
import { evaluateGate, type GateInput } from '../../../src/features/rollouts/wave-gate.ts';

const ids = (n: number, from = 0): string[] =>
  Array.from({ length: n }, (_, i) => `tgt_${(from + i).toString(16).padStart(20, '0')}`);

/** The members of each cumulative percentage wave, as the controller computes them when each wave starts. */
function plan(rollout: string, targets: readonly string[], percents: readonly number[]): string[][] {
  const positions = targets.map((t) => wavePosition(rollout, t));
  const criteria: WaveCriterion[] = percents.map((p) => ({ kind: 'percent', cutoff: percentCutoff(positions, p) }));
  const waves: string[][] = percents.map(() => []);
  targets.forEach((t, i) => {
    const wave = firstWave(t, positions[i]!, criteria);
    if (wave !== undefined) waves[wave]!.push(t);
  });
  return waves;
}

describe('wave planner', () => {
  it('makes each percentage wave exactly ⌈p × N⌉ targets, cumulatively, with 100% taking everyone', () => {
    const sizes = plan('ro_0000000000000001', ids(100), [1, 10, 50, 100]).map((w) => w.length);
    expect(sizes).toEqual([1, 9, 40, 50]);
    expect(plan('ro_0000000000000001', ids(101), [1, 100]).map((w) => w.length)).toEqual([2, 99]);
    expect(plan('ro_0000000000000001', ids(3), [10, 100]).map((w) => w.length)).toEqual([1, 2]);
  });

  it('holds exact sizes for every fleet size and growing percentages (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 400 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 5 }),
        fc.stringMatching(/^[0-9a-f]{16}$/),
        (n, raw, hex) => {
          const percents = [...raw].sort((a, b) => a - b).map((bp) => bp / 100);
          const waves = plan(`ro_${hex}`, ids(n), percents);
          let cumulative = 0;
          percents.forEach((p, i) => {
            cumulative += waves[i]!.length;
            expect(cumulative).toBe(p >= 100 ? n : Math.ceil((Math.round(p * 100) * n) / 10000));
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('is deterministic: the same rollout orders the same targets the same way, whatever the input order', () => {
    const targets = ids(200);
    const a = plan('ro_00000000000000aa', targets, [5, 30, 100]);
    const b = plan('ro_00000000000000aa', [...targets].reverse(), [5, 30, 100]);
    expect(a.map((w) => [...w].sort())).toEqual(b.map((w) => [...w].sort()));
    // Another rollout picks other canaries.
    expect(plan('ro_00000000000000bb', targets, [5, 30, 100])[0]).not.toEqual(a[0]);
  });

  it('keeps waves stable as the fleet grows: with cut-offs fixed at wave start, nobody moves and newcomers take about their share (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        fc.stringMatching(/^[0-9a-f]{16}$/),
        (n, added, hex) => {
          const rollout = `ro_${hex}`;
          const percents = [5, 25, 100];
          const before = ids(n);
          const positions = before.map((t) => wavePosition(rollout, t));
          const criteria: WaveCriterion[] = percents.map((p) => ({
            kind: 'percent',
            cutoff: percentCutoff(positions, p),
          }));
          const grown = [...before, ...ids(added, n)];
          const waveOf = new Map(grown.map((t) => [t, firstWave(t, wavePosition(rollout, t), criteria)]));
          for (const [i, wave] of plan(rollout, before, percents).entries()) {
            for (const t of wave) expect(waveOf.get(t)).toBe(i);
          }
          expect(grown.every((t) => waveOf.get(t) !== undefined)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('gives an empty fleet proportional cut-offs, and positions stay inside the 52-bit space', () => {
    expect(percentCutoff([], 50)).toBe(POSITION_SPACE / 2 - 1);
    expect(percentCutoff([], 100)).toBe(POSITION_SPACE);
    for (const t of ids(50)) {
      const p = wavePosition('ro_0000000000000001', t);
      expect(Number.isSafeInteger(p) && p >= 0 && p < POSITION_SPACE).toBe(true);
    }
  });

  it('places a target in the first wave whose selector includes it', () => {
    const criteria: WaveCriterion[] = [
      { kind: 'selector', matches: new Set(['a']) },
      { kind: 'percent', cutoff: 100 },
      { kind: 'selector', matches: new Set(['a', 'b']) },
    ];
    expect(firstWave('a', 5_000, criteria)).toBe(0);
    expect(firstWave('b', 50, criteria)).toBe(1);
    expect(firstWave('b', 5_000, criteria)).toBe(2);
    expect(firstWave('c', 5_000, criteria)).toBeUndefined();
  });
});

describe('wave gates', () => {
  const base: GateInput = {
    counts: { size: 10, healthy: 10, applied: 0, failed: 0, pending: 0 },
    allowedFailures: 0,
    bakeMs: 0,
    timeoutMs: null,
    startedAt: 1000,
    gatesMetAt: null,
    now: 2000,
  };

  it.each([
    ['all healthy, no bake: passed', {}, { kind: 'passed' }],
    [
      'one pending: waiting',
      { counts: { size: 10, healthy: 9, applied: 0, failed: 0, pending: 1 } },
      { kind: 'waiting' },
    ],
    [
      'one applied but progressing: waiting',
      { counts: { size: 10, healthy: 9, applied: 1, failed: 0, pending: 0 } },
      { kind: 'waiting' },
    ],
    [
      'one failed over a budget of 0',
      { counts: { size: 10, healthy: 9, applied: 0, failed: 1, pending: 0 } },
      { kind: 'over-budget', failed: 1, allowed: 0 },
    ],
    [
      'one failed within a budget of 1: passed',
      { counts: { size: 10, healthy: 9, applied: 0, failed: 1, pending: 0 }, allowedFailures: 1 },
      { kind: 'passed' },
    ],
    [
      'failures over budget win over pending ones',
      { counts: { size: 10, healthy: 5, applied: 0, failed: 2, pending: 3 }, allowedFailures: 1 },
      { kind: 'over-budget', failed: 2, allowed: 1 },
    ],
    ['healthy, bake not begun: baking from now', { bakeMs: 600 }, { kind: 'baking', since: 2000, until: 2600 }],
    [
      'healthy, baking since 1500: until 2100',
      { bakeMs: 600, gatesMetAt: 1500 },
      { kind: 'baking', since: 1500, until: 2100 },
    ],
    ['healthy, baked long enough: passed', { bakeMs: 600, gatesMetAt: 1400 }, { kind: 'passed' }],
    [
      'pending at the timeout: timed out',
      { counts: { size: 10, healthy: 9, applied: 0, failed: 0, pending: 1 }, timeoutMs: 1000 },
      { kind: 'timed-out', waitedMs: 1000, timeoutMs: 1000 },
    ],
    [
      'pending before the timeout: waiting',
      { counts: { size: 10, healthy: 9, applied: 0, failed: 0, pending: 1 }, timeoutMs: 1001 },
      { kind: 'waiting' },
    ],
    [
      'baking past the timeout: the timeout is for reaching health, so still baking',
      { bakeMs: 5000, gatesMetAt: 1900, timeoutMs: 500 },
      { kind: 'baking', since: 1900, until: 6900 },
    ],
    [
      'an empty wave passes',
      { counts: { size: 0, healthy: 0, applied: 0, failed: 0, pending: 0 } },
      { kind: 'passed' },
    ],
  ] as const)('%s', (_name, change, decision) => {
    expect(evaluateGate({ ...base, ...change })).toEqual(decision);
  });
});
