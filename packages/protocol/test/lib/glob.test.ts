import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globMatcher, NAME_GLOB } from '../../src/lib/glob.ts';

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
      fc.property(
        fc.array(step, { maxLength: 6 }).map((s) => s.join('')),
        fc.array(fc.oneof(alphabet, fc.constantFrom('*', '?', '\\')), { maxLength: 8 }).map((s) => s.join('')),
        (pattern, text) => {
          expect(globMatcher(pattern)(text)).toBe(toRegExp(pattern).test(text));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['a\\*', 'a\\zz', true],
    ['a\\*', 'a*', false],
    ['kubectl-*', 'kubectl-edit', true],
  ])('reads %j without escapes (name globs) against %j as %s', (pattern, text, expected) => {
    expect(globMatcher(pattern, NAME_GLOB)(text)).toBe(expected);
  });
});
