import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Query } from '../../src/query/ast.ts';
import { formatQuery } from '../../src/query/format-query.ts';
import { parseQuery } from '../../src/query/parse-query.ts';
import { queryArbitrary } from './query-arbitraries.ts';
import {
  ago,
  and,
  builtin,
  cmp,
  DAY,
  eq,
  exists,
  fact,
  glob,
  key,
  label,
  not,
  oneOf,
  or,
  running,
  text,
} from './query-builders.ts';

describe('formatQuery writes the canonical form', () => {
  it.each<[Query, string]>([
    [
      and(
        oneOf(key('region'), glob('eu-*')),
        eq(key('owner'), 'atlas'),
        eq(running('app'), '4.2'),
        cmp(builtin('lastChanged'), '<', ago(30 * DAY)),
      ),
      'region=eu-*, owner=atlas, running.app=4.2, lastChanged<now-30d',
    ],
    [and(), ''],
    [oneOf(key('region'), glob('eu-*'), glob('us-*')), 'region in (eu-*, us-*)'],
    [not(eq(key('tier'), 'gold')), 'tier!=gold'],
    [not(oneOf(key('tier'), 'gold', 'silver')), 'tier notin (gold, silver)'],
    [not(exists(label('frozen'))), '!labels.frozen'],
    [not(and(exists(key('a')), exists(key('b')))), 'not (a, b)'],
    [and(exists(key('a')), or(exists(key('b')), exists(key('c')))), 'a, b or c'],
    [or(and(exists(key('a')), exists(key('b'))), exists(key('c'))), '(a, b) or c'],
    [and(exists(key('a')), and(exists(key('b')), exists(key('c')))), 'a, (b, c)'],
    [or(or(exists(key('a')), exists(key('b'))), exists(key('c'))), '(a or b) or c'],
    [exists(key('app.kubernetes.io/name')), '"app.kubernetes.io/name"'],
    [exists(key('status')), '"status"'],
    [exists(key('not')), '"not"'],
    [exists(label('app.kubernetes.io/name')), 'labels.app.kubernetes.io/name'],
    [exists(label('with space')), 'labels."with space"'],
    [exists(fact('capabilities.nvidia.com/gpu')), 'facts.capabilities.nvidia.com/gpu'],
    [eq(key('owner'), text('a*b')), 'owner="a\\*b"'],
    [eq(key('owner'), glob('a "b" *')), 'owner="a \\"b\\" *"'],
    [eq(key('owner'), ''), 'owner=""'],
    [eq(key('owner'), 'or'), 'owner="or"'],
    [cmp(key('cost'), '>=', '-5'), 'cost>=-5'],
  ])('%j as %j', (query, expected) => {
    expect(formatQuery(query)).toBe(expected);
  });

  it('reads back every query it writes as the same tree', () => {
    fc.assert(
      fc.property(queryArbitrary, (query) => {
        expect(parseQuery(formatQuery(query))).toEqual(query);
      }),
      { numRuns: 1000 },
    );
  });

  it('is a fixed point: formatting what it parsed gives the same text', () => {
    fc.assert(
      fc.property(queryArbitrary, (query) => {
        const once = formatQuery(query);
        expect(formatQuery(parseQuery(once))).toBe(once);
      }),
      { numRuns: 300 },
    );
  });

  it.each<[Query]>([[or()], [and(exists(key('a')), and())]])('refuses %j, which has no spelling', (query) => {
    expect(() => formatQuery(query)).toThrow(TypeError);
  });
});
