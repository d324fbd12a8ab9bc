import { describe, expect, it } from 'vitest';
import { Facts, READS_DRIFT_POLICY_DIGEST } from '../../src/index.ts';

describe("the envelope features in a report's facts", () => {
  it('takes a list of feature names, the drift policy by digest among them', () => {
    expect(Facts.parse({ envelopeFeatures: [READS_DRIFT_POLICY_DIGEST] }).envelopeFeatures).toEqual([
      'drift-policy-digest',
    ]);
  });

  it.each([
    ['a single name rather than a list', READS_DRIFT_POLICY_DIGEST],
    ['a list of other things', [1, true]],
    ['more than 32 names', Array.from({ length: 33 }, (_, i) => `feature-${i}`)],
    ['a name longer than 64 characters', ['x'.repeat(65)]],
  ])('refuses %s', (_, envelopeFeatures) => {
    expect(Facts.safeParse({ envelopeFeatures }).success).toBe(false);
  });
});
