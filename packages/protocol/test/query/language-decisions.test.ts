/**
 * Behaviours an independent implementation could read either way; each is decided in
 * docs/query-language.md and pinned here.
 */
import { describe, expect, it } from 'vitest';
import { matchesQuery } from '../../src/query/evaluate.ts';
import { formatQuery } from '../../src/query/format-query.ts';
import { parseQuery } from '../../src/query/parse-query.ts';
import { parseSelector } from '../../src/query/parse-selector.ts';
import { versionKey, versionLinePrefix } from '../../src/query/version-key.ts';
import { NOW, target } from './fleet-fixture.ts';
import { eq, glob, key, oneOf } from './query-builders.ts';

const selects = (query: string, spec: Parameters<typeof target>[1]): boolean =>
  matchesQuery(parseQuery(query), target('probe', spec), { now: NOW });

describe('keywords as values', () => {
  it.each([
    ['owner=in', eq(key('owner'), 'in')],
    ['owner!=AND', { kind: 'not', item: eq(key('owner'), 'AND') }],
    ['owner in (not, or, notin)', oneOf(key('owner'), 'not', 'or', 'notin')],
  ] as const)('%j reads the keyword as a value, where nothing else can stand', (text, expected) => {
    expect(parseQuery(text)).toEqual(expected);
  });

  it('writes them quoted in the canonical form', () => {
    expect(formatQuery(parseQuery('owner=in'))).toBe('owner="in"');
  });

  it('still needs quotes for a keyword as a field', () => {
    expect(() => parseQuery('in=x')).toThrow(expect.objectContaining({ code: 'QUERY_SYNTAX' }));
  });
});

describe('backslashes in short-form values', () => {
  it.each([
    ['a\\*b', eq(key('note'), 'a*b')],
    ['a\\?', eq(key('note'), 'a?')],
    ['a\\\\b', eq(key('note'), 'a\\b')],
    ['a\\**', eq(key('note'), glob('a\\**'))],
  ] as const)('%j escapes as inside double quotes in a query', (value, expected) => {
    expect(parseSelector({ note: value })).toEqual(expected);
  });
});

describe('versions with a prerelease or build metadata', () => {
  it.each([
    ['running.app=1.28+k3s1', 'v1.28.5+k3s1', true],
    ['running.app=1.28+k3s1', '1.28.0-eks.2', true],
    ['running.app=1.28+k3s1', '1.29.0+k3s1', false],
    ['running.app=1+k3s1', '1.30.2', true],
    ['running.app=4.2-rc.1', '4.2.0-rc.1', true],
    ['running.app=4.2-rc.1', '4.2.0-rc.1+b7', true],
    ['running.app=4.2-rc.1', '4.2.1-rc.1', false],
    ['running.app=4.2-rc.1', '4.2.0', false],
    ['running.app=4.2.0+b1', '4.2.0+b2', true],
    ['running.app=4.2.0+b1', '4.2.1', false],
  ])(
    '%j on a target running %s is %s: build metadata never counts, a prerelease names one version',
    (query, version, expected) => {
      expect(selects(query, { running: { app: version } })).toBe(expected);
    },
  );

  it('gives a partial version with build metadata the line of the version without it', () => {
    expect(versionLinePrefix('1.28+k3s1')).toBe(versionLinePrefix('1.28'));
    expect(versionLinePrefix('4.2-rc.1')).toBeNull();
  });
});

describe('leading zeros', () => {
  it.each([
    ['labels.rack>2', '03', true],
    ['labels.rack<10', '03', true],
    ['labels.rack=3', '03', false],
    ['labels.rack="03"', '03', true],
  ])(
    '%j on a rack labelled %j is %s: they order as the number they write, and equal only as text',
    (query, rack, expected) => {
      expect(selects(query, { labels: { rack } })).toBe(expected);
    },
  );

  it('reads 4.02 as 4.2 in versions', () => {
    expect(versionKey('4.02')).toBe(versionKey('4.2'));
    expect(selects('running.app=4.02', { running: { app: '4.2.7' } })).toBe(true);
  });
});

describe('stored numbers against version bounds', () => {
  it.each([
    ['cost>4.2', true],
    ['cost>4.10', true],
    ['cost>v4', false],
    ['cost>4.2.1', false],
    ['cost<5.0.0-rc.1', false],
  ])('%j on a property cost: 5 (a JSON number) is %s: a number orders only against a number', (query, expected) => {
    expect(selects(query, { properties: { cost: 5 } })).toBe(expected);
  });

  it('orders the same value stored as text as a version', () => {
    expect(selects('cost>4.2.1', { properties: { cost: '5' } })).toBe(true);
  });
});
