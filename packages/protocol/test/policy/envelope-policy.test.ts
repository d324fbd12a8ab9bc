import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyIdOf } from '../../src/crypto/keys.ts';
import { signApproval, type ApproverKey, type SignedApproval } from '../../src/policy/approval.ts';
import {
  buildEnvelopePolicy,
  checkEnvelopePolicy,
  EnvelopePolicy,
  type EnvelopePolicyTrust,
} from '../../src/policy/envelope-policy.ts';
import { parsePolicy } from '../../src/policy/parse-policy.ts';
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

const builder = ecdsaSigner('ci-builder');
const alice = generateKeyPair();
const bob = generateKeyPair();
const approverKeys: ApproverKey[] = [
  { id: keyIdOf(alice.publicKey), publicKey: alice.publicKey, identity: 'alice' },
  { id: keyIdOf(bob.publicKey), publicKey: bob.publicKey, identity: 'bob' },
];
const trust: EnvelopePolicyTrust = { approverKeys, releaseKeys: releaseTrust, attestationKeys: [builder.key] };
const INSIDE = new Date('2026-05-06T10:00:00Z'); // Wednesday 12:00 in Berlin
const OUTSIDE = new Date('2026-05-06T20:00:00Z'); // Wednesday 22:00 in Berlin

const policies = [
  parsePolicy({
    apiVersion: 'flotilla.io/v1',
    kind: 'Policy',
    metadata: { name: 'acme-pci', version: 3 },
    spec: {
      scope: 'tenant=acme',
      artifacts: {
        requireDigests: true,
        allowedRegistries: ['ghcr.io/acme'],
        minSignatures: 1,
        provenance: { builders: ['https://github.com/actions/runner/*'] },
      },
      approvals: { required: 2 },
      windows: { allow: ['Mon-Fri 09:00-16:00'], emergencyOverride: { approvals: 1 } },
    },
  }),
];
const target = makeTarget({ properties: { tenant: 'acme', timezone: 'Europe/Berlin' } });
const release = signedRelease([PINNED_INIT, PINNED], 1);
const attestations: Attestation[] = [
  { format: 'dsse', envelope: dsseEnvelope(statement(hexOf(release.digest)), [builder]) },
];

function approve(
  who: 'alice' | 'bob',
  action: 'approve' | 'override-window' = 'approve',
  digest = release.digest,
): SignedApproval {
  return signApproval(
    {
      apiVersion: 'flotilla.io/v1',
      kind: 'Approval',
      action,
      rolloutId: 'ro_7',
      releaseDigest: digest,
      approver: who,
      approvedAt: '2026-05-06T09:00:00Z',
    },
    who === 'alice' ? alice : bob,
  );
}

function section(
  approvals: SignedApproval[] = [approve('alice'), approve('bob')],
  bundleAttestations: Attestation[] = attestations,
) {
  return buildEnvelopePolicy(policies, target, {
    rolloutId: 'ro_7',
    author: 'carol',
    releaseDigest: release.digest,
    approvals,
    attestations: bundleAttestations,
  });
}

describe('the policy section of an envelope', () => {
  it("writes the target's zone into windows that take it, and parses back as itself", () => {
    const built = section();
    expect(built.rules[0]).toMatchObject({ policy: 'acme-pci@3', windows: { timezone: 'Europe/Berlin' } });
    expect(EnvelopePolicy.parse(JSON.parse(JSON.stringify(built)))).toEqual(built);
  });

  it('lets a change through when every rule holds', () => {
    expect(checkEnvelopePolicy(section(), [release], trust, INSIDE)).toEqual({ allowed: true, overrides: [] });
  });
});

describe('the agent refuses a tampered or late change', () => {
  it.each<[string, () => { section: EnvelopePolicy; bundles?: (typeof release)[]; now?: Date }, string]>([
    ['whose approvals the hub removed', () => ({ section: { ...section(), approvals: [] } }), 'approvals.required'],
    [
      'whose approval the hub altered',
      () => {
        const tampered = approve('bob');
        return {
          section: section([approve('alice'), { ...tampered, approval: { ...tampered.approval, rolloutId: 'ro_8' } }]),
        };
      },
      'approvals.required',
    ],
    [
      'whose second approval is the same person again',
      () => ({ section: section([approve('alice'), approve('alice')]) }),
      'approvals.required',
    ],
    [
      'approved for another release',
      () => ({ section: section([approve('alice', 'approve', `sha256:${'9'.repeat(64)}`), approve('bob')]) }),
      'approvals.required',
    ],
    ['delivered outside its window', () => ({ section: section(), now: OUTSIDE }), 'windows.allow'],
    [
      'with an image by tag where digests are required',
      () => {
        const tagged = signedRelease([PINNED_INIT, 'ghcr.io/acme/api:2.4.0'], 1);
        const built = buildEnvelopePolicy(policies, target, {
          rolloutId: 'ro_7',
          author: 'carol',
          releaseDigest: tagged.digest,
          approvals: [approve('alice', 'approve', tagged.digest), approve('bob', 'approve', tagged.digest)],
          attestations: [{ format: 'dsse', envelope: dsseEnvelope(statement(hexOf(tagged.digest)), [builder]) }],
        });
        return { section: built, bundles: [tagged] };
      },
      'artifacts.requireDigests',
    ],
    ['without the required provenance', () => ({ section: section(undefined, []) }), 'artifacts.provenance'],
    [
      'whose provenance attests another release',
      () => ({
        section: section(undefined, [{ format: 'dsse', envelope: dsseEnvelope(statement('0'.repeat(64)), [builder]) }]),
      }),
      'artifacts.provenance',
    ],
    ['whose release is not among the bundles', () => ({ section: section(), bundles: [] }), 'release'],
  ])('refuses a change %s', (_, make, rule) => {
    const { section: built, bundles, now } = make();
    const result = checkEnvelopePolicy(built, bundles ?? [release], trust, now ?? INSIDE);
    expect(result).toMatchObject({ allowed: false, refusal: { rule } });
  });

  it('lets a signed emergency override through a closed window, and says so', () => {
    expect(
      checkEnvelopePolicy(
        section([approve('alice'), approve('bob'), approve('alice', 'override-window')]),
        [release],
        trust,
        OUTSIDE,
      ),
    ).toEqual({ allowed: true, overrides: ['window:acme-pci@3'] });
  });

  it('does not count an approval as an override, nor an override as an approval', () => {
    const result = checkEnvelopePolicy(
      section([approve('alice'), approve('bob', 'override-window')]),
      [release],
      trust,
      INSIDE,
    );
    expect(result).toMatchObject({ allowed: false, refusal: { rule: 'approvals.required' } });
  });
});
