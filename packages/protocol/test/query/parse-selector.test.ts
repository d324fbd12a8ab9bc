import { describe, expect, it } from 'vitest';
import type { Query } from '../../src/query/ast.ts';
import { parseQuery } from '../../src/query/parse-query.ts';
import { parseSelector, parseSelectorYaml } from '../../src/query/parse-selector.ts';
import { and, eq, exists, glob, key, label, not, oneOf, running } from './query-builders.ts';

const ISSUE_SELECTOR = and(
  oneOf(key('region'), glob('us-*'), glob('eu-*')),
  eq(key('tier'), 'production'),
  not(exists(label('frozen'))),
  not(exists(label('compliance-hold'))),
);

describe('parseSelectorYaml', () => {
  it.each([
    ['the selector of the issue, as written', 'target_selector:\n  region: ["us-*", "eu-*"]\n  tier: "production"\n  exclude_labels: ["frozen", "compliance-hold"]\n'],
    ['the same without the wrapper', 'region: ["us-*", "eu-*"]\ntier: production\nexclude_labels: [frozen, compliance-hold]\n'],
    ['the same in block style', 'target_selector:\n  region:\n    - us-*\n    - eu-*\n  tier: production\n  exclude_labels:\n    - frozen\n    - compliance-hold\n'],
  ])('reads %s', (_, yaml) => {
    expect(parseSelectorYaml(yaml)).toEqual(ISSUE_SELECTOR);
  });

  it.each<[string, string, Query]>([
    ['matchLabels', 'matchLabels:\n  app.kubernetes.io/name: web\n  tier: gold\n', and(eq(label('app.kubernetes.io/name'), 'web'), eq(label('tier'), 'gold'))],
    [
      'matchExpressions with every operator',
      'matchExpressions:\n  - {key: tier, operator: In, values: [gold, silver]}\n  - {key: env, operator: NotIn, values: [dev]}\n  - {key: gpu, operator: Exists}\n  - {key: frozen, operator: DoesNotExist}\n',
      and(oneOf(label('tier'), 'gold', 'silver'), not(oneOf(label('env'), 'dev')), exists(label('gpu')), not(exists(label('frozen')))),
    ],
    ['a value that YAML would read as a number, kept as text', 'running.app: 4.10\n', eq(running('app'), '4.10')],
    ['a query for what the short form cannot say', 'tier: gold\nquery: running.app>=4.2 or !labels.frozen\n', and(eq(key('tier'), 'gold'), parseQuery('running.app>=4.2 or !labels.frozen'))],
    ['an empty document, which matches every target', '', and()],
    ['an empty wrapper, which matches every target', 'target_selector: {}\n', and()],
  ])('reads %s', (_, yaml, expected) => {
    expect(parseSelectorYaml(yaml)).toEqual(expected);
  });

  it('reports YAML that does not parse with its line and column', () => {
    expect(() => parseSelectorYaml('region: [us-*\n')).toThrow(expect.objectContaining({ code: 'QUERY_SYNTAX', details: expect.objectContaining({ line: expect.any(Number), column: expect.any(Number) }) }));
  });
});

describe('parseSelector', () => {
  it('reads the object form of the issue selector', () => {
    expect(parseSelector({ target_selector: { region: ['us-*', 'eu-*'], tier: 'production', exclude_labels: ['frozen', 'compliance-hold'] } })).toEqual(ISSUE_SELECTOR);
  });

  it('reads numbers and booleans as their text', () => {
    expect(parseSelector({ cost: 10, gpu: true })).toEqual(and(eq(key('cost'), '10'), eq(key('gpu'), 'true')));
  });

  it.each([
    ['a wrapper beside other keys', { target_selector: {}, tier: 'gold' }, 'QUERY_SYNTAX', ''],
    ['a list as the selector', ['tier'], 'QUERY_SYNTAX', ''],
    ['an empty list of values', { region: [] }, 'QUERY_SYNTAX', 'region'],
    ['an object as a value', { region: { eu: true } }, 'QUERY_SYNTAX', 'region'],
    ['a stray backslash', { region: 'eu\\west' }, 'QUERY_SYNTAX', 'region'],
    ['an unknown operator', { matchExpressions: [{ key: 'tier', operator: 'in', values: ['a'] }] }, 'QUERY_SYNTAX', 'matchExpressions[0].operator'],
    ['In without values', { matchExpressions: [{ key: 'tier', operator: 'In' }] }, 'QUERY_SYNTAX', 'matchExpressions[0].values'],
    ['Exists with values', { matchExpressions: [{ key: 'tier', operator: 'Exists', values: ['a'] }] }, 'QUERY_SYNTAX', 'matchExpressions[0].values'],
    ['an unknown entry in an expression', { matchExpressions: [{ key: 'tier', operator: 'Exists', value: 'a' }] }, 'QUERY_SYNTAX', 'matchExpressions[0]'],
    ['a number as a label value', { matchLabels: { tier: 1 } }, 'QUERY_SYNTAX', 'matchLabels.tier'],
    ['exclude_labels that is not a list of keys', { exclude_labels: [1] }, 'QUERY_SYNTAX', 'exclude_labels'],
    ['a field with an unknown prefix', { target_selector: { 'lables.tier': 'gold' } }, 'QUERY_UNKNOWN_FIELD', 'target_selector.lables.tier'],
    ['a value of the wrong kind', { status: 'sleeping' }, 'QUERY_TYPE', 'status'],
    ['a time compared by equality', { lastSeen: 'now' }, 'QUERY_TYPE', 'lastSeen'],
    ['a query that does not parse', { query: 'tier in gold' }, 'QUERY_SYNTAX', 'query'],
  ])('rejects %s', (_, selector, code, path) => {
    expect(() => parseSelector(selector)).toThrow(expect.objectContaining({ code, details: expect.objectContaining({ path }) }));
  });

  it('suggests the operator that was meant', () => {
    expect(() => parseSelector({ matchExpressions: [{ key: 'tier', operator: 'Notin', values: ['a'] }] })).toThrow(/did you mean NotIn\?/);
  });
});
