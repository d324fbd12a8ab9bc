import { describe, expect, it, vi } from 'vitest';
import { RecentBundles } from '../../../src/features/bundles/recent-bundles.ts';
import { OPERATOR, RolloutHub } from '../rollouts/rollout-fixture.ts';

const stored: Record<string, string> = {
  a: 'A'.repeat(40),
  b: 'B'.repeat(40),
  c: 'C'.repeat(40),
  huge: 'H'.repeat(200),
};

function reader(): { read: (digest: string) => () => string | undefined; reads: () => string[] } {
  const spy = vi.fn((digest: string) => stored[digest]);
  return { read: (digest) => () => spy(digest), reads: () => spy.mock.calls.map(([d]) => d) };
}

describe('the bundles served last, held in memory', () => {
  it("reads a bundle's JSON once, and serves its later fetches from memory", () => {
    const recent = new RecentBundles(100);
    const { read, reads } = reader();
    expect(recent.get('a', read('a'))).toBe(stored['a']);
    expect(recent.get('a', read('a'))).toBe(stored['a']);
    expect(reads()).toEqual(['a']);
  });

  it('forgets the bundle served longest ago when the budget would be passed', () => {
    const recent = new RecentBundles(100);
    const { read, reads } = reader();
    recent.get('a', read('a'));
    recent.get('b', read('b'));
    recent.get('a', read('a'));
    recent.get('c', read('c'));
    recent.get('a', read('a'));
    recent.get('b', read('b'));
    expect(reads()).toEqual(['a', 'b', 'c', 'b']);
  });

  it('does not hold a bundle larger than the budget, nor one the store does not have', () => {
    const recent = new RecentBundles(100);
    const { read, reads } = reader();
    recent.get('huge', read('huge'));
    expect(recent.get('huge', read('huge'))).toBe(stored['huge']);
    expect(recent.get('missing', read('missing'))).toBeUndefined();
    recent.get('missing', read('missing'));
    expect(reads()).toEqual(['huge', 'huge', 'missing', 'missing']);
  });
});

describe("the hub's bundle fetches", () => {
  it('read a bundle from the store once, however many agents fetch it', async () => {
    const t = await RolloutHub.open();
    try {
      const { digest } = t.publish('app', '1.0.0');
      const reads = vi.spyOn(t.services.bundles['deps'].store, 'json');
      const first = t.services.bundles.json(digest, OPERATOR);
      expect(t.services.bundles.json(digest, OPERATOR)).toBe(first);
      expect(JSON.parse(first)).toMatchObject({ digest });
      expect(reads).toHaveBeenCalledTimes(1);
    } finally {
      await t.close();
    }
  });
});
