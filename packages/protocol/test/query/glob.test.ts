import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeGlob, globMatcher, hasWildcard, isValidGlob, literalPrefix, toSqliteGlob, unescapeGlob } from '../../src/query/glob.ts';

describe('globMatcher', () => {
  it.each([
    ['eu-*', 'eu-west-1', true],
    ['eu-*', 'EU-west-1', false],
    ['eu-*', 'eu-', true],
    ['eu-*', 'us-east-1', false],
    ['*-1', 'us-east-1', true],
    ['?', 'ü', true],
    ['?', '😀', true],
    ['??', '😀', false],
    ['*', '', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'acb', false],
    ['*a*a*a*b', 'a'.repeat(200), false],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'aXb', false],
    ['a\\?', 'a?', true],
    ['a\\\\*', 'a\\zz', true],
    ['x[y]*', 'x[y]z', true],
    ['x[y]*', 'xy', false],
    ['*', 'line\nbreak', true],
    ['a?c', 'a\nc', true],
  ])('%j against %j is %s', (pattern, text, expected) => {
    expect(globMatcher(pattern)(text)).toBe(expected);
  });

  it('agrees with a regular expression built from the same pattern', () => {
    const alphabet = fc.constantFrom('a', 'b', '-', '.', 'ü', '😀', '[', ']');
    const step = fc.oneof(alphabet, fc.constantFrom('*', '?', '\\*', '\\?', '\\\\'));
    const toRegExp = (pattern: string) => {
      let source = '';
      const chars = Array.from(pattern);
      for (let i = 0; i < chars.length; i += 1) {
        const c = chars[i] as string;
        if (c === '\\') {
          i += 1;
          source += (chars[i] as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        } else {
          source += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        }
      }
      return new RegExp(`^${source}$`, 'su');
    };
    fc.assert(
      fc.property(fc.array(step, { maxLength: 6 }).map((s) => s.join('')), fc.array(fc.oneof(alphabet, fc.constantFrom('*', '?', '\\')), { maxLength: 8 }).map((s) => s.join('')), (pattern, text) => {
        expect(globMatcher(pattern)(text)).toBe(toRegExp(pattern).test(text));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('glob helpers', () => {
  it.each([
    ['eu-*', 'eu-*'],
    ['a\\*b', 'a[*]b'],
    ['a\\?*', 'a[?]*'],
    ['x[y]*', 'x[[]y]*'],
    ['a\\\\*', 'a\\*'],
  ])('writes %j for SQLite GLOB as %j', (pattern, sqlite) => {
    expect(toSqliteGlob(pattern)).toBe(sqlite);
  });

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
