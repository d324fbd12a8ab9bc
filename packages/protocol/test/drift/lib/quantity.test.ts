import { describe, expect, it } from 'vitest';
import { parseQuantity, quantitiesEqual } from '../../../src/drift/lib/quantity.ts';

describe('quantities', () => {
  it.each([
    ['1', 1],
    [1, 1],
    ['1000m', 1],
    ['250m', 0.25],
    ['0.5', 0.5],
    ['1Gi', 2 ** 30],
    ['512Mi', 512 * 2 ** 20],
    ['1k', 1000],
    ['1e3', 1000],
    ['1E3', 1000],
    ['2E', 2e18],
    ['100n', 1e-7],
    ['abc', undefined],
    ['1 Gi', undefined],
    [true, undefined],
  ])('parseQuantity(%j) is %j', (input, expected) => {
    const value = parseQuantity(input);
    if (expected === undefined) expect(value).toBeUndefined();
    else expect(value).toBeCloseTo(expected, 12);
  });

  it.each([
    ['1000m', '1', true],
    ['0.5Gi', '512Mi', true],
    [1, '1', true],
    ['0.1', '100m', true],
    ['250m', '500m', false],
    ['1Gi', '1G', false],
    ['x', 'x', false],
  ])('%j equals %j: %s', (a, b, expected) => {
    expect(quantitiesEqual(a, b)).toBe(expected);
  });
});
