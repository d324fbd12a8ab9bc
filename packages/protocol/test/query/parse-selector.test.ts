import { describe, expect, it } from 'vitest';
import type { Query } from '../../src/query/ast.ts';
import { parseQuery } from '../../src/query/parse-query.ts';
import { parseSelector, parseSelectorYaml } from '../../src/query/parse-selector.ts';
import {
  ago,
  and,
  at,
  builtin,
  cmp,
  eq,
  exists,
  fact,
  glob,
  key,
  label,
  not,
  oneOf,
  or,
  property,
  running,
} from './query-builders.ts';

const ISSUE_SELECTOR = and(
  oneOf(key('region'), glob('us-*'), glob('eu-*')),
  eq(key('tier'), 'production'),
  not(exists(label('frozen'))),
  not(exists(label('compliance-hold'))),
);

describe('parseSelectorYaml', () => {
  it.each([
    [
      'the selector of the issue, as written',
      'target_selector:\n  region: ["us-*", "eu-*"]\n  tier: "production"\n  exclude_labels: ["frozen", "compliance-hold"]\n',
    ],
    [
      'the same without the wrapper',
      'region: ["us-*", "eu-*"]\ntier: production\nexclude_labels: [frozen, compliance-hold]\n',
    ],
    [
      'the same in block style',
      'target_selector:\n  region:\n    - us-*\n    - eu-*\n  tier: production\n  exclude_labels:\n    - frozen\n    - compliance-hold\n',
    ],
  ])('reads %s', (_, yaml) => {
    expect(parseSelectorYaml(yaml)).toEqual(ISSUE_SELECTOR);
  });

  it.each<[string, string, Query]>([
    [
      'matchLabels',
      'matchLabels:\n  app.kubernetes.io/name: web\n  tier: gold\n',
      and(eq(label('app.kubernetes.io/name'), 'web'), eq(label('tier'), 'gold')),
    ],
    [
      'matchExpressions with every operator',
      'matchExpressions:\n  - {key: tier, operator: In, values: [gold, silver]}\n  - {key: env, operator: NotIn, values: [dev]}\n  - {key: gpu, operator: Exists}\n  - {key: frozen, operator: DoesNotExist}\n',
      and(
        oneOf(label('tier'), 'gold', 'silver'),
        not(oneOf(label('env'), 'dev')),
        exists(label('gpu')),
        not(exists(label('frozen'))),
      ),
    ],
    ['a value that YAML would read as a number, kept as text', 'running.app: 4.10\n', eq(running('app'), '4.10')],
    [
      'a query for what the short form cannot say',
      'tier: gold\nquery: running.app>=4.2 or !labels.frozen\n',
      and(eq(key('tier'), 'gold'), parseQuery('running.app>=4.2 or !labels.frozen')),
    ],
    ['an empty document, which matches every target', '', and()],
    ['an empty wrapper, which matches every target', 'target_selector: {}\n', and()],
  ])('reads %s', (_, yaml, expected) => {
    expect(parseSelectorYaml(yaml)).toEqual(expected);
  });

  it('reports YAML that does not parse with its line and column', () => {
    expect(() => parseSelectorYaml('region: [us-*\n')).toThrow(
      expect.objectContaining({
        code: 'QUERY_SYNTAX',
        details: expect.objectContaining({ line: expect.any(Number), column: expect.any(Number) }),
      }),
    );
  });
});

describe('parseSelector', () => {
  it('reads the object form of the issue selector', () => {
    expect(
      parseSelector({
        target_selector: {
          region: ['us-*', 'eu-*'],
          tier: 'production',
          exclude_labels: ['frozen', 'compliance-hold'],
        },
      }),
    ).toEqual(ISSUE_SELECTOR);
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
    [
      'an unknown operator',
      { matchExpressions: [{ key: 'tier', operator: 'in', values: ['a'] }] },
      'QUERY_SYNTAX',
      'matchExpressions[0].operator',
    ],
    [
      'In without values',
      { matchExpressions: [{ key: 'tier', operator: 'In' }] },
      'QUERY_SYNTAX',
      'matchExpressions[0].values',
    ],
    [
      'Exists with values',
      { matchExpressions: [{ key: 'tier', operator: 'Exists', values: ['a'] }] },
      'QUERY_SYNTAX',
      'matchExpressions[0].values',
    ],
    [
      'an unknown entry in an expression',
      { matchExpressions: [{ key: 'tier', operator: 'Exists', value: 'a' }] },
      'QUERY_SYNTAX',
      'matchExpressions[0]',
    ],
    ['a number as a label value', { matchLabels: { tier: 1 } }, 'QUERY_SYNTAX', 'matchLabels.tier'],
    ['exclude_labels that is not a list of keys', { exclude_labels: [1] }, 'QUERY_SYNTAX', 'exclude_labels'],
    [
      'a field with an unknown prefix',
      { target_selector: { 'lables.tier': 'gold' } },
      'QUERY_UNKNOWN_FIELD',
      'target_selector.lables.tier',
    ],
    ['a value of the wrong kind', { status: 'sleeping' }, 'QUERY_TYPE', 'status'],
    ['a time compared by equality', { lastSeen: 'now' }, 'QUERY_TYPE', 'lastSeen'],
    ['a query that does not parse', { query: 'tier in gold' }, 'QUERY_SYNTAX', 'query'],
  ])('rejects %s', (_, selector, code, path) => {
    expect(() => parseSelector(selector)).toThrow(
      expect.objectContaining({ code, details: expect.objectContaining({ path }) }),
    );
  });

  it('suggests the operator that was meant', () => {
    expect(() => parseSelector({ matchExpressions: [{ key: 'tier', operator: 'Notin', values: ['a'] }] })).toThrow(
      /did you mean NotIn\?/,
    );
  });
});

describe('short-form values that start with an operator', () => {
  it.each<[string, Record<string, unknown>, Query]>([
    ['an ordering on a bare key', { kubernetes_version: '>=1.28' }, cmp(key('kubernetes_version'), '>=', '1.28')],
    [
      'an ordering on a version fact',
      { 'facts.kubernetesVersion': '<1.29' },
      cmp(fact('kubernetesVersion'), '<', '1.29'),
    ],
    ['a relative time', { lastSeen: '>now-15m' }, cmp(builtin('lastSeen'), '>', ago(15 * 60_000))],
    ['an absolute time', { lastChanged: '<=2025-01-01' }, cmp(builtin('lastChanged'), '<=', at('2025-01-01'))],
    ['a number', { 'properties.cost': '> 3' }, cmp(property('cost'), '>', '3')],
    ['an inequality', { owner: '!=atlas' }, not(eq(key('owner'), 'atlas'))],
    ['an inequality with a glob', { region: '!=eu-*' }, not(eq(key('region'), glob('eu-*')))],
    ['an explicit equality, for a value that starts with an operator', { note: '=<none>' }, eq(key('note'), '<none>')],
    [
      'a list mixing values and orderings',
      { 'running.app': ['4.2', '>=5'] },
      or(eq(running('app'), '4.2'), cmp(running('app'), '>=', '5')),
    ],
  ])('reads %s', (_, selector, expected) => {
    expect(parseSelector(selector)).toEqual(expected);
  });

  it('reads them from YAML, where they are quoted', () => {
    expect(parseSelectorYaml('target_selector:\n  kubernetes_version: ">=1.28"\n  lastSeen: ">now-15m"\n')).toEqual(
      and(cmp(key('kubernetes_version'), '>=', '1.28'), cmp(builtin('lastSeen'), '>', ago(15 * 60_000))),
    );
  });

  it('refuses an unquoted !=x in YAML, which YAML reads as a tag on an empty value', () => {
    expect(() => parseSelectorYaml('tier: gold\nowner: !=atlas\n')).toThrow(
      expect.objectContaining({
        code: 'QUERY_SYNTAX',
        message: expect.stringMatching(/'!=atlas' is read by YAML as a tag; quote the value: "!=atlas"/),
        details: { line: 2, column: 8 },
      }),
    );
  });

  it.each([
    [
      'a duration without now',
      { lastSeen: '<15m' },
      'QUERY_SYNTAX',
      /'<15m' is not a time: for lastSeen within the last 15m write '>now-15m'; for more than 15m ago write '<now-15m'/,
    ],
    ['an ordering on text that is not a bound', { 'running.app': '>=latest' }, 'QUERY_TYPE', /expected a number/],
    ['an ordering with a glob', { 'running.app': '>=4.*' }, 'QUERY_TYPE', /wildcards do not work with >=/],
    ['an ordering on an enum', { status: '>3' }, 'QUERY_TYPE', /status cannot be ordered/],
    ['a lone !', { owner: '!atlas' }, 'QUERY_SYNTAX', /did you mean '!=atlas'\?/],
    ['an inequality in a list', { owner: ['!=a', '!=b'] }, 'QUERY_SYNTAX', /owner notin \(a, b\)/],
  ])('rejects %s with %s', (_, selector, code, message) => {
    expect(() => parseSelector(selector)).toThrow(
      expect.objectContaining({
        code,
        message: expect.stringMatching(message),
        details: expect.objectContaining({ path: expect.stringMatching(/^owner|^lastSeen|^running\.app|^status/) }),
      }),
    );
  });
});

describe('labels: and properties: mappings', () => {
  it('read their keys as label or property keys, exactly', () => {
    expect(
      parseSelectorYaml(
        'labels:\n  tier: gold\n  app.kubernetes.io/name: web\nproperties:\n  cost: ">3"\n  region: [eu-*, us-east-1]\n',
      ),
    ).toEqual(
      and(
        eq(label('tier'), 'gold'),
        eq(label('app.kubernetes.io/name'), 'web'),
        cmp(property('cost'), '>', '3'),
        oneOf(property('region'), glob('eu-*'), 'us-east-1'),
      ),
    );
  });

  it('mix with the other entries', () => {
    expect(parseSelector({ target_selector: { labels: { tier: 'gold' }, exclude_labels: ['frozen'] } })).toEqual(
      and(eq(label('tier'), 'gold'), not(exists(label('frozen')))),
    );
  });

  it.each([
    ['a list', { labels: ['tier'] }, 'labels'],
    ['an empty key', { properties: { '': 'x' } }, 'properties.'],
    ['a nested mapping', { labels: { tier: { gold: true } } }, 'labels.tier'],
  ])('refuse %s', (_, selector, path) => {
    expect(() => parseSelector(selector)).toThrow(
      expect.objectContaining({ code: 'QUERY_SYNTAX', details: expect.objectContaining({ path }) }),
    );
  });
});
