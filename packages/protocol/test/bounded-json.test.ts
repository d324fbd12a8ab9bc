import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertJsonDepth, JSON_MAX_DEPTH, parseJson, parseYaml } from '../src/index.ts';

const nested = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('parseJson', () => {
  it.each([
    ['nesting at the limit', nested(JSON_MAX_DEPTH), undefined],
    ['nesting one past the limit', nested(JSON_MAX_DEPTH + 1), 'JSON_TOO_DEEP'],
    ['brackets inside strings', `["${'['.repeat(1000)}"]`, undefined],
    ['an escaped quote before brackets', `["\\"${'{'.repeat(1000)}"]`, undefined],
    ['an escaped backslash ending a string', `["\\\\",${nested(JSON_MAX_DEPTH)}]`, 'JSON_TOO_DEEP'],
    ['text that is not JSON', '{"a":', 'BAD_REQUEST'],
  ] as const)('%s', (_name, text, code) => {
    if (code === undefined) expect(() => parseJson(text, 'the body')).not.toThrow();
    else expect(() => parseJson(text, 'the body')).toThrow(expect.objectContaining({ code }));
  });

  it('names what it read and the limit', () => {
    expect(() => parseJson(nested(20_000), 'the request body')).toThrow(
      'the request body nests deeper than 256 levels, the limit; flatten it',
    );
  });

  it('refuses text over maxBytes, counting UTF-8 bytes', () => {
    expect(() => parseJson(`"${'é'.repeat(10)}"`, 'x', { maxBytes: 21 })).toThrow(
      expect.objectContaining({ code: 'BODY_TOO_LARGE' }),
    );
    expect(parseJson(`"${'é'.repeat(10)}"`, 'x', { maxBytes: 22 })).toBe('é'.repeat(10));
  });

  it('agrees with JSON.parse on any JSON within the limit', () => {
    fc.assert(
      fc.property(fc.json({ depthSize: 'medium' }), (text) => {
        expect(parseJson(text, 'x')).toEqual(JSON.parse(text));
      }),
    );
  });
});

describe('assertJsonDepth', () => {
  it('counts the depth of a value in memory without recursion', () => {
    let value: unknown = 1;
    for (let i = 0; i < 100_000; i++) value = { a: value };
    expect(() => assertJsonDepth(value, 'the value')).toThrow(expect.objectContaining({ code: 'JSON_TOO_DEEP' }));
    expect(() => assertJsonDepth(JSON.parse(nested(JSON_MAX_DEPTH)), 'the value')).not.toThrow();
  });
});

describe('parseYaml', () => {
  it.each([
    ['flow nesting', `a: ${nested(20_000)}`],
    ['compact sequences', `${'- '.repeat(20_000)}1`],
    ['block nesting', Array.from({ length: 2_000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n')],
  ])('refuses %s past the limit as JSON_TOO_DEEP', (_name, text) => {
    expect(() => parseYaml(text, 'the policy')).toThrow(expect.objectContaining({ code: 'JSON_TOO_DEEP' }));
  });

  it('ignores brackets in quotes and comments', () => {
    expect(parseYaml(`a: "${'['.repeat(300)}" # ${'{'.repeat(300)}\nb: '${'['.repeat(300)}'`, 'x')).toEqual({
      a: '['.repeat(300),
      b: '['.repeat(300),
    });
  });
});
