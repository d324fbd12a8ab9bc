/** A small, hand-made fleet for table-driven evaluation tests. */
import type { Target } from '../../src/documents/target.ts';

export const NOW = Date.parse('2025-06-01T12:00:00Z');
const DIGEST = `sha256:${'0'.repeat(64)}`;
let counter = 0;

interface TargetSpec {
  readonly status?: Target['status'];
  readonly labels?: Target['labels'];
  readonly properties?: Target['properties'];
  readonly facts?: Record<string, unknown>;
  readonly desired?: Record<string, string>;
  /** Releases reported running; `null` for a target that never reported. */
  readonly running?: Record<string, string> | null;
  readonly health?: 'healthy' | 'degraded';
  readonly daysSinceSeen?: number | null;
  readonly daysSinceChanged?: number;
  /** Drift items by class, as the latest drift report counted them; absent: never reported. */
  readonly drift?: Partial<NonNullable<Target['drift']>['counts']>;
}

const refs = (releases: Record<string, string>) =>
  Object.entries(releases).map(([name, version]) => ({ name, version, digest: DIGEST }));
const daysAgo = (days: number) => new Date(NOW - days * 86_400_000).toISOString();

export function target(name: string, spec: TargetSpec = {}): Target {
  counter += 1;
  return {
    id: `tgt_${counter.toString(16).padStart(20, '0')}`,
    name,
    status: spec.status ?? 'active',
    labels: spec.labels ?? {},
    properties: spec.properties ?? {},
    facts: spec.facts ?? {},
    keyId: 'key-1',
    desired: { generation: 1, bundles: refs(spec.desired ?? {}) },
    observed:
      spec.running === null || spec.running === undefined
        ? null
        : {
            seq: 1,
            generation: 1,
            phase: 'applied',
            health: spec.health ?? 'healthy',
            bundles: refs(spec.running),
            reportedAt: daysAgo(0),
          },
    ...(spec.drift === undefined
      ? {}
      : {
          drift: {
            counts: { acceptable: 0, transient: 0, suspicious: 0, dangerous: 0, ...spec.drift },
            intentional: 0,
            seq: 1,
            reportedAt: daysAgo(0),
          },
        }),
    enrolledAt: daysAgo(365),
    lastSeenAt: spec.daysSinceSeen === null ? null : daysAgo(spec.daysSinceSeen ?? 0),
    lastChangedAt: daysAgo(spec.daysSinceChanged ?? 1),
    lastChangedBy: { kind: 'user', id: 'alice' },
  };
}

/** Eight targets that between them exercise every kind of field. */
export const FLEET: readonly Target[] = [
  target('atlas-eu-old', {
    labels: { region: 'eu-north-1', 'app.kubernetes.io/name': 'web' },
    properties: { region: 'eu-west-1', owner: 'atlas', tier: 'production', cost: 10 },
    facts: {
      kubernetesVersion: 'v1.28.4',
      kubeletVersions: ['v1.28.4', 'v1.29.1'],
      nodeCount: 3,
      capabilities: { 'nvidia.com/gpu': 2 },
    },
    desired: { app: '4.2.7' },
    running: { app: '4.2.7' },
    daysSinceChanged: 45,
    drift: { acceptable: 1, dangerous: 1 },
  }),
  target('atlas-eu-fresh', {
    properties: { region: 'eu-central-1', owner: 'atlas', tier: 'production', cost: '9' },
    facts: { kubernetesVersion: 'v1.30.0', kubeletVersions: ['v1.30.0'], nodeCount: 12 },
    desired: { app: '4.3.0' },
    running: { app: '4.2.0' },
    daysSinceChanged: 2,
    drift: {},
  }),
  target('atlas-us', {
    labels: { frozen: 'true' },
    properties: { region: 'us-east-1', owner: 'atlas', tier: 'production' },
    running: { app: '4.20.1' },
    health: 'degraded',
    daysSinceChanged: 60,
  }),
  target('zeus-eu', {
    labels: { region: 'eu-west-1', owner: 'zeus', 'compliance-hold': 'sox' },
    properties: { tier: 'staging', contractEnd: '2025-06-15' },
    running: { app: 'v4.2.1-rc.1', mesh: '1.0.0' },
    daysSinceChanged: 90,
    drift: { suspicious: 2 },
  }),
  target('label-only', {
    labels: { region: 'EU-WEST-1', owner: 'atlas' },
    running: { app: '4.1.9' },
    daysSinceChanged: 40,
  }),
  target('never-seen', {
    status: 'disabled',
    running: null,
    daysSinceSeen: null,
    properties: { owner: 'atlas' },
    daysSinceChanged: 31,
  }),
  target('revoked', {
    status: 'revoked',
    properties: { region: 'ap-south-1', tier: 'production', 'odd value': 'x' },
    labels: { note: 'a*b' },
  }),
  target('stale', {
    properties: { region: 'eu-north-1', owner: 'hermes', contractEnd: '2025-07-01T00:00:00+02:00' },
    daysSinceSeen: 3,
    running: { app: 'latest' },
  }),
];

/** Queries and the names of the targets of {@link FLEET} they select, in fleet order. */
export const SELECTION_CASES: readonly (readonly [string, readonly string[]])[] = [
  // The mission: every cluster running app 4.2 in the EU, owned by team Atlas, not touched in 30 days.
  ['region in (eu-*), owner=atlas, running.app=4.2, lastChanged<now-30d', ['atlas-eu-old']],
  // A bare key is the property when there is one, else the label; globs are case-sensitive.
  ['region=eu-west-1', ['atlas-eu-old', 'zeus-eu']],
  ['labels.region=eu-north-1', ['atlas-eu-old']],
  ['region=eu-*', ['atlas-eu-old', 'atlas-eu-fresh', 'zeus-eu', 'stale']],
  ['region=EU-*', ['label-only']],
  ['owner=atlas', ['atlas-eu-old', 'atlas-eu-fresh', 'atlas-us', 'label-only', 'never-seen']],
  // Inequality and notin also select targets that lack the field, as in Kubernetes.
  ['owner!=atlas', ['zeus-eu', 'revoked', 'stale']],
  ['tier notin (production)', ['zeus-eu', 'label-only', 'never-seen', 'stale']],
  ['region in (us-*, ap-*)', ['atlas-us', 'revoked']],
  // Existence.
  ['labels.frozen', ['atlas-us']],
  ['!labels.frozen, !labels.compliance-hold, tier=production', ['atlas-eu-old', 'atlas-eu-fresh', 'revoked']],
  ['labels."app.kubernetes.io/name"=web', ['atlas-eu-old']],
  ['"odd value"', ['revoked']],
  ['note="a\\*b"', ['revoked']],
  // Versions: a partial version is its whole line; order is semver order.
  ['running.app=4.2', ['atlas-eu-old', 'atlas-eu-fresh', 'zeus-eu']],
  ['running.app=4.2.0', ['atlas-eu-fresh']],
  ['running.app=v4.2.7', ['atlas-eu-old']],
  ['running.app=latest', ['stale']],
  ['running.app>=4.2', ['atlas-eu-old', 'atlas-eu-fresh', 'atlas-us', 'zeus-eu']],
  ['running.app<4.2.1', ['atlas-eu-fresh', 'zeus-eu', 'label-only']],
  ['running.mesh', ['zeus-eu']],
  ['desired.app=4.3', ['atlas-eu-fresh']],
  ['facts.kubernetesVersion<1.29', ['atlas-eu-old']],
  ['facts.kubeletVersions>=1.29', ['atlas-eu-old', 'atlas-eu-fresh']],
  [
    'not facts.kubeletVersions<1.29',
    ['atlas-eu-fresh', 'atlas-us', 'zeus-eu', 'label-only', 'never-seen', 'revoked', 'stale'],
  ],
  // Numbers compare as numbers; strings holding numbers compare as versions.
  ['cost>9.5', ['atlas-eu-old']],
  ['cost>=9', ['atlas-eu-old', 'atlas-eu-fresh']],
  ['facts.nodeCount>4', ['atlas-eu-fresh']],
  ['facts.capabilities.nvidia.com/gpu>=1', ['atlas-eu-old']],
  // Times.
  ['lastSeen<now-1d', ['stale']],
  ['!lastSeen', ['never-seen']],
  ['lastChanged<2025-04-01', ['zeus-eu']],
  ['contractEnd<now+20d', ['zeus-eu']],
  ['contractEnd<2025-06-30T23:00:00Z', ['zeus-eu', 'stale']],
  // Builtins.
  ['status!=active', ['never-seen', 'revoked']],
  ['health=degraded', ['atlas-us']],
  ['!health', ['never-seen', 'revoked']],
  ['name=atlas-*', ['atlas-eu-old', 'atlas-eu-fresh', 'atlas-us']],
  // Drift: each class present in the latest drift report; a clean report holds none.
  ['drift=dangerous', ['atlas-eu-old']],
  ['drift in (suspicious, dangerous)', ['atlas-eu-old', 'zeus-eu']],
  ['drift', ['atlas-eu-old', 'zeus-eu']],
  ['!drift', ['atlas-eu-fresh', 'atlas-us', 'label-only', 'never-seen', 'revoked', 'stale']],
  ['drift!=acceptable, owner=atlas', ['atlas-eu-fresh', 'atlas-us', 'label-only', 'never-seen']],
  // Combinations.
  ['owner=atlas or owner=zeus, region=eu-*', ['atlas-eu-old', 'atlas-eu-fresh', 'zeus-eu']],
  ['not (owner=atlas or owner=zeus)', ['revoked', 'stale']],
  ['', FLEET.map((target) => target.name)],
];
