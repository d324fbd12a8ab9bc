import fc from 'fast-check';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { versionKey, versionLinePrefix } from '../../src/query/version-key.ts';

const sign = (n: number) => Math.sign(n);
const compareKeys = (a: string, b: string) => {
  const ka = versionKey(a) as string;
  const kb = versionKey(b) as string;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

describe('versionKey', () => {
  it.each([
    ['4.2', '4.2.0'],
    ['v1.29.3', '1.29.3'],
    ['V1.29', '1.29.0'],
    ['4', '4.0.0'],
    ['1.02.3', '1.2.3'],
    ['1.2.3+build.7', '1.2.3'],
    ['1.29-rc.1', '1.29.0-rc.1'],
  ])('reads %s as %s', (text, same) => {
    expect(versionKey(text)).toBe(versionKey(same));
  });

  it.each([
    ['latest'],
    ['us-east-1'],
    ['1.2.3.4'],
    ['1..2'],
    ['v'],
    [''],
    ['-1'],
    ['1.0.0-'],
    ['1.0.0+'],
    ['1234567890123456.0'],
    ['2025-06-15'],
  ])('is null for %j, which is not a version', (text) => {
    expect(versionKey(text)).toBeNull();
  });

  it.each([
    ['1.0.0-alpha', '1.0.0-alpha.1'],
    ['1.0.0-alpha.1', '1.0.0-alpha.beta'],
    ['1.0.0-alpha.beta', '1.0.0-beta'],
    ['1.0.0-beta', '1.0.0-beta.2'],
    ['1.0.0-beta.2', '1.0.0-beta.11'],
    ['1.0.0-beta.11', '1.0.0-rc.1'],
    ['1.0.0-rc.1', '1.0.0'],
    ['4.2', '4.10'],
    ['1.29.3', 'v1.30'],
    ['9.9.9', '10.0.0'],
    ['1.0.0-alpha', '1.0.0-alpha-x'],
    ['99999999999999.0.0', '100000000000000.0.0'],
  ])('orders %s before %s, as semver does', (lower, higher) => {
    expect(compareKeys(lower, higher)).toBe(-1);
  });

  it('orders every pair of semver versions as semver.compare does', () => {
    const identifier = fc.oneof(
      fc.nat({ max: 30 }).map(String),
      fc.stringMatching(/^[0-9A-Za-z-]{1,4}$/).filter((s) => !/^\d+$/.test(s)),
    );
    const version = fc
      .tuple(fc.nat({ max: 12 }), fc.nat({ max: 12 }), fc.nat({ max: 12 }), fc.array(identifier, { maxLength: 3 }))
      .map(([major, minor, patch, pre]) => `${major}.${minor}.${patch}${pre.length > 0 ? `-${pre.join('.')}` : ''}`);
    fc.assert(
      fc.property(version, version, (a, b) => {
        expect(compareKeys(a, b)).toBe(sign(semver.compare(a, b)));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('versionLinePrefix', () => {
  it.each([
    ['4.2', ['4.2.0', '4.2.11', 'v4.2.3', '4.2.0-rc.1', '4.2'], ['4.20.0', '4.3.0', '14.2.0', '4.1.9']],
    ['4', ['4.0.0', '4.9.1', 'v4'], ['40.0.0', '5.0.0', '3.9.9']],
  ])('of %s is a prefix of the keys of %j and of none of %j', (line, inside, outside) => {
    const prefix = versionLinePrefix(line) as string;
    for (const version of inside) {
      expect(versionKey(version)?.startsWith(prefix), version).toBe(true);
    }
    for (const version of outside) {
      expect(versionKey(version)?.startsWith(prefix), version).toBe(false);
    }
  });

  it.each([['4.2.1'], ['4.2-rc.1'], ['4.2-rc.1+b'], ['4.2.0+b'], ['latest']])(
    'is null for %s, which names one version or none',
    (text) => {
      expect(versionLinePrefix(text)).toBeNull();
    },
  );
});
