import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Target } from '../../src/documents/target.ts';
import { generateKeyPair, keyIdOf } from '../../src/crypto/keys.ts';
import { signApproval, verifyApprovals, type ApproverKey, type SignedApproval } from '../../src/policy/approval.ts';
import { importAttestationKeys } from '../../src/policy/attestation-keys.ts';
import { createPolicyEvaluator, type RolloutContext } from '../../src/policy/evaluate-policies.ts';
import { inspectRelease, type ReleaseFacts } from '../../src/policy/inspect-release.ts';
import { parsePolicy } from '../../src/policy/parse-policy.ts';
import type { Policy, PolicyInput } from '../../src/policy/policy-document.ts';
import type { Attestation } from '../../src/policy/verify-provenance.ts';
import {
  dsseEnvelope,
  ecdsaSigner,
  hexOf,
  makeTarget,
  PINNED,
  PINNED_INIT,
  releaseTrust,
  signedRelease,
  statement,
} from './policy-fixtures.ts';

const NOW = Date.parse('2026-05-06T10:00:00Z'); // a Wednesday: 12:00 in Berlin, 06:00 in New York
const builder = ecdsaSigner('ci-builder');
const attestationKeys = importAttestationKeys([builder.key]);
const alice = generateKeyPair();
const bob = generateKeyPair();
const approverKeys: ApproverKey[] = [
  { id: keyIdOf(alice.publicKey), publicKey: alice.publicKey, identity: 'alice' },
  { id: keyIdOf(bob.publicKey), publicKey: bob.publicKey, identity: 'bob' },
];

function policy(name: string, scope: string, spec: Omit<PolicyInput['spec'], 'scope'>): Policy {
  return parsePolicy({
    apiVersion: 'flotilla.io/v1',
    kind: 'Policy',
    metadata: { name, version: 1 },
    spec: { scope, ...spec },
  });
}

function release(
  options: {
    images?: string[];
    signers?: number;
    attest?: boolean;
    placement?: Parameters<typeof signedRelease>[2];
  } = {},
): ReleaseFacts {
  const signed = signedRelease(
    options.images ?? [PINNED_INIT, PINNED],
    options.signers ?? 2,
    options.placement ?? { workloadClass: 'payments', capabilities: ['pci-dss'] },
  );
  const attestations: Attestation[] =
    options.attest === false
      ? []
      : [{ format: 'dsse', envelope: dsseEnvelope(statement(hexOf(signed.digest)), [builder]) }];
  return inspectRelease(signed, attestations, { releaseKeys: releaseTrust, attestationKeys });
}

function context(facts: ReleaseFacts, approvers: readonly ('alice' | 'bob')[] = []): RolloutContext {
  const approvals: SignedApproval[] = approvers.map((who) =>
    signApproval(
      {
        apiVersion: 'flotilla.io/v1',
        kind: 'Approval',
        action: 'approve',
        rolloutId: 'ro_1',
        releaseDigest: facts.digest,
        approver: who,
        approvedAt: '2026-05-06T09:00:00Z',
      },
      who === 'alice' ? alice : bob,
    ),
  );
  return {
    release: facts,
    author: 'carol',
    approvals: verifyApprovals(
      approvals,
      { rolloutId: 'ro_1', releaseDigest: facts.digest, author: 'carol', action: 'approve' },
      approverKeys,
    ),
    now: NOW,
  };
}

const pci = (extra: Partial<Parameters<typeof makeTarget>[0]> = {}): Target =>
  makeTarget({
    properties: { tenant: 'acme', compliance: 'pci', region: 'eu-west-1', timezone: 'Europe/Berlin' },
    facts: { capabilities: { 'pci-dss': true } },
    ...extra,
  });

const POLICIES = [
  policy('acme-approvals', 'tenant=acme', { approvals: { required: 2 } }),
  policy('pci-zone', 'compliance=pci', {
    placement: { allowedClasses: ['payments'] },
    artifacts: {
      allowedRegistries: ['ghcr.io/acme'],
      requireDigests: true,
      minSignatures: 2,
      provenance: { sourceRepositories: ['github.com/acme/*'] },
    },
  }),
  policy('eu-office-hours', 'region=eu-*', { windows: { allow: ['Mon-Fri 09:00-16:00'] } }),
  policy('payments-only-in-pci', 'compliance!=pci', { placement: { deniedClasses: ['payments'] } }),
];

describe('evaluating policies for a target', () => {
  it('includes a target when every rule of every matching policy passes, naming them all', () => {
    const decision = createPolicyEvaluator(POLICIES, context(release(), ['alice', 'bob'])).evaluate(pci());
    expect(decision).toEqual({ included: true, policies: ['acme-approvals@1', 'eu-office-hours@1', 'pci-zone@1'] });
  });

  it('blocks with every reason, each naming its policy', () => {
    const facts = release({ images: ['docker.io/library/nginx:1.27', PINNED], signers: 1, attest: false });
    const decision = createPolicyEvaluator(POLICIES, {
      ...context(facts, ['alice']),
      now: Date.parse('2026-05-06T18:00:00Z'),
    }).evaluate(pci());
    expect(decision.included).toBe(false);
    if (decision.included) return;
    expect(decision.reasons.map((reason) => [reason.kind, reason.rule, reason.policy])).toEqual([
      ['approval', 'approvals.required', 'acme-approvals@1'],
      ['window', 'windows.allow', 'eu-office-hours@1'],
      ['artifact', 'artifacts.allowedRegistries', 'pci-zone@1'],
      ['artifact', 'artifacts.requireDigests', 'pci-zone@1'],
      ['artifact', 'artifacts.minSignatures', 'pci-zone@1'],
      ['artifact', 'artifacts.provenance', 'pci-zone@1'],
    ]);
    expect(decision.reasons[1]).toMatchObject({ nextOpening: '2026-05-07T07:00:00.000Z' });
  });

  it('blocks payments outside PCI targets by placement, and for missing capabilities', () => {
    const decision = createPolicyEvaluator(POLICIES, context(release(), ['alice', 'bob'])).evaluate(
      makeTarget({ properties: { tenant: 'zeus', region: 'us-east-1' } }),
    );
    expect(decision).toMatchObject({
      included: false,
      policies: ['payments-only-in-pci@1'],
      reasons: [
        { kind: 'placement', rule: 'requirements.capabilities' },
        { kind: 'placement', rule: 'placement.deniedClasses', policy: 'payments-only-in-pci@1' },
      ],
    });
  });

  it('lets the strictest approval count win when two policies match', () => {
    const strict = [...POLICIES, policy('acme-eu-dual', 'tenant=acme, region=eu-*', { approvals: { required: 3 } })];
    const decision = createPolicyEvaluator(strict, context(release(), ['alice', 'bob'])).evaluate(pci());
    expect(decision).toMatchObject({
      included: false,
      reasons: [
        {
          kind: 'approval',
          policy: 'acme-eu-dual@1',
          message: expect.stringMatching(/needs 3 .* has 2 \(alice, bob\)/),
        },
      ],
    });
  });

  it('needs every window open when two policies set windows', () => {
    const both = [
      ...POLICIES,
      policy('ny-nights', 'tenant=acme', { windows: { timezone: 'America/New_York', allow: ['daily 20:00-05:00'] } }),
    ];
    const decision = createPolicyEvaluator(both, context(release(), ['alice', 'bob'])).evaluate(pci());
    expect(decision).toMatchObject({
      included: false,
      reasons: [{ kind: 'window', policy: 'ny-nights@1', nextOpening: '2026-05-07T00:00:00.000Z' }],
    });
  });

  it('needs every registry list to allow an image', () => {
    const both = [
      ...POLICIES,
      policy('acme-registry', 'tenant=acme', { artifacts: { allowedRegistries: ['registry.acme.example'] } }),
    ];
    const decision = createPolicyEvaluator(both, context(release(), ['alice', 'bob'])).evaluate(pci());
    expect(decision).toMatchObject({
      included: false,
      reasons: [{ rule: 'artifacts.allowedRegistries', policy: 'acme-registry@1' }],
    });
  });

  it("blocks a target without a timezone when its policy's windows need one", () => {
    const decision = createPolicyEvaluator(POLICIES, context(release(), ['alice', 'bob'])).evaluate(
      pci({ properties: { tenant: 'acme', compliance: 'pci', region: 'eu-west-1' } }),
    );
    expect(decision).toMatchObject({
      included: false,
      reasons: [{ rule: 'windows.timezone', policy: 'eu-office-hours@1' }],
    });
  });

  it('blocks a disabled target', () => {
    expect(
      createPolicyEvaluator([], context(release())).evaluate(
        makeTarget({ status: 'disabled', facts: { capabilities: { 'pci-dss': true } } }),
      ),
    ).toEqual({
      included: false,
      policies: [],
      reasons: [{ kind: 'target', rule: 'status', message: 'the target is disabled' }],
    });
  });

  it('lets signed override-window approvals through a closed window where the policy allows it', () => {
    const facts = release();
    const overridable = [
      policy('eu-office-hours', 'region=eu-*', {
        windows: { allow: ['Mon-Fri 09:00-16:00'], emergencyOverride: { approvals: 1 } },
      }),
    ];
    const override = signApproval(
      {
        apiVersion: 'flotilla.io/v1',
        kind: 'Approval',
        action: 'override-window',
        rolloutId: 'ro_1',
        releaseDigest: facts.digest,
        approver: 'bob',
        approvedAt: '2026-05-06T18:00:00Z',
      },
      bob,
    );
    const overrides = verifyApprovals(
      [override],
      { rolloutId: 'ro_1', releaseDigest: facts.digest, author: 'carol', action: 'override-window' },
      approverKeys,
    );
    const decision = createPolicyEvaluator(overridable, {
      ...context(facts),
      overrides,
      now: Date.parse('2026-05-06T18:00:00Z'),
    }).evaluate(pci());
    expect(decision).toEqual({
      included: true,
      policies: ['eu-office-hours@1'],
      overrides: ['window:eu-office-hours@1'],
    });
  });

  it('refuses two policies with one name', () => {
    expect(() => createPolicyEvaluator([POLICIES[0]!, POLICIES[0]!], context(release()))).toThrow(TypeError);
  });
});

describe('planning over a fleet', () => {
  const regions = ['eu-west-1', 'eu-central-1', 'us-east-1'];
  const zones = ['Europe/Berlin', 'America/New_York', undefined];
  const targetArb = fc.record({
    tenant: fc.constantFrom('acme', 'zeus', undefined),
    compliance: fc.constantFrom('pci', 'none', undefined),
    region: fc.constantFrom(...regions, undefined),
    zone: fc.constantFrom(...zones),
    pciCapable: fc.boolean(),
    status: fc.constantFrom('active', 'active', 'disabled' as const),
    name: fc.constantFrom('a', 'b', 'edge-1'),
    kubelets: fc.array(fc.constantFrom('v1.28.3', 'v1.29.1', 'v1.30.0'), { maxLength: 3 }),
    nodes: fc.constantFrom(3, 7, '7', undefined),
  });
  const build = (spec: {
    tenant: string | undefined;
    compliance: string | undefined;
    region: string | undefined;
    zone: string | undefined;
    pciCapable: boolean;
    status: 'active' | 'disabled';
    name: string;
    kubelets: string[];
    nodes: number | string | undefined;
  }): Target => {
    const properties: Record<string, string> = {};
    if (spec.tenant !== undefined) properties['tenant'] = spec.tenant;
    if (spec.compliance !== undefined) properties['compliance'] = spec.compliance;
    if (spec.region !== undefined) properties['region'] = spec.region;
    if (spec.zone !== undefined) properties['timezone'] = spec.zone;
    return makeTarget({
      name: spec.name,
      status: spec.status,
      properties,
      facts: {
        capabilities: { 'pci-dss': spec.pciCapable },
        kubeletVersions: spec.kubelets,
        ...(spec.nodes === undefined ? {} : { nodeCount: spec.nodes }),
      },
    });
  };

  it('gives every target the decision a fresh evaluator gives it alone, though alike targets share one', () => {
    const withName = [
      ...POLICIES,
      policy('edge-by-name', 'name=edge-*', { approvals: { required: 1 } }),
      policy('old-kubelets', 'facts.kubeletVersions<1.29', {
        placement: { requireClass: true, deniedClasses: ['payments'] },
      }),
      policy('big-clusters', 'facts.nodeCount>5, not tenant=zeus', {
        windows: { timezone: 'Asia/Tokyo', allow: ['Mon-Fri 09:00-17:00'] },
      }),
    ];
    const ctx = context(release(), ['alice']);
    fc.assert(
      fc.property(fc.array(targetArb, { minLength: 1, maxLength: 40 }), (specs) => {
        const targets = specs.map(build);
        const planned = createPolicyEvaluator(withName, ctx).plan(targets);
        targets.forEach((target, index) => {
          expect(planned[index]).toEqual({
            targetId: target.id,
            decision: createPolicyEvaluator(withName, ctx).evaluate(target),
          });
        });
      }),
      { numRuns: 40 },
    );
  });

  it('computes one decision per class of alike targets', () => {
    const evaluator = createPolicyEvaluator(POLICIES, context(release(), ['alice', 'bob']));
    const planned = evaluator.plan(Array.from({ length: 500 }, () => pci()));
    expect(planned.every((entry) => entry.decision.included)).toBe(true);
    expect(evaluator.computed).toBe(1);
  });
});
