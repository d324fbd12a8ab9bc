import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fieldReader,
  isReportedField,
  reportedFieldRows,
  sameReportedFields,
  storedFieldName,
  targetFieldRows,
  targetTimes,
  type ReportedFields,
} from '../../src/query/target-fields.ts';
import { versionKey } from '../../src/query/version-key.ts';
import { target } from './fleet-fixture.ts';
import { targetArbitrary } from './query-arbitraries.ts';

const rowsOf = (t: Parameters<typeof targetFieldRows>[0]) =>
  Object.fromEntries(
    targetFieldRows(t).map((row) => [
      `${row.field}=${row.text}`,
      { num: row.num, version: row.version, time: row.time },
    ]),
  );

describe('targetFieldRows', () => {
  it('stores labels, properties, facts, releases, health and phase under their field names', () => {
    const rows = rowsOf(
      target('one', {
        labels: { tier: 'gold' },
        properties: { cost: 10, gpu: true, contractEnd: '2025-06-15' },
        facts: { kubernetesVersion: 'v1.29.3', capabilities: { 'nvidia.com/gpu': 2 } },
        desired: { app: '4.3.0' },
        running: { app: '4.2.0' },
      }),
    );
    expect(rows).toEqual({
      'labels.tier=gold': { num: null, version: null, time: null },
      'properties.cost=10': { num: 10, version: null, time: null },
      'properties.gpu=true': { num: null, version: null, time: null },
      'properties.contractEnd=2025-06-15': { num: null, version: null, time: Date.UTC(2025, 5, 15) },
      'key.cost=10': { num: 10, version: null, time: null },
      'key.gpu=true': { num: null, version: null, time: null },
      'key.contractEnd=2025-06-15': { num: null, version: null, time: Date.UTC(2025, 5, 15) },
      'key.tier=gold': { num: null, version: null, time: null },
      'facts.kubernetesVersion=v1.29.3': { num: null, version: versionKey('1.29.3'), time: null },
      'facts.capabilities.nvidia.com/gpu=2': { num: 2, version: null, time: null },
      'desired.app=4.3.0': { num: null, version: versionKey('4.3.0'), time: null },
      'running.app=4.2.0': { num: null, version: versionKey('4.2.0'), time: null },
      'health=healthy': { num: null, version: null, time: null },
      'phase=applied': { num: null, version: null, time: null },
    });
  });

  it('stores one drift row per class the latest drift report holds, and none for a clean one', () => {
    const drifted = targetFieldRows(target('d', { drift: { dangerous: 2, acceptable: 1 } })).filter(
      (row) => row.field === 'drift',
    );
    expect(drifted.map((row) => row.text)).toEqual(['acceptable', 'dangerous']);
    expect(targetFieldRows(target('c', { drift: {} })).filter((row) => row.field === 'drift')).toEqual([]);
    expect(fieldReader('drift')(target('d', { drift: { suspicious: 1 } }), (value) => value === 'suspicious')).toBe(
      true,
    );
    expect(storedFieldName({ kind: 'builtin', name: 'drift' })).toBe('drift');
  });

  it.each([
    [
      'a property over a label of the same key',
      { labels: { region: 'eu-north-1' }, properties: { region: 'eu-west-1' } },
      'key.region=eu-west-1',
    ],
    [
      'a label when no property has the key',
      { labels: { region: 'eu-north-1' }, properties: { tier: 'gold' } },
      'key.region=eu-north-1',
    ],
  ])('resolves a bare key to %s', (_, spec, row) => {
    const fields = Object.keys(rowsOf(target('t', spec))).filter((name) => name.startsWith('key.region='));
    expect(fields).toEqual([row]);
  });

  it('keeps one row per distinct value, carrying the typed columns of each', () => {
    const rows = targetFieldRows(
      target('t', { facts: { kubeletVersions: ['v1.29.1', 'v1.29.1', 'v1.30.0'], a: { b: 10 }, 'a.b': '10' } }),
    );
    expect(rows.filter((row) => row.field === 'facts.kubeletVersions').map((row) => row.text)).toEqual([
      'v1.29.1',
      'v1.30.0',
    ]);
    expect(rows.filter((row) => row.field === 'facts.a.b')).toEqual([
      { field: 'facts.a.b', text: '10', num: 10, version: versionKey('10'), time: null },
    ]);
  });

  it('stores nothing for null, empty objects and arrays, or a target that never reported', () => {
    const rows = targetFieldRows(target('t', { facts: { gone: null, empty: {}, none: [] }, running: null }));
    expect(rows).toEqual([]);
  });
});

describe('storedFieldName', () => {
  it.each([
    [{ kind: 'key', key: 'region' }, 'key.region'],
    [{ kind: 'labels', key: 'app.kubernetes.io/name' }, 'labels.app.kubernetes.io/name'],
    [{ kind: 'facts', key: 'capabilities.nvidia.com/gpu' }, 'facts.capabilities.nvidia.com/gpu'],
    [{ kind: 'running', key: 'app' }, 'running.app'],
    [{ kind: 'builtin', name: 'health' }, 'health'],
    [{ kind: 'builtin', name: 'status' }, undefined],
    [{ kind: 'builtin', name: 'lastSeen' }, undefined],
  ] as const)('of %j is %j', (field, name) => {
    expect(storedFieldName(field)).toBe(name);
  });
});

describe('targetTimes', () => {
  it('gives the epoch milliseconds of the time columns, null for a target never seen', () => {
    const t = {
      ...target('t'),
      enrolledAt: '2025-01-01T00:00:00Z',
      lastSeenAt: null,
      lastChangedAt: '2025-01-02T00:00:00+01:00',
    };
    expect(targetTimes(t)).toEqual({
      enrolledAt: Date.UTC(2025, 0, 1),
      lastSeenAt: null,
      lastChangedAt: Date.UTC(2025, 0, 1, 23),
    });
  });
});

describe('reading one field of a target', () => {
  it('sees exactly the values targetFieldRows stores, for any facts document', () => {
    const key = fc.constantFrom('a', 'b', 'a.b', 'b.c', '', '.', 'a.', 'nvidia.com/gpu');
    const leaf = fc.oneof(
      fc.constantFrom('x', '1', 'v1.2'),
      fc.integer({ min: 0, max: 3 }),
      fc.boolean(),
      fc.constant(null),
    );
    const document = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(key, tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    const path = fc.array(key, { minLength: 1, maxLength: 4 }).map((keys) => keys.join('.'));
    fc.assert(
      fc.property(fc.dictionary(key, document, { maxKeys: 4 }), path, (facts, factPath) => {
        const t = { ...target('t'), facts: facts as never };
        // Rows are unique by text (see the merging test above), so texts are what to compare.
        const stored = new Set(
          targetFieldRows(t)
            .filter((row) => row.field === `facts.${factPath}`)
            .map((row) => row.text),
        );
        const read = new Set<string>();
        fieldReader(`facts.${factPath}`)(t, (value) => {
          read.add(String(value));
          return false;
        });
        expect([...read].sort()).toEqual([...stored].sort());
      }),
      { numRuns: 2000 },
    );
  });
});

describe('reportedFieldRows', () => {
  it('are exactly the rows of targetFieldRows under the fields a report feeds', () => {
    fc.assert(
      fc.property(targetArbitrary(0), (t) => {
        const rows = targetFieldRows(t).filter((row) => isReportedField(row.field));
        expect(reportedFieldRows(t.observed, t.facts)).toEqual(rows);
      }),
      { numRuns: 500 },
    );
  });
});

describe('sameReportedFields', () => {
  it('holds only when a new observation and facts leave every row of the target as it was', () => {
    // The next observation: another target's, or this one's again with a later seq and time
    // and its facts copied (so equal, not the same object).
    const next = fc.tuple(targetArbitrary(0), targetArbitrary(1), fc.boolean()).map(([a, b, repeat]) => ({
      before: a,
      after: repeat
        ? {
            ...a,
            facts: JSON.parse(JSON.stringify(a.facts)) as typeof a.facts,
            observed: a.observed === null ? null : { ...a.observed, seq: 2, reportedAt: b.lastChangedAt },
          }
        : { ...a, facts: b.facts, observed: b.observed },
    }));
    let same = 0;
    fc.assert(
      fc.property(next, ({ before, after }) => {
        const unchanged = sameReportedFields(
          { observed: before.observed, factsJson: JSON.stringify(before.facts) },
          { observed: after.observed, factsJson: JSON.stringify(after.facts) },
        );
        if (!unchanged) return;
        same++;
        expect(rowsOf(after)).toEqual(rowsOf(before));
      }),
      { numRuns: 1000 },
    );
    expect(same).toBeGreaterThan(100);
  });

  const observed: NonNullable<ReportedFields['observed']> = {
    seq: 1,
    generation: 1,
    phase: 'applied',
    health: 'healthy',
    bundles: [{ name: 'app', version: '1.0.0', digest: 'sha256:x' }],
    reportedAt: '2026-01-01T00:00:00Z',
  };
  const before: ReportedFields = { observed, factsJson: '{"a":1}' };

  it.each<[string, ReportedFields]>([
    ['facts', { ...before, factsJson: '{"a":2}' }],
    ['health', { ...before, observed: { ...observed, health: 'degraded' } }],
    ['phase', { ...before, observed: { ...observed, phase: 'failed' } }],
    [
      'a release version',
      { ...before, observed: { ...observed, bundles: [{ ...observed.bundles[0]!, version: '1.1.0' }] } },
    ],
    [
      'a release more',
      {
        ...before,
        observed: { ...observed, bundles: [...observed.bundles, { name: 'b', version: '1.0.0', digest: 'sha256:y' }] },
      },
    ],
    ['no observation', { ...before, observed: null }],
  ])('is false when %s changed', (_, after) => {
    expect(sameReportedFields(before, after)).toBe(false);
  });

  it('is true when only the seq, generation, time and digests changed', () => {
    const next = {
      ...observed,
      seq: 2,
      generation: 2,
      reportedAt: '2026-01-01T00:01:00Z',
      bundles: [{ ...observed.bundles[0]!, digest: 'sha256:z' }],
    };
    expect(sameReportedFields(before, { observed: next, factsJson: '{"a":1}' })).toBe(true);
  });
});
