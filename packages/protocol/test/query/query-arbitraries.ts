/**
 * fast-check generators shared by the query tests: random fleets and random well-typed
 * queries over the same small vocabularies, so that queries hit, miss and straddle the
 * fleet's values (globs, versions, numbers, times, bare keys shadowed by properties).
 * The hub's SQL property test imports these too.
 */
import fc from 'fast-check';
import type { QueryBound, QueryCompareOp, QueryField, QueryPattern, Query } from '../../src/query/ast.ts';
import type { Target } from '../../src/documents/target.ts';

/** The `now` every generated relative time is resolved against. */
export const NOW = Date.parse('2025-06-01T12:00:00Z');
const DAY = 86_400_000;

const LABEL_KEYS = ['region', 'tier', 'owner', 'app.kubernetes.io/name', 'frozen', 'zone', 'status', 'x'];
const PROPERTY_KEYS = ['region', 'tier', 'owner', 'cost', 'gpu', 'contractEnd', 'zone'];
const RELEASES = ['app', 'mesh', 'db'];
const FACT_PATHS = [
  'kubernetesVersion',
  'kubeletVersions',
  'agentVersion',
  'nodeCount',
  'substrate',
  'capabilities.nvidia.com/gpu',
  'capabilities.fpga',
  'a.b',
  'a.b.c',
  'missing',
];

const LABEL_VALUES = [
  'eu-west-1',
  'eu-north-1',
  'us-east-1',
  'production',
  'staging',
  'atlas',
  'zeus',
  '4.2',
  '4.10',
  'v1.29.3',
  '2024-05-01',
  '',
  'a.b',
  'A',
  'a',
  'true',
  '10',
  '9',
  '1.0.0-rc.1',
  'abc',
];
const ODD_STRINGS = [
  'a*b',
  'x[y]',
  '[a-c]',
  'b',
  'x]y',
  'with space',
  'q"uote',
  'back\\slash',
  'ünï',
  '😀x',
  'in',
  'not',
  'EU-WEST-1',
  '2024-05-01T10:00:00+02:00',
  '2024-02-30',
  'now-1d',
  '?',
  '*',
  'a\nb',
];
const VERSIONS = [
  '4.2+b1',
  '03',
  '4.2',
  '4.2.0',
  '4.2.1',
  'v4.2.3',
  '4.10.0',
  '4.3.0-rc.1',
  '4.3.0',
  'latest',
  '1.0.0+build',
  '5',
  '4.2.0-alpha.1',
  '1.29',
  'v1.29.3',
  '1.30.0',
];
const ISO_TIMES = [
  '2025-05-01',
  '2025-05-31T23:00:00Z',
  '2025-06-01T12:00:00Z',
  '2025-06-01T14:00:00+02:00',
  '2024-12-31T23:59:59.999Z',
  '2025-04-01T00:00:00.5Z',
];
const GLOBS = [
  'eu-*',
  '*-1',
  '4.2.*',
  '?',
  '*',
  'a\\**',
  'x[y]*',
  '*.*',
  '?.?',
  'v*',
  '* *',
  '*e*u*',
  'a*',
  'A*',
  '??',
  '*\\\\*',
  'ü*',
  '😀?',
];

const stringValue = fc.oneof(
  fc.constantFrom(...LABEL_VALUES),
  fc.constantFrom(...ODD_STRINGS),
  fc.constantFrom(...VERSIONS),
  fc.constantFrom(...ISO_TIMES),
);

/**
 * A glob made from a value of the pools by turning one character into `?` or a run into
 * `*`, so that generated globs often match (or just miss) the fleet's values.
 */
const derivedGlob: fc.Arbitrary<string> = fc
  .tuple(stringValue, fc.nat(), fc.nat(), fc.boolean())
  .map(([value, a, b, star]) => {
    const chars = Array.from(value);
    const escape = (cs: string[]) => cs.map((c) => (c === '*' || c === '?' || c === '\\' ? `\\${c}` : c)).join('');
    if (chars.length === 0) {
      return '*';
    }
    const from = a % chars.length;
    const to = star ? from + (b % (chars.length - from + 1)) : from + 1;
    return `${escape(chars.slice(0, from))}${star ? '*' : '?'}${escape(chars.slice(to))}`;
  });
const numberValue = fc.oneof(fc.integer({ min: -5, max: 20 }), fc.constantFrom(2.5, 0.1, -0.5, 1e21, 4.2, 10));
const leafValue = fc.oneof(stringValue, numberValue, fc.boolean());

const timestamp = fc.integer({ min: NOW - 120 * DAY, max: NOW + DAY }).map((ms) => new Date(ms).toISOString());
const bundles = fc
  .uniqueArray(fc.constantFrom(...RELEASES), { maxLength: 3 })
  .chain((names) =>
    fc.tuple(
      ...names.map((name) =>
        fc.constantFrom(...VERSIONS).map((version) => ({ name, version, digest: `sha256:${'0'.repeat(64)}` })),
      ),
    ),
  );

const facts = fc.record(
  {
    kubernetesVersion: fc.constantFrom(...VERSIONS),
    kubeletVersions: fc.array(fc.constantFrom(...VERSIONS), { maxLength: 4 }),
    agentVersion: fc.constantFrom(...VERSIONS),
    nodeCount: fc.integer({ min: 0, max: 12 }),
    substrate: fc.constantFrom('eks', 'k3s', 'gke'),
    capabilities: fc.dictionary(
      fc.constantFrom('nvidia.com/gpu', 'fpga'),
      fc.oneof(fc.integer({ min: 0, max: 4 }), fc.boolean(), fc.constantFrom('2', 'yes')),
    ),
    // Nested objects and a dotted key that collide on the same path `a.b`.
    a: fc.oneof(
      fc.record({ b: leafValue }),
      fc.record({ b: fc.record({ c: leafValue }) }),
      fc.array(fc.record({ b: leafValue }), { maxLength: 2 }),
    ),
    'a.b': leafValue,
  },
  { requiredKeys: [] },
);

/** A random target; `index` makes its id and name unique within a fleet. */
export function targetArbitrary(index: number): fc.Arbitrary<Target> {
  return fc
    .record({
      status: fc.constantFrom('active', 'disabled', 'revoked'),
      labels: fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), { maxKeys: 5 }),
      properties: fc.dictionary(fc.constantFrom(...PROPERTY_KEYS), leafValue, { maxKeys: 5 }),
      facts,
      desired: bundles,
      observed: fc.option(
        fc.record({
          bundles,
          health: fc.constantFrom('healthy', 'degraded', 'unknown'),
          phase: fc.constantFrom('applied', 'failed'),
        }),
        { nil: null },
      ),
      // Drift as the latest report counts it: none reported yet, a clean report, or some classes present.
      drift: fc.option(
        fc.record({ acceptable: fc.nat(2), transient: fc.nat(1), suspicious: fc.nat(3), dangerous: fc.nat(1) }),
        { nil: null },
      ),
      enrolledAt: timestamp,
      lastSeenAt: fc.option(timestamp, { nil: null }),
      lastChangedAt: timestamp,
    })
    .map((r) => ({
      id: `tgt_${index.toString(16).padStart(20, '0')}`,
      name: `target-${index}`,
      status: r.status,
      labels: r.labels,
      properties: r.properties,
      facts: r.facts,
      keyId: 'key-1',
      desired: { generation: 1, bundles: r.desired },
      observed:
        r.observed === null
          ? null
          : {
              seq: 1,
              generation: 1,
              phase: r.observed.phase,
              health: r.observed.health,
              bundles: r.observed.bundles,
              reportedAt: r.lastChangedAt,
            },
      ...(r.drift === null ? {} : { drift: { counts: r.drift, intentional: 0, seq: 1, reportedAt: r.lastChangedAt } }),
      enrolledAt: r.enrolledAt,
      lastSeenAt: r.lastSeenAt,
      lastChangedAt: r.lastChangedAt,
      lastChangedBy: { kind: 'system', id: 'test' },
    }));
}

/** A fleet of up to `max` targets with distinct ids and names. */
export function fleetArbitrary(max = 12): fc.Arbitrary<Target[]> {
  return fc
    .integer({ min: 0, max })
    .chain((size) => fc.tuple(...Array.from({ length: size }, (_, i) => targetArbitrary(i))));
}

type Kind = 'text' | 'enum' | 'time' | 'version' | 'dynamic';
const ENUMS: Record<string, string[]> = {
  status: ['active', 'disabled', 'revoked'],
  health: ['healthy', 'progressing', 'degraded', 'missing', 'unknown'],
  phase: ['applied', 'failed', 'stalled', 'idle'],
  drift: ['acceptable', 'transient', 'suspicious', 'dangerous'],
};

const fieldArbitrary: fc.Arbitrary<{ field: QueryField; kind: Kind }> = fc.oneof(
  fc.constantFrom('id', 'name').map((name) => ({ field: { kind: 'builtin', name }, kind: 'text' })),
  fc
    .constantFrom('status', 'health', 'phase', 'drift')
    .map((name) => ({ field: { kind: 'builtin', name }, kind: 'enum' })),
  fc
    .constantFrom('lastSeen', 'lastChanged', 'enrolled')
    .map((name) => ({ field: { kind: 'builtin', name }, kind: 'time' })),
  fc.constantFrom(...LABEL_KEYS, 'unknown').map((key) => ({ field: { kind: 'labels', key }, kind: 'dynamic' })),
  fc.constantFrom(...PROPERTY_KEYS, 'unknown').map((key) => ({ field: { kind: 'properties', key }, kind: 'dynamic' })),
  fc
    .constantFrom(...new Set([...LABEL_KEYS, ...PROPERTY_KEYS, 'unknown', 'with space']))
    .map((key) => ({ field: { kind: 'key', key }, kind: 'dynamic' })),
  fc.constantFrom(...FACT_PATHS).map((key) => ({
    field: { kind: 'facts', key },
    kind: ['kubernetesVersion', 'kubeletVersions', 'agentVersion'].includes(key) ? 'version' : 'dynamic',
  })),
  fc
    .constantFrom(...RELEASES, 'unknown')
    .chain((key) => fc.constantFrom('running', 'desired').map((kind) => ({ field: { kind, key }, kind: 'version' }))),
) as fc.Arbitrary<{ field: QueryField; kind: Kind }>;

function patternArbitrary(kind: Kind, field: QueryField): fc.Arbitrary<QueryPattern> {
  const glob = fc
    .oneof(fc.constantFrom(...GLOBS), derivedGlob)
    .map((pattern): QueryPattern => ({ kind: 'glob', pattern }));
  if (kind === 'enum' && field.kind === 'builtin') {
    return fc.oneof(
      fc.constantFrom(...(ENUMS[field.name] as string[])).map((text): QueryPattern => ({ kind: 'text', text })),
      glob,
    );
  }
  const texts =
    kind === 'text'
      ? fc.constantFrom('target-1', 'target-10', `tgt_${'0'.repeat(19)}2`)
      : fc.oneof(stringValue, fc.integer({ min: -5, max: 20 }).map(String));
  const text = texts.map((t): QueryPattern => ({ kind: 'text', text: t }));
  return fc.oneof(text, glob);
}

const opArbitrary = fc.constantFrom<QueryCompareOp>('<', '<=', '>', '>=');
const timeBound: fc.Arbitrary<QueryBound> = fc.oneof(
  fc
    .integer({ min: -130, max: 2 })
    .chain((amount) =>
      fc
        .constantFrom(DAY, 3_600_000, 60_000, 1_000, 7 * DAY)
        .map((unit): QueryBound => ({ kind: 'time', time: { kind: 'relative', offsetMs: amount * unit } })),
    ),
  fc.constantFrom(...ISO_TIMES).map((iso): QueryBound => ({ kind: 'time', time: { kind: 'absolute', iso } })),
);
const versionBound: fc.Arbitrary<QueryBound> = fc
  .constantFrom('4.2', '4', 'v4.2.1', '4.10', '4.3.0-rc.1', '1.29', '0.9', '10', '1.0.0+build')
  .map((text) => ({ kind: 'scalar', text }));
const numberBound: fc.Arbitrary<QueryBound> = fc
  .constantFrom('-1', '0', '2.5', '10', '9', '3', '-0.5')
  .map((text) => ({ kind: 'scalar', text }));

function conditionArbitrary(): fc.Arbitrary<Query> {
  return fieldArbitrary.chain(({ field, kind }): fc.Arbitrary<Query> => {
    const exists = fc.constant<Query>({ kind: 'exists', field });
    const match = fc
      .array(patternArbitrary(kind, field), { minLength: 1, maxLength: 3 })
      .map((values): Query => ({ kind: 'in', field, values }));
    const compare = (bound: fc.Arbitrary<QueryBound>) =>
      fc.tuple(opArbitrary, bound).map(([op, b]): Query => ({ kind: 'compare', field, op, bound: b }));
    switch (kind) {
      case 'text':
      case 'enum':
        return fc.oneof(exists, match);
      case 'time':
        return fc.oneof(exists, compare(timeBound));
      case 'version':
        return fc.oneof(exists, match, compare(versionBound));
      case 'dynamic':
        return fc.oneof(exists, match, compare(fc.oneof(versionBound, numberBound, timeBound)));
    }
  });
}

/** A random well-typed query: conditions combined with and, or and not, a few levels deep. */
export const queryArbitrary: fc.Arbitrary<Query> = fc.letrec<{ query: Query }>((tie) => ({
  query: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    conditionArbitrary(),
    tie('query').map((item): Query => ({ kind: 'not', item })),
    fc.array(tie('query'), { minLength: 2, maxLength: 3 }).map((items): Query => ({ kind: 'and', items })),
    fc.array(tie('query'), { minLength: 2, maxLength: 3 }).map((items): Query => ({ kind: 'or', items })),
  ),
})).query;

/**
 * A negated condition on a field no generated target has (the keys are outside every pool):
 * `!labels.maintenance`, `quarantine!=x`, `not running.nothere>=3`. It holds for every target.
 */
export const absentNegationArbitrary: fc.Arbitrary<Query> = fc
  .constantFrom<QueryField>(
    { kind: 'labels', key: 'maintenance' },
    { kind: 'properties', key: 'quarantine' },
    { kind: 'key', key: 'compliance-hold' },
    { kind: 'facts', key: 'nothere.at.all' },
    { kind: 'running', key: 'nothere' },
    { kind: 'desired', key: 'nothere' },
  )
  .chain((field) =>
    fc.oneof(
      fc.constant<Query>({ kind: 'exists', field }),
      fc
        .constantFrom<QueryPattern>(
          { kind: 'text', text: 'x' },
          { kind: 'text', text: '4.2' },
          { kind: 'glob', pattern: '*' },
        )
        .map((value): Query => ({ kind: 'in', field, values: [value] })),
      opArbitrary.map((op): Query => ({ kind: 'compare', field, op, bound: { kind: 'scalar', text: '3' } })),
    ),
  )
  .map((item): Query => ({ kind: 'not', item }));
