import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyIdOf, signPayload, type KeyPair } from '../../src/crypto/keys.ts';
import type { TrustRoot } from '../../src/documents/trust-root.ts';
import { parsePolicy } from '../../src/policy/parse-policy.ts';
import {
  policiesForTarget,
  policySetDigest,
  verifyPolicySet,
  type PolicySet,
  type SignedPolicySet,
} from '../../src/policy/policy-set.ts';

const [first, second, outsider] = [generateKeyPair(), generateKeyPair(), generateKeyPair()] as const;
const entry = (key: KeyPair, role: 'policy' | 'release') => ({
  id: keyIdOf(key.publicKey),
  publicKey: key.publicKey,
  roles: [role],
});
const root: TrustRoot = {
  apiVersion: 'flotilla.io/v1',
  kind: 'TrustRoot',
  hubId: 'hub_a',
  version: 3,
  keys: [entry(first, 'policy'), entry(second, 'policy'), entry(outsider, 'release')],
  thresholds: { root: 1, release: 1, policy: 2 },
  issuedAt: '2026-12-01T00:00:00.000Z',
};

function policy(name: string, scope: string) {
  return {
    ...parsePolicy({
      apiVersion: 'flotilla.io/v1',
      kind: 'Policy',
      metadata: { name },
      spec: { scope, artifacts: { requireDigests: true } },
    }),
    metadata: { name, version: 1 },
  };
}

function set(version: number, policies = [policy('prod', 'tier=prod')]): PolicySet {
  return {
    apiVersion: 'flotilla.io/v1',
    kind: 'PolicySet',
    hubId: 'hub_a',
    version,
    policies,
    issuedAt: '2026-12-02T00:00:00.000Z',
  };
}

const signed = (body: PolicySet, keys: readonly KeyPair[]): SignedPolicySet => ({
  policySet: body,
  signatures: keys.map((key) => signPayload('policy-set', body, key)),
});

describe('verifying a policy set', () => {
  it('accepts a set signed by the threshold of distinct policy keys', () => {
    expect(verifyPolicySet(signed(set(2), [first, second]), root, undefined).version).toBe(2);
  });

  it('counts one policy key signing twice once', () => {
    expect(() => verifyPolicySet(signed(set(2), [first, first]), root, undefined)).toThrow(
      /1 valid signatures .* 2 are required/,
    );
  });

  it('does not count a key of another role', () => {
    expect(() => verifyPolicySet(signed(set(2), [first, outsider]), root, undefined)).toThrow(
      expect.objectContaining({
        code: 'POLICY_REFUSED',
        details: expect.objectContaining({ rule: 'policySet.signatures' }),
      }),
    );
  });

  it('refuses a set altered after signing', () => {
    const good = signed(set(2), [first, second]);
    const altered = { ...good, policySet: { ...good.policySet, policies: [] } };
    expect(() => verifyPolicySet(altered, root, undefined)).toThrow(/0 valid signatures/);
  });

  it("refuses another hub's set", () => {
    expect(() => verifyPolicySet(signed({ ...set(2), hubId: 'hub_b' }, [first, second]), root, undefined)).toThrow(
      /for hub hub_b/,
    );
  });

  it('refuses a version older than the one accepted, and a different set under the same version', () => {
    const accepted = { version: 4, digest: policySetDigest(set(4)) };
    expect(() => verifyPolicySet(signed(set(3), [first, second]), root, accepted)).toThrow(/older than v4/);
    expect(verifyPolicySet(signed(set(4), [first, second]), root, accepted).version).toBe(4);
    expect(() => verifyPolicySet(signed(set(4, []), [first, second]), root, accepted)).toThrow(
      /two sets under one version/,
    );
  });
});

describe('scoping a policy set to a target', () => {
  it('keeps the policies whose scopes select the target by its signed record', () => {
    const body = set(1, [policy('prod', 'tier=prod'), policy('eu', 'region=eu-*'), policy('all', '')]);
    const record = { name: 'edge-1', labels: {}, properties: { tier: 'prod' }, facts: {} };
    expect(policiesForTarget(body, 'tg_1', record, new Date()).map((p) => p.metadata.name)).toEqual(['prod', 'all']);
  });
});
