import { describe, expect, it } from 'vitest';
import { isFlotillaError } from '@flotilla/protocol';
import { type Query } from '@flotilla/protocol/query';
import type { PlanInput } from '@flotilla/protocol/api';
import {
  allowedFailures,
  formatDuration,
  normalizePlan,
  parseDuration,
  parseFailureBudget,
  parseInlineWaves,
  waveGates,
} from '../../../src/features/rollouts/rollout-plan.ts';

const anyField = (): void => undefined;

function failure(fn: () => unknown): { code: string; message: string; details: Record<string, unknown> | undefined } {
  try {
    fn();
  } catch (error) {
    if (isFlotillaError(error)) return { code: error.code, message: error.message, details: error.details };
    throw error;
  }
  throw new Error('expected a FlotillaError');
}

describe('durations', () => {
  it.each([
    ['0', 0],
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['250ms', 250],
    [45, 45_000],
  ] as const)('%s is %i ms', (text, ms) => {
    expect(parseDuration(text, 'bake')).toBe(ms);
  });

  it.each(['ten', '10', '10 m', '-1s', '1.5h', '31d'])('%s is refused with what to write instead', (text) => {
    const { code, message, details } = failure(() => parseDuration(text, 'waves[1].bake'));
    expect(code).toBe('VALIDATION_FAILED');
    expect(message).toMatch(/^waves\[1\]\.bake: a duration is/);
    expect(details).toEqual({ path: 'waves[1].bake' });
  });

  it.each([
    [0, '0s'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [86_400_000, '1d'],
    [1500, '1s500ms'],
  ])('%i ms prints as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('failure budgets', () => {
  it.each([
    ['2', { kind: 'count', count: 2 }, 10, 2],
    [0, { kind: 'count', count: 0 }, 10, 0],
    ['5%', { kind: 'percent', percent: 5 }, 100, 5],
    ['5%', { kind: 'percent', percent: 5 }, 19, 0],
    ['10%', { kind: 'percent', percent: 10 }, 30, 3],
    ['12.5%', { kind: 'percent', percent: 12.5 }, 8, 1],
  ] as const)('%s reads as %o and allows %#', (text, budget, size, allowed) => {
    const parsed = parseFailureBudget(text, 'failureBudget');
    expect(parsed).toEqual(budget);
    expect(allowedFailures(parsed, size)).toBe(allowed);
  });

  it.each(['two', '-1', '101%', '5 %', '1.5'])('%s is refused', (text) => {
    expect(failure(() => parseFailureBudget(text, 'failureBudget')).message).toMatch(
      /^failureBudget: a failure budget/,
    );
  });
});

describe('inline waves', () => {
  it('reads name:percent and name:selector pieces, with selectors that hold commas', () => {
    expect(parseInlineWaves('canary:1%,early:10%,rest:100%')).toEqual([
      { name: 'canary', percent: '1%' },
      { name: 'early', percent: '10%' },
      { name: 'rest', percent: '100%' },
    ]);
    expect(parseInlineWaves('staging:tier=staging, region=eu-*,rest:100%')).toEqual([
      { name: 'staging', selector: 'tier=staging, region=eu-*' },
      { name: 'rest', percent: '100%' },
    ]);
    expect(parseInlineWaves('1%,10%,100%')).toEqual([
      { name: 'wave-1', percent: '1%' },
      { name: 'wave-2', percent: '10%' },
      { name: 'wave-3', percent: '100%' },
    ]);
  });

  it('refuses a bare number, a percentage without its sign, saying how to write either form', () => {
    expect(() => parseInlineWaves('canary:20,rest:100%')).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        message: expect.stringContaining(
          'write canary:20% for 20% of the selected targets, or a selector such as canary:tier=staging',
        ),
      }),
    );
  });
});

describe('plans', () => {
  const plan = (input: PlanInput, check: (q: Query, s: string | undefined) => void = anyField) =>
    normalizePlan(input, check);

  it('defaults to one wave of every target with no bake, no budget and no timeout', () => {
    expect(plan({})).toEqual({
      waves: [{ name: 'all', percent: 100 }],
      bakeMs: 0,
      failureBudget: { kind: 'count', count: 0 },
      timeoutMs: null,
      rollbackOnFailure: false,
    });
  });

  it('stores selectors in canonical form, and per-wave gates that override the plan', () => {
    const normalized = plan({
      waves: [
        { name: 'staging', selector: { tier: ['staging'], region: 'eu-*' }, bake: '1h' },
        { name: 'rest', percent: 100, failureBudget: '5%', timeout: '2h' },
      ],
      bake: '10m',
      failureBudget: 1,
      timeout: '30m',
      rollbackOnFailure: true,
    });
    expect(normalized.waves).toEqual([
      { name: 'staging', selector: 'tier=staging, region=eu-*', bakeMs: 3_600_000 },
      { name: 'rest', percent: 100, failureBudget: { kind: 'percent', percent: 5 }, timeoutMs: 7_200_000 },
    ]);
    expect(waveGates(normalized, 0)).toEqual({
      bakeMs: 3_600_000,
      failureBudget: { kind: 'count', count: 1 },
      timeoutMs: 1_800_000,
    });
    expect(waveGates(normalized, 1)).toEqual({
      bakeMs: 600_000,
      failureBudget: { kind: 'percent', percent: 5 },
      timeoutMs: 7_200_000,
    });
    expect(normalized.rollbackOnFailure).toBe(true);
  });

  it('checks wave selectors against the fleet', () => {
    const seen: string[] = [];
    plan({ waves: 'a:tier=staging,b:100%' }, (_q, source) => seen.push(source ?? '(object)'));
    expect(seen).toEqual(['tier=staging']);
  });

  it.each([
    [
      { waves: 'a:10%,b:5%' },
      'waves[1].percent',
      /percentages are cumulative and must grow from wave to wave: wave 'b' \(5%\) is not larger than wave 'a' \(10%\) before it/,
    ],
    [{ waves: 'a:10%,b:10%' }, 'waves[1].percent', /is not larger than wave 'a'/],
    [{ waves: 'a:0%' }, 'waves[0].percent', /more than 0 and at most 100/],
    [{ waves: 'a:150%' }, 'waves[0].percent', /received '150%'/],
    [{ waves: [{ name: 'a', percent: 'lots' }] }, 'waves[0].percent', /received 'lots'/],
    [
      { waves: 'a:100%,b:tier=x' },
      'waves[1]',
      /wave 'b' comes after wave 'a', which already covers every selected target/,
    ],
    [{ waves: 'a:10%,a:20%' }, 'waves[1].name', /'a' appears twice/],
    [{ waves: [{ name: 'a' }] }, 'waves[0]', /needs exactly one of percent \(such as 10%\) or selector/],
    [{ waves: [{ name: 'a', percent: 10, selector: 'x=y' }] }, 'waves[0]', /needs exactly one/],
    [{ waves: [{ name: 'a', percent: 10, bake: 'soon' }] }, 'waves[0].bake', /a duration is a number and a unit/],
    [{ bake: '5' }, 'bake', /received '5'/],
    [{ timeout: '0' }, 'timeout', /a timeout is longer than 0/],
    [
      { failureBudget: 'half' },
      'failureBudget',
      /a count of failed targets such as 2, or a percentage of the wave such as 5%/,
    ],
    [{ waves: [] }, 'waves', /at least one wave/],
  ] as const)('refuses %o at %s', (input, path, message) => {
    const error = failure(() => plan(input as PlanInput));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toEqual({ path });
    expect(error.message).toMatch(message);
  });

  it('reports a wave selector that does not parse as a query error', () => {
    expect(failure(() => plan({ waves: 'a:tier in staging' })).code).toBe('QUERY_SYNTAX');
  });
});
