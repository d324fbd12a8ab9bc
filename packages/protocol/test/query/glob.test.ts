import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globMatcher } from '../../src/lib/glob.ts';
import { escapeGlob, hasWildcard, isValidGlob, literalPrefix, unescapeGlob } from '../../src/query/glob.ts';

describe('glob helpers', () => {
  it.each([
    ['eu-*', 'eu-'],
    ['a\\*b*', 'a*b'],
    ['*x', ''],
    ['abc', 'abc'],
  ])('finds the literal prefix of %j: %j', (pattern, prefix) => {
    expect(literalPrefix(pattern)).toBe(prefix);
  });

  it.each([
    ['eu-*', true],
    ['a?', true],
    ['a\\*', false],
    ['plain', false],
  ])('says whether %j has a wildcard: %s', (pattern, expected) => {
    expect(hasWildcard(pattern)).toBe(expected);
  });

  it.each([['a\\b'], ['trailing\\']])('rejects %j, whose backslash escapes nothing it may', (pattern) => {
    expect(isValidGlob(pattern)).toBe(false);
  });

  it('escapes any text into a pattern that matches exactly that text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '*', '?', '\\', 'ü', '-') }), (text) => {
        const pattern = escapeGlob(text);
        expect(hasWildcard(pattern)).toBe(false);
        expect(unescapeGlob(pattern)).toBe(text);
        expect(globMatcher(pattern)(text)).toBe(true);
      }),
    );
  });
});
