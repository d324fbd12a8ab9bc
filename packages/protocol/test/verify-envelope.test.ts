import { describe, expect, it } from 'vitest';
import {
  API_VERSION,
  generateKeyPair,
  keyIdOf,
  signBundle,
  signPayload,
  verifyEnvelope,
  verifyEnvelopeHeader,
  verifyTrustRoot,
  type Bundle,
  type Envelope,
  type ErrorCode,
  type SignedBundle,
  type SignedEnvelope,
  type TrustRoot,
  driftPolicyDigest,
} from '../src/index.ts';
import { defaultDriftPolicy } from '../src/drift/index.ts';

const rootKey = generateKeyPair();
const hubKey = generateKeyPair();
const releaseKey = generateKeyPair();
const NOW = new Date('2026-11-28T12:00:00Z');
const TARGET = 'tgt_00000000000000000001';

const trustRoot: TrustRoot = {
  apiVersion: API_VERSION,
  kind: 'TrustRoot',
  hubId: 'hub_test',
  version: 1,
  keys: [
    { id: keyIdOf(rootKey.publicKey), publicKey: rootKey.publicKey, roles: ['root'] },
    { id: keyIdOf(hubKey.publicKey), publicKey: hubKey.publicKey, roles: ['hub'] },
    { id: keyIdOf(releaseKey.publicKey), publicKey: releaseKey.publicKey, roles: ['release'] },
  ],
  thresholds: { root: 1, release: 1 },
  issuedAt: NOW.toISOString(),
};

const bundleContent: Bundle = {
  apiVersion: API_VERSION,
  kind: 'Bundle',
  name: 'app',
  version: '4.2.0',
  resources: [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: { a: '1' } },
  ],
};
const bundle = signBundle(bundleContent, [releaseKey]);

function envelope(overrides: Partial<Envelope> = {}): Envelope {
  return {
    apiVersion: API_VERSION,
    kind: 'Envelope',
    targetId: TARGET,
    generation: 5,
    bundles: [{ name: 'app', version: '4.2.0', digest: bundle.digest, size: JSON.stringify(bundle).length }],
    holds: [],
    trustRootVersion: 1,
    issuedAt: NOW.toISOString(),
    expiresAt: new Date(NOW.getTime() + 3_600_000).toISOString(),
    ...overrides,
  };
}

function signed(value: Envelope, key = hubKey): SignedEnvelope {
  return { envelope: value, signature: signPayload('envelope', value, key) };
}

function check(subject: SignedEnvelope, bundles: SignedBundle[] = [bundle], lastGeneration = 4): ErrorCode | 'ok' {
  try {
    verifyEnvelope(subject, {
      trustRoot,
      targetId: TARGET,
      lastGeneration,
      now: NOW,
      bundles: new Map(bundles.map((b) => [b.digest, b])),
    });
    return 'ok';
  } catch (error) {
    return (error as { code: ErrorCode }).code;
  }
}

describe('verifyEnvelope', () => {
  it('accepts a hub-signed envelope for this target with valid, release-signed bundles', () => {
    expect(check(signed(envelope()))).toBe('ok');
  });

  it('accepts the same generation again, since refetching is not a rollback', () => {
    expect(check(signed(envelope()), [bundle], 5)).toBe('ok');
  });

  const equivocation = (applied: Envelope, next: Envelope): ErrorCode | 'ok' => {
    try {
      verifyEnvelopeHeader(signed(next), { trustRoot, targetId: TARGET, lastGeneration: 5, applied, now: NOW });
      return 'ok';
    } catch (error) {
      return (error as { code: ErrorCode }).code;
    }
  };

  it.each<[string, Partial<Envelope>]>([
    ['a later expiry', { expiresAt: new Date(NOW.getTime() + 7_200_000).toISOString() }],
    ['a later issuedAt', { issuedAt: new Date(NOW.getTime() + 60_000).toISOString() }],
    ['a newer trust root version', { trustRootVersion: 2 }],
  ])('accepts the applied generation signed again with %s', (_name, change) => {
    expect(equivocation(envelope(), envelope(change))).toBe('ok');
  });

  it('accepts the applied generation signed again naming its inline drift policy by digest, and back', () => {
    const inline = envelope({ driftPolicy: defaultDriftPolicy });
    const named = envelope({ driftPolicyDigest: driftPolicyDigest(defaultDriftPolicy) });
    expect(equivocation(inline, named)).toBe('ok');
    expect(equivocation(named, inline)).toBe('ok');
  });

  it.each<[string, Partial<Envelope>]>([
    ['other releases', { bundles: [] }],
    ['another drift policy digest', { driftPolicyDigest: `sha256:${'0'.repeat(64)}` }],
    ['a hold added', { holds: [{ id: 'INC-1', reason: 'outage', since: NOW.toISOString() }] }],
    ['a revert request', { revert: [{ resourceKey: 'v1/ConfigMap/default/app', path: '' }] }],
  ])('refuses the applied generation signed again with %s as equivocation', (_name, change) => {
    expect(equivocation(envelope(), envelope(change))).toBe('ENVELOPE_EQUIVOCATION');
  });

  it.each<[string, () => ReturnType<typeof check>, ErrorCode]>([
    [
      'a signature by a key the trust root does not list',
      () => check(signed(envelope(), generateKeyPair())),
      'ENVELOPE_KEY_UNKNOWN',
    ],
    ['a release key posing as the hub', () => check(signed(envelope(), releaseKey)), 'ENVELOPE_KEY_UNKNOWN'],
    [
      'a body changed after signing',
      () => check({ ...signed(envelope()), envelope: envelope({ generation: 6 }) }),
      'ENVELOPE_SIGNATURE_INVALID',
    ],
    [
      "another target's envelope",
      () => check(signed(envelope({ targetId: 'tgt_00000000000000000002' }))),
      'ENVELOPE_TARGET_MISMATCH',
    ],
    ['a generation older than the one applied', () => check(signed(envelope({ generation: 3 }))), 'ENVELOPE_ROLLBACK'],
    [
      'an expired envelope',
      () => check(signed(envelope({ expiresAt: new Date(NOW.getTime() - 1).toISOString() }))),
      'ENVELOPE_EXPIRED',
    ],
    [
      'a bundle whose content does not match its digest',
      () => check(signed(envelope()), [{ ...bundle, bundle: { ...bundle.bundle, version: '4.2.1' } }]),
      'BUNDLE_DIGEST_MISMATCH',
    ],
    ['a bundle that was not supplied', () => check(signed(envelope()), []), 'BUNDLE_MISSING'],
    [
      'a bundle signed by a key that is not a release key',
      () => check(signed(envelope()), [signBundle(bundleContent, [hubKey])]),
      'BUNDLE_SIGNATURE_THRESHOLD',
    ],
  ])('refuses %s', (_name, run, code) => {
    expect(run()).toBe(code);
  });
});

describe('verifyTrustRoot', () => {
  const sign = (root: TrustRoot, keys = [rootKey]) => ({
    trustRoot: root,
    signatures: keys.map((k) => signPayload('trust-root', root, k)),
  });

  it('accepts a first trust root signed by its own root key', () => {
    expect(verifyTrustRoot(sign(trustRoot)).version).toBe(1);
  });

  it('accepts a newer version signed by the current root keys', () => {
    const next = { ...trustRoot, version: 2 };
    expect(verifyTrustRoot(sign(next), trustRoot).version).toBe(2);
  });

  it('refuses a newer version that replaces the root key without the old one signing', () => {
    const usurper = generateKeyPair();
    const next: TrustRoot = {
      ...trustRoot,
      version: 2,
      keys: [{ id: keyIdOf(usurper.publicKey), publicKey: usurper.publicKey, roles: ['root'] }],
    };
    expect(() => verifyTrustRoot(sign(next, [usurper]), trustRoot)).toThrow(
      expect.objectContaining({ code: 'TRUST_ROOT_INVALID' }),
    );
  });

  it('refuses a version that skips one, even signed by the current root keys', () => {
    const skipped = { ...trustRoot, version: 3 };
    expect(() => verifyTrustRoot(sign(skipped), trustRoot)).toThrow(
      expect.objectContaining({ code: 'TRUST_ROOT_INVALID', message: expect.stringContaining('v3 where v2') }),
    );
  });

  it('refuses a trust root listing a key of small order, even signed by a threshold of root keys', () => {
    const identityPoint = Buffer.from([1, ...new Array<number>(31).fill(0)]).toString('base64url');
    const next: TrustRoot = {
      ...trustRoot,
      version: 2,
      keys: [...trustRoot.keys, { id: 'weak', publicKey: identityPoint, roles: ['release'] }],
    };
    expect(() => verifyTrustRoot(sign(next), trustRoot)).toThrow(
      expect.objectContaining({ code: 'TRUST_ROOT_INVALID', message: expect.stringContaining('weak') }),
    );
  });

  it('refuses a version that is not newer', () => {
    expect(() => verifyTrustRoot(sign(trustRoot), trustRoot)).toThrow(
      expect.objectContaining({ code: 'TRUST_ROOT_INVALID' }),
    );
  });

  it('refuses a root signed by the hub key', () => {
    expect(() => verifyTrustRoot(sign(trustRoot, [hubKey]))).toThrow(
      expect.objectContaining({ code: 'TRUST_ROOT_INVALID' }),
    );
  });
});
