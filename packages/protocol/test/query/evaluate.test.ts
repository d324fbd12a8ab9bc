import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Query } from '../../src/query/ast.ts';
import { compileMatcher, matchesQuery } from '../../src/query/evaluate.ts';
import { parseQuery } from '../../src/query/parse-query.ts';
import { FLEET, NOW, SELECTION_CASES } from './fleet-fixture.ts';
import { fleetArbitrary, NOW as GENERATED_NOW, queryArbitrary } from './query-arbitraries.ts';

const select = (query: string) =>
  FLEET.filter(compileMatcher(parseQuery(query), { now: NOW })).map((target) => target.name);

describe('evaluating a query against the fleet selects', () => {
  it.each(SELECTION_CASES)('%j: %j', (query, names) => {
    expect(select(query)).toEqual(names);
  });
});

describe('evaluation', () => {
  it('resolves relative times against the injected now', () => {
    const query = parseQuery('lastChanged<now-30d');
    const old = FLEET[0];
    expect(matchesQuery(query, old!, { now: NOW })).toBe(true);
    expect(matchesQuery(query, old!, { now: new Date(NOW - 30 * 86_400_000) })).toBe(false);
  });

  it('negates exactly: a target matches a query or its negation, never both', () => {
    fc.assert(
      fc.property(fleetArbitrary(4), queryArbitrary, (fleet, query) => {
        const matches = compileMatcher(query, { now: GENERATED_NOW });
        const complement = compileMatcher({ kind: 'not', item: query }, { now: GENERATED_NOW });
        for (const target of fleet) {
          expect(matches(target)).toBe(!complement(target));
        }
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    [
      'a time compared by equality',
      { kind: 'in', field: { kind: 'builtin', name: 'lastSeen' }, values: [{ kind: 'text', text: 'now' }] },
    ],
    [
      'a name ordered',
      { kind: 'compare', field: { kind: 'builtin', name: 'name' }, op: '<', bound: { kind: 'scalar', text: '3' } },
    ],
    [
      'a version field against a time',
      {
        kind: 'compare',
        field: { kind: 'running', key: 'app' },
        op: '<',
        bound: { kind: 'time', time: { kind: 'relative', offsetMs: 0 } },
      },
    ],
    [
      'a bound that is no number or version',
      { kind: 'compare', field: { kind: 'key', key: 'x' }, op: '<', bound: { kind: 'scalar', text: 'abc' } },
    ],
    [
      'an impossible date',
      {
        kind: 'compare',
        field: { kind: 'key', key: 'x' },
        op: '<',
        bound: { kind: 'time', time: { kind: 'absolute', iso: '2025-02-30' } },
      },
    ],
    ['an empty list of values', { kind: 'in', field: { kind: 'key', key: 'x' }, values: [] }],
  ] as const)('refuses a hand-built tree with %s', (_, query) => {
    expect(() => compileMatcher(query, { now: NOW })).toThrow(expect.objectContaining({ code: 'QUERY_TYPE' }));
  });

  it('refuses a hand-built tree nested beyond the limit without overflowing the stack', () => {
    let query: Query = { kind: 'exists', field: { kind: 'key', key: 'x' } };
    for (let i = 0; i < 100_000; i += 1) {
      query = { kind: 'not', item: query };
    }
    expect(() => compileMatcher(query, { now: NOW })).toThrow(expect.objectContaining({ code: 'QUERY_SYNTAX' }));
  });
});
