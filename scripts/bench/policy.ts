/**
 * Policy benchmark: plan a rollout over 100,000 synthetic targets under 50 policies, through
 * the hub's plan path (`flotilla rollout plan`, `POST /v1/rollouts/plan`): a real hub store
 * (SQLite file, the hub's migrations and query index) seeded with the fleet, the 50 policies
 * applied through the policy service, the release published and signed by trust-root keys;
 * each run selects the targets from the fleet index, answers every policy's scope over it,
 * reads one record per class of alike targets, inspects the release and decides each class. Beside it, the pure core alone (`core_plan_ms`: the fleet in
 * memory, with DSSE provenance and signed approvals). Targets carry realistic properties (800
 * tenants, 12 regions with their time zones, compliance classes, capabilities from facts).
 * The last line is one JSON object; the goal is plan_ms under 1000 (the median of the runs).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createHub, openDatabase } from '@flotilla/hub';
import { AuditLog } from '../../packages/hub/src/features/audit/audit-log.ts';
import { seedTargets } from './_seed-targets.ts';
import { generateKeyPair, keyIdOf, signBundle, type Bundle, type Target } from '@flotilla/protocol';
import {
  createPolicyEvaluator,
  importAttestationKeys,
  inspectRelease,
  parsePolicy,
  signApproval,
  verifyApprovals,
  type Attestation,
  type Policy,
  type PolicyDecision,
} from '@flotilla/protocol/policy';

const TARGETS = Number(process.env['BENCH_TARGETS'] ?? 100_000);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 7);
const NOW = Date.parse('2026-05-06T10:00:00Z');

// A seeded generator, so every run plans the same fleet.
let seed = 7;
const random = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

const REGIONS: readonly [string, string][] = [
  ['eu-west-1', 'Europe/Dublin'],
  ['eu-west-2', 'Europe/London'],
  ['eu-central-1', 'Europe/Berlin'],
  ['eu-north-1', 'Europe/Stockholm'],
  ['us-east-1', 'America/New_York'],
  ['us-east-2', 'America/New_York'],
  ['us-west-2', 'America/Los_Angeles'],
  ['ap-southeast-1', 'Asia/Singapore'],
  ['ap-northeast-1', 'Asia/Tokyo'],
  ['sa-east-1', 'America/Sao_Paulo'],
  ['ca-central-1', 'America/Toronto'],
  ['me-south-1', 'Asia/Bahrain'],
];
const TIERS = ['production', 'production', 'staging', 'dev'];
const COMPLIANCE = ['none', 'none', 'none', 'pci', 'hipaa', 'sox'];
const K8S = ['v1.27.16', 'v1.28.15', 'v1.29.10', 'v1.30.6', 'v1.31.2'];
const TENANTS = Array.from({ length: 800 }, (_, i) => `tenant-${i}`);

function makeTarget(i: number): Target {
  const [region, timezone] = pick(REGIONS);
  const compliance = pick(COMPLIANCE);
  return {
    id: `tgt_${i.toString(16).padStart(20, '0')}`,
    name: `cluster-${i}`,
    status: random() < 0.01 ? 'disabled' : 'active',
    labels: { fleet: 'prod', team: `team-${i % 40}` },
    properties: {
      region,
      timezone,
      tenant: pick(TENANTS),
      tier: pick(TIERS),
      compliance,
      ...(compliance === 'pci' ? { 'certification.pci-dss': true } : {}),
    },
    facts: {
      kubernetesVersion: pick(K8S),
      nodeCount: 3 + (i % 20),
      capabilities: { 'pci-dss': compliance === 'pci', ...(random() < 0.1 ? { 'nvidia.com/gpu': 4 } : {}) },
    },
    keyId: 'key',
    desired: { generation: 3, bundles: [{ name: 'payments', version: '2.3.0', digest: `sha256:${'1'.repeat(64)}` }] },
    observed: {
      seq: 9,
      generation: 3,
      phase: 'applied',
      health: random() < 0.95 ? 'healthy' : 'degraded',
      bundles: [{ name: 'payments', version: '2.3.0', digest: `sha256:${'1'.repeat(64)}` }],
      reportedAt: '2026-05-06T09:59:00Z',
    },
    enrolledAt: '2025-01-01T00:00:00Z',
    lastSeenAt: '2026-05-06T09:59:00Z',
    lastChangedAt: '2026-05-01T00:00:00Z',
    lastChangedBy: { kind: 'system', id: 'bench' },
  };
}

function policy(name: string, scope: string, spec: Record<string, unknown>): Policy {
  return parsePolicy({
    apiVersion: 'flotilla.io/v1',
    kind: 'Policy',
    metadata: { name, version: 1 },
    spec: { scope, ...spec },
  });
}

// Fifty policies of every kind: per tenant, per region (windows in the target's zone), per
// compliance class, per tier, and one that names targets, which is matched per target.
const POLICIES: Policy[] = [
  ...Array.from({ length: 20 }, (_, i) =>
    policy(
      `tenant-${i}-rules`,
      `tenant in (tenant-${i * 40}*, tenant-${i}), tier=production`,
      i % 2 === 0
        ? { approvals: { required: 2 } }
        : { windows: { allow: ['Mon-Fri 08:00-18:00'], freezes: ['2026-12-20 to 2027-01-04'] } },
    ),
  ),
  ...REGIONS.map(([region]) =>
    policy(`region-${region}`, `region=${region}`, { windows: { allow: ['Mon-Fri 06:00-22:00', 'Sat 10:00-14:00'] } }),
  ),
  policy('pci', 'compliance=pci', {
    placement: { allowedClasses: ['payments', 'web'] },
    artifacts: {
      allowedRegistries: ['ghcr.io/acme'],
      requireDigests: true,
      minSignatures: 2,
      provenance: { sourceRepositories: ['github.com/acme/*'] },
    },
    approvals: { required: 2 },
  }),
  policy('hipaa', 'compliance=hipaa', { placement: { deniedClasses: ['batch'] }, artifacts: { requireDigests: true } }),
  policy('sox', 'compliance=sox', { approvals: { required: 1, approvers: ['*@acme.example'] } }),
  policy('not-pci', 'compliance!=pci', { placement: { deniedClasses: ['card-vault'] } }),
  policy('prod-artifacts', 'tier=production', {
    artifacts: { allowedRegistries: ['ghcr.io/acme', 'registry.acme.example'], minSignatures: 1 },
  }),
  policy('staging-windows', 'tier=staging', {
    windows: { timezone: 'UTC', allow: ['daily 00:00-24:00'], freezes: ['2026-05-01 to 2026-05-02'] },
  }),
  policy('old-kubernetes', 'facts.kubernetesVersion<1.28', { placement: { requireClass: true } }),
  policy('gpu-nodes', 'facts.capabilities.nvidia.com/gpu>0', {
    placement: { allowedClasses: ['payments', 'gpu-training'] },
  }),
  policy('team-0-7', 'labels.team in (team-0, team-1, team-2, team-3, team-4, team-5, team-6, team-7)', {
    approvals: { required: 1 },
  }),
  policy('canary-clusters', 'name in (cluster-1*, cluster-2*)', {
    windows: { timezone: 'Europe/Berlin', allow: ['Mon-Thu 09:00-15:00'] },
  }),
  ...Array.from({ length: 8 }, (_, i) =>
    policy(`tenant-block-${i}`, `tenant=tenant-${700 + i}`, { placement: { deniedClasses: ['payments'] } }),
  ),
];
if (POLICIES.length !== 50) throw new Error(`expected 50 policies, made ${POLICIES.length}`);

// The release: two release signatures, pinned images, a DSSE provenance statement signed by
// an ECDSA P-256 CI key, and two signed approvals.
const releaseKeys = [generateKeyPair(), generateKeyPair()];
const bundle: Bundle = {
  apiVersion: 'flotilla.io/v1',
  kind: 'Bundle',
  name: 'payments',
  version: '2.4.0',
  resources: [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: 'pay' },
      spec: {
        template: { spec: { containers: [{ name: 'api', image: `ghcr.io/acme/api@sha256:${'a'.repeat(64)}` }] } },
      },
    },
  ],
  placement: { workloadClass: 'payments', capabilities: ['pci-dss'], minKubernetesVersion: '1.28' },
};
const signed = signBundle(bundle, releaseKeys);
const ci = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const statement = Buffer.from(
  JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'payments', digest: { sha256: signed.digest.slice(7) } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: {
        buildType: 'https://example.com/build/v1',
        externalParameters: {},
        resolvedDependencies: [
          { uri: 'git+https://github.com/acme/payments@refs/heads/main', digest: { gitCommit: 'c'.repeat(40) } },
        ],
      },
      runDetails: { builder: { id: 'https://github.com/actions/runner' } },
    },
  }),
);
const type = 'application/vnd.in-toto+json';
const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${type} ${statement.length} `), statement]);
const attestations: Attestation[] = [
  {
    format: 'dsse',
    envelope: {
      payload: statement.toString('base64'),
      payloadType: type,
      signatures: [{ keyid: 'ci', sig: sign('sha256', pae, ci.privateKey).toString('base64') }],
    },
  },
];
const attestationKeys = [
  {
    id: 'ci',
    algorithm: 'ecdsa-p256-sha256' as const,
    publicKey: ci.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  },
];
const approvers = ['alice@acme.example', 'bob@acme.example'].map((identity) => ({ identity, pair: generateKeyPair() }));
const approverKeys = approvers.map(({ identity, pair }) => ({
  id: keyIdOf(pair.publicKey),
  publicKey: pair.publicKey,
  identity,
}));
const approvals = approvers.map(({ identity, pair }) =>
  signApproval(
    {
      apiVersion: 'flotilla.io/v1',
      kind: 'Approval',
      action: 'approve',
      rolloutId: 'ro_bench',
      releaseDigest: signed.digest,
      approver: identity,
      approvedAt: '2026-05-06T09:00:00Z',
    },
    pair,
  ),
);

const fleet = Array.from({ length: TARGETS }, (_, i) => makeTarget(i));

function plan(): { decisions: PolicyDecision[]; computed: number } {
  const release = inspectRelease(signed, attestations, {
    releaseKeys: releaseKeys.map((key) => ({ id: keyIdOf(key.publicKey), publicKey: key.publicKey })),
    attestationKeys: importAttestationKeys(attestationKeys),
  });
  const verified = verifyApprovals(
    approvals,
    { rolloutId: 'ro_bench', releaseDigest: signed.digest, author: 'carol@acme.example', action: 'approve' },
    approverKeys,
  );
  const evaluator = createPolicyEvaluator(POLICIES, {
    release,
    author: 'carol@acme.example',
    approvals: verified,
    now: NOW,
  });
  const decisions = evaluator.plan(fleet).map((entry) => entry.decision);
  return { decisions, computed: evaluator.computed };
}

// The same fleet in a real hub store, the policies applied and the release published through the hub.
const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-policy-'));
const db = openDatabase(join(dir, 'hub.db'));
seedTargets(db, fleet, 9);
const hub = await createHub({
  db,
  log: pino({ level: 'silent' }),
  keys: { hub: generateKeyPair(), root: generateKeyPair() },
  clock: () => NOW,
  rolloutPollMs: 0,
  audit: (d) => new AuditLog({ db: d, clock: () => NOW, signer: generateKeyPair() }),
});
const bench = { kind: 'user', id: 'bench' } as const;
for (const key of releaseKeys) hub.services.trust.addReleaseKey(key.publicKey, undefined, bench);
for (const key of attestationKeys) hub.services.trust.addAttestationKey(key.publicKey, key.id, bench);
hub.services.bundles.publish(
  { ...signed, attestations },
  { kind: 'user', tokenId: 'tok_bench', name: 'bench', role: 'admin' },
);
for (const entry of POLICIES) hub.services.policies.apply(entry, bench);
for (const { identity, pair } of approvers) hub.services.trust.addApproverKey(pair.publicKey, identity, bench);

// The hub verifies the release's stored attestations once per plan, as the pure core does.
function hubPlan(): { included: number } {
  const { view } = hub.services.planner.plan({
    release: `${bundle.name}@${bundle.version}`,
    selector: undefined,
    author: { kind: 'user', id: 'carol@acme.example' },
    approvals: verifyApprovals(
      approvals,
      { rolloutId: 'ro_bench', releaseDigest: signed.digest, author: 'carol@acme.example', action: 'approve' },
      approverKeys,
    ),
    limit: 0,
    audit: false,
  });
  return { included: view.totals.included };
}

const medianOf = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
function measure<T>(run: () => T): { last: T; times: number[]; cpu: number[] } {
  let last = run();
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    const startCpu = process.cpuUsage();
    last = run();
    const used = process.cpuUsage(startCpu);
    times.push(performance.now() - start);
    cpu.push((used.user + used.system) / 1000);
  }
  return { last, times, cpu };
}

const core = measure(plan);
const viaHub = measure(hubPlan);
await hub.close();
db.close();
rmSync(dir, { recursive: true, force: true });
const last = core.last;
const median = medianOf(viaHub.times);
const included = last.decisions.filter((decision) => decision.included).length;
const byKind: Record<string, number> = {};
for (const decision of last.decisions)
  if (!decision.included) for (const reason of decision.reasons) byKind[reason.kind] = (byKind[reason.kind] ?? 0) + 1;

console.log(
  `targets: ${TARGETS}, policies: ${POLICIES.length}; included ${included}, blocked ${TARGETS - included}; block reasons by kind ${JSON.stringify(byKind)}`,
);
console.log(`distinct decisions computed per plan: ${last.computed}`);
console.log(
  `pure core runs (ms): ${core.times.map((t) => t.toFixed(1)).join(' ')}; median ${medianOf(core.times).toFixed(1)} ms`,
);
console.log(
  `hub plan path runs (ms): ${viaHub.times.map((t) => t.toFixed(1)).join(' ')}; median ${median.toFixed(1)} ms (goal < 1000 ms); CPU time median ${medianOf(viaHub.cpu).toFixed(1)} ms; included ${viaHub.last.included}`,
);
console.log(
  JSON.stringify({
    name: 'policy',
    targets: TARGETS,
    policies: POLICIES.length,
    plan_ms: Number(median.toFixed(1)),
    hub_included: viaHub.last.included,
    plan_cpu_ms: Number(medianOf(viaHub.cpu).toFixed(1)),
    core_plan_ms: Number(medianOf(core.times).toFixed(1)),
    included,
    decisions_computed: last.computed,
  }),
);
