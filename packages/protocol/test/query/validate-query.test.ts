import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileMatcher } from '../../src/query/evaluate.ts';
import { parseSelector } from '../../src/query/parse-selector.ts';
import { absentNegationArbitrary, fleetArbitrary, NOW } from './query-arbitraries.ts';
import { buildQueryFieldCatalog, queryCatalogFromFieldNames } from '../../src/query/field-catalog.ts';
import { parseQuery } from '../../src/query/parse-query.ts';
import { findUnknownFields, validateQuery } from '../../src/query/validate-query.ts';
import { FLEET } from './fleet-fixture.ts';

const catalog = buildQueryFieldCatalog(FLEET);

describe('validateQuery', () => {
  it.each([
    ['region in (eu-*), owner=atlas, running.app=4.2, lastChanged<now-30d'],
    ['labels."app.kubernetes.io/name"=web, facts.capabilities.nvidia.com/gpu>=1'],
    ['desired.app, running.mesh, "odd value", status=active, !lastSeen'],
  ])('accepts %j, whose fields some target has', (query) => {
    expect(() => validateQuery(parseQuery(query), catalog)).not.toThrow();
  });

  it.each([
    ['regoin=eu-*', 'regoin', 'region'],
    ['tier=gold, labels.regoin=eu', 'labels.regoin', 'labels.region'],
    ['properties.Owner=atlas', 'properties.Owner', 'properties.owner'],
    ['lastseen<now-1d', 'lastseen', 'lastSeen'],
    ['running.ap>=4.2', 'running.ap', 'running.app'],
    ['facts.nodecount>3', 'facts.nodecount', 'facts.nodeCount'],
    ['datacenter=x', 'datacenter', undefined],
  ])('rejects %j: %s is unknown (did you mean %s?)', (query, field, suggestion) => {
    const details = suggestion === undefined ? { field } : { field, suggestion };
    expect(() => validateQuery(parseQuery(query), catalog)).toThrow(
      expect.objectContaining({ code: 'QUERY_UNKNOWN_FIELD', details: expect.objectContaining(details) }),
    );
  });

  it('puts a caret under the unknown field when given the query text', () => {
    const text = 'tier=production, regoin=eu-*';
    expect(() => validateQuery(parseQuery(text), catalog, text)).toThrow(
      expect.objectContaining({
        message: "no target has the property or label 'regoin'; did you mean 'region'? (at column 18)",
        details: {
          field: 'regoin',
          suggestion: 'region',
          column: 18,
          query: text,
          caret: `${text}\n                 ^`,
        },
      }),
    );
  });

  it('lists every unknown field', () => {
    expect(
      findUnknownFields(parseQuery('a, region, labels.b or running.c'), catalog).map((unknown) => unknown.spelling),
    ).toEqual(['a', 'labels.b', 'running.c']);
  });
});

describe('queryCatalogFromFieldNames', () => {
  it('reads the stored field names of target_fields', () => {
    expect(
      queryCatalogFromFieldNames([
        'labels.tier',
        'properties.owner',
        'facts.capabilities.nvidia.com/gpu',
        'running.app',
        'desired.db',
        'key.tier',
        'health',
      ]),
    ).toEqual({
      labels: new Set(['tier']),
      properties: new Set(['owner']),
      facts: new Set(['capabilities.nvidia.com/gpu']),
      releases: new Set(['app', 'db']),
    });
  });
});

describe('negations and exclusions of keys no target has', () => {
  // Nobody is in maintenance, frozen for audit or on a mesh today: the normal case.
  it.each([
    ['tier=production, !labels.maintenance'],
    ['labels.maintenance!=x'],
    ['maintenance notin (x)'],
    ['not running.canary-build>=1'],
    ['!(labels.maintenance=on and tier=production)'],
    ['not (properties.quarantine or facts.nothere.at.all>3)'],
  ])('accepts %j: a negation of an absent key selects everyone', (query) => {
    expect(validateQuery(parseQuery(query), catalog)).toEqual([]);
  });

  it.each([
    [{ exclude_labels: ['maintenance', 'audit-hold'] }],
    [{ matchExpressions: [{ key: 'maintenance', operator: 'DoesNotExist' }] }],
    [{ matchExpressions: [{ key: 'maintenance', operator: 'NotIn', values: ['on'] }] }],
  ])('accepts the selector %j', (selector) => {
    expect(validateQuery(parseSelector(selector), catalog)).toEqual([]);
  });

  it('still refuses a positive condition under a double negation', () => {
    expect(() => validateQuery(parseQuery('not (not labels.maintenance=on)'), catalog)).toThrow(
      expect.objectContaining({ code: 'QUERY_UNKNOWN_FIELD' }),
    );
  });

  it('warns, with the spelling meant, when a negated key looks like a typo', () => {
    const text = 'tier=production, !labels.regoin';
    expect(validateQuery(parseQuery(text), catalog, text)).toEqual([
      {
        code: 'QUERY_UNKNOWN_FIELD',
        field: 'labels.regoin',
        suggestion: 'labels.region',
        column: 19,
        message:
          "no target has the label 'regoin', so its negation holds for every target; did you mean 'labels.region'? (at column 19)",
      },
    ]);
  });

  it('holds for random fleets: a negated condition on an absent key never errs and selects every target', () => {
    fc.assert(
      fc.property(fleetArbitrary(8), absentNegationArbitrary, (fleet, negation) => {
        const fleetCatalog = buildQueryFieldCatalog(fleet);
        expect(validateQuery(negation, fleetCatalog)).toEqual([]);
        expect(fleet.filter(compileMatcher(negation, { now: NOW })).length).toBe(fleet.length);
      }),
    );
  });
});
