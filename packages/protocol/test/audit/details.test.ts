import { describe, expect, it } from 'vitest';
import { normalizeAuditDetails } from '../../src/audit/index.ts';

describe('normalizing audit details', () => {
  it('drops members whose value is undefined, as JSON does', () => {
    expect(normalizeAuditDetails({ from: 'a', to: undefined, nested: { x: undefined, y: 1 } })).toEqual({
      from: 'a',
      nested: { y: 1 },
    });
  });

  it('treats absent details as an empty object', () => {
    expect(normalizeAuditDetails(undefined)).toEqual({});
  });

  it('keeps a member named __proto__ as an ordinary member', () => {
    const details = JSON.parse('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    const normalized = normalizeAuditDetails(details);
    expect(Object.keys(normalized)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['a Date', { at: new Date(0) }, '$.details.at'],
    ['a Map', { m: new Map() }, '$.details.m'],
    ['NaN', { n: Number.NaN }, '$.details.n'],
    ['Infinity', { list: [1, Number.POSITIVE_INFINITY] }, '$.details.list[1]'],
    ['a bigint', { b: 1n }, '$.details.b'],
    ['a function', { f: () => 1 }, '$.details.f'],
    ['undefined in an array', { list: [undefined] }, '$.details.list[0]'],
    ['a lone surrogate', { s: '\ud800' }, '$.details.s'],
  ])('refuses %s with the path where it was found', (_name, details, path) => {
    expect(() => normalizeAuditDetails(details)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { path } }),
    );
  });

  it('refuses a cycle instead of recursing forever', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => normalizeAuditDetails(cyclic)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
});
