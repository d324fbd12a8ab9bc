import { describe, expect, it } from 'vitest';
import type { Query } from '../../src/query/ast.ts';
import { parseQuery } from '../../src/query/parse-query.ts';
import {
  ago,
  and,
  at,
  builtin,
  cmp,
  DAY,
  eq,
  exists,
  fact,
  glob,
  HOUR,
  key,
  label,
  not,
  oneOf,
  or,
  property,
  running,
  text,
} from './query-builders.ts';

describe('parseQuery reads', () => {
  it.each<[string, Query]>([
    [
      'region in (eu-*), owner=atlas, running.app=4.2, lastChanged<now-30d',
      and(
        oneOf(key('region'), glob('eu-*')),
        eq(key('owner'), 'atlas'),
        eq(running('app'), '4.2'),
        cmp(builtin('lastChanged'), '<', ago(30 * DAY)),
      ),
    ],
    ['', and()],
    ['   ', and()],
    ['region=eu-west-1', eq(key('region'), 'eu-west-1')],
    ['region == eu-west-1', eq(key('region'), 'eu-west-1')],
    ['region!=eu-west-1', not(eq(key('region'), 'eu-west-1'))],
    ['region in (eu-*, us-*)', oneOf(key('region'), glob('eu-*'), glob('us-*'))],
    ['region notin (eu-west-1, eu-north-1)', not(oneOf(key('region'), 'eu-west-1', 'eu-north-1'))],
    ['region not in (eu-west-1)', not(oneOf(key('region'), 'eu-west-1'))],
    ['region', exists(key('region'))],
    ['!region', not(exists(key('region')))],
    ['not region', not(exists(key('region')))],
    ['!(region, tier)', not(and(exists(key('region')), exists(key('tier'))))],
    ['labels.tier=gold', eq(label('tier'), 'gold')],
    ['properties.cost>=10', cmp(property('cost'), '>=', '10')],
    ['properties.cost>-5', cmp(property('cost'), '>', '-5')],
    ['labels.app.kubernetes.io/name=web', eq(label('app.kubernetes.io/name'), 'web')],
    ['labels."app.kubernetes.io/name"=web', eq(label('app.kubernetes.io/name'), 'web')],
    ['"app.kubernetes.io/name"=web', eq(key('app.kubernetes.io/name'), 'web')],
    ['"status"=gold', eq(key('status'), 'gold')],
    ['labels."with space"="a b"', eq(label('with space'), 'a b')],
    ['facts.capabilities.nvidia.com/gpu>=1', cmp(fact('capabilities.nvidia.com/gpu'), '>=', '1')],
    ['facts.capabilities."nvidia.com/gpu">=1', cmp(fact('capabilities.nvidia.com/gpu'), '>=', '1')],
    ['running.app>=4.2', cmp(running('app'), '>=', '4.2')],
    ['facts.kubeletVersions<v1.29.3', cmp(fact('kubeletVersions'), '<', 'v1.29.3')],
    ['lastSeen<now-12h', cmp(builtin('lastSeen'), '<', ago(12 * HOUR))],
    ['lastSeen>now', cmp(builtin('lastSeen'), '>', ago(0))],
    ['lastChanged<2025-01-01', cmp(builtin('lastChanged'), '<', at('2025-01-01'))],
    ['enrolled>=2025-01-01T08:00:00+02:00', cmp(builtin('enrolled'), '>=', at('2025-01-01T08:00:00+02:00'))],
    ['status in (active, disabled)', oneOf(builtin('status'), 'active', 'disabled')],
    ['health=degraded', eq(builtin('health'), 'degraded')],
    ['owner="a*b"', eq(key('owner'), glob('a*b'))],
    ['owner="a\\*b"', eq(key('owner'), 'a*b')],
    ['owner="say \\"hi\\""', eq(key('owner'), 'say "hi"')],
    ['owner=""', eq(key('owner'), '')],
    ['name="in"', eq(builtin('name'), 'in')],
    ['owner=ünï', eq(key('owner'), text('ünï'))],
  ])('%j', (query, expected) => {
    expect(parseQuery(query)).toEqual(expected);
  });
});

describe('parseQuery combines conditions', () => {
  const [a, b, c] = [exists(key('a')), exists(key('b')), exists(key('c'))];
  it.each<[string, Query]>([
    ['a, b, c', and(a, b, c)],
    ['a and b and c', and(a, b, c)],
    ['a, b or c', and(a, or(b, c))],
    ['a or b, c', and(or(a, b), c)],
    ['a and b or c', or(and(a, b), c)],
    ['a or b and c', or(a, and(b, c))],
    ['not a, b', and(not(a), b)],
    ['not a or b', or(not(a), b)],
    ['(a, b) or c', or(and(a, b), c)],
    ['a, (b, c)', and(a, and(b, c))],
    ['((a))', a],
    ['a AND b OR NOT c', or(and(a, b), not(c))],
    ['not not a', not(not(a))],
  ])('%j', (query, expected) => {
    expect(parseQuery(query)).toEqual(expected);
  });
});

describe('parseQuery rejects', () => {
  it.each([
    ['region in eu', 'QUERY_SYNTAX', 11],
    ['region=', 'QUERY_SYNTAX', 8],
    ['region=eu,', 'QUERY_SYNTAX', 11],
    ['(region', 'QUERY_SYNTAX', 8],
    ['region)', 'QUERY_SYNTAX', 7],
    ['a=b c=d', 'QUERY_SYNTAX', 5],
    ["x='a'", 'QUERY_SYNTAX', 3],
    ['x="abc', 'QUERY_SYNTAX', 3],
    ['x="a\\b"', 'QUERY_SYNTAX', 5],
    ['x=a[b]', 'QUERY_SYNTAX', 4],
    ['()', 'QUERY_SYNTAX', 2],
    ['or', 'QUERY_SYNTAX', 1],
    ['x!', 'QUERY_SYNTAX', 2],
    ['region*=x', 'QUERY_SYNTAX', 1],
    ['x<2024-02-30', 'QUERY_SYNTAX', 3],
    ['x<now-1y', 'QUERY_SYNTAX', 3],
    ['lastChanged<30d', 'QUERY_SYNTAX', 13],
    ['"ü😀"=x y', 'QUERY_SYNTAX', 8],
    ['foo.bar=1', 'QUERY_UNKNOWN_FIELD', 1],
    ['tier=a, label.tier=x', 'QUERY_UNKNOWN_FIELD', 9],
    ['running=4.2', 'QUERY_UNKNOWN_FIELD', 1],
    ['labels.=x', 'QUERY_UNKNOWN_FIELD', 1],
    ['name<5', 'QUERY_TYPE', 6],
    ['lastSeen<4.2', 'QUERY_TYPE', 10],
    ['lastSeen=now', 'QUERY_TYPE', 9],
    ['running.app<abc', 'QUERY_TYPE', 13],
    ['running.app<-1', 'QUERY_TYPE', 13],
    ['running.app<now-1d', 'QUERY_TYPE', 13],
    ['x<eu-*', 'QUERY_TYPE', 3],
    ['status=running', 'QUERY_TYPE', 7],
  ])('%j with %s at column %d', (query, code, column) => {
    expect(() => parseQuery(query)).toThrow(
      expect.objectContaining({ code, details: expect.objectContaining({ column, query }) }),
    );
  });

  it('points at the column with a caret under the query', () => {
    expect(() => parseQuery('region in eu')).toThrow(
      expect.objectContaining({
        code: 'QUERY_SYNTAX',
        message: expect.stringContaining('at column 11'),
        details: { column: 11, query: 'region in eu', caret: 'region in eu\n          ^' },
      }),
    );
  });

  it.each([
    ['kubernetes_version: >=1.28', 1, 'kubernetes_version>=1.28'],
    ['kubernetes_version:>=1.28', 1, 'kubernetes_version>=1.28'],
    ['tier=gold, labels.zone: "eu a"', 12, 'labels.zone="eu a"'],
    ['tier: production', 1, 'tier=production'],
    ['tier:production', 1, 'tier=production'],
    ['owner: != atlas', 1, 'owner!=atlas'],
    ['region: in (eu-*, us-*), tier=gold', 1, 'region in (eu-*, us-*)'],
    ['not gpu:', 5, 'gpu'],
  ])(
    '%j: a colon after a field, as in YAML, is a syntax error at column %d suggesting %j',
    (query, column, suggestion) => {
      expect(() => parseQuery(query)).toThrow(
        expect.objectContaining({
          code: 'QUERY_SYNTAX',
          message: expect.stringContaining(`did you mean '${suggestion}'?`),
          details: expect.objectContaining({ column, suggestion }),
        }),
      );
    },
  );

  it('keeps a colon in a fact path or a quoted key, where keys may hold one', () => {
    expect(parseQuery('facts.ports.http:8080=open, "a:b"')).toEqual({
      kind: 'and',
      items: [
        { kind: 'in', field: { kind: 'facts', key: 'ports.http:8080' }, values: [{ kind: 'text', text: 'open' }] },
        { kind: 'exists', field: { kind: 'key', key: 'a:b' } },
      ],
    });
  });

  it('suggests the prefix that was meant', () => {
    expect(() => parseQuery('label.tier=gold')).toThrow(
      expect.objectContaining({
        code: 'QUERY_UNKNOWN_FIELD',
        details: expect.objectContaining({ suggestion: 'labels.tier' }),
      }),
    );
  });
});

describe('parseQuery limits the size of a query', () => {
  const many = (n: number, item: (i: number) => string) => Array.from({ length: n }, (_, i) => item(i)).join(', ');
  it.each([
    ['longer than 4096 characters', `x=${'a'.repeat(4100)}`],
    ['nested deeper than 32 parentheses', `${'('.repeat(33)}a${')'.repeat(33)}`],
    ['nested deeper than 32 negations', `${'not '.repeat(33)}a`],
    ['with more than 64 values in a list', `x in (${many(65, (i) => `v${i}`)})`],
    ['with more than 128 conditions', many(129, (i) => `k${i}`)],
  ])('rejects a query %s', (_, query) => {
    expect(() => parseQuery(query)).toThrow(
      expect.objectContaining({
        code: 'QUERY_SYNTAX',
        details: expect.objectContaining({ caret: expect.any(String) }),
      }),
    );
  });

  it('accepts a query at every limit', () => {
    const query = [
      `x in (${many(64, (i) => `v${i}*`)})`,
      ...Array.from({ length: 126 }, (_, i) => `k${i}`),
      `${'('.repeat(31)}a${')'.repeat(31)}`,
    ].join(', ');
    expect(() => parseQuery(query)).not.toThrow();
  });
});
