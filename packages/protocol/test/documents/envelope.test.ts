import { describe, expect, it } from 'vitest';
import { API_VERSION, canonicalize, driftPolicyDigest, Envelope, sha256, type DriftPolicy } from '../../src/index.ts';
import { defaultDriftPolicy } from '../../src/drift/index.ts';

const NOW = '2026-11-28T12:00:00.000Z';

function envelope(overrides: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: API_VERSION,
    kind: 'Envelope',
    targetId: 'tgt_00000000000000000001',
    generation: 1,
    bundles: [],
    holds: [],
    trustRootVersion: 1,
    issuedAt: NOW,
    expiresAt: NOW,
    ...overrides,
  };
}

describe('Envelope: the drift policy', () => {
  it.each<[string, Record<string, unknown>]>([
    ['inline', { driftPolicy: defaultDriftPolicy }],
    ['by digest', { driftPolicyDigest: driftPolicyDigest(defaultDriftPolicy) }],
    ['neither (the default)', {}],
  ])('reads an envelope that carries it %s', (_name, part) => {
    expect(Envelope.safeParse(envelope(part)).success).toBe(true);
  });

  it('refuses an envelope that carries it both inline and by digest', () => {
    const both = envelope({
      driftPolicy: defaultDriftPolicy,
      driftPolicyDigest: driftPolicyDigest(defaultDriftPolicy),
    });
    expect(Envelope.safeParse(both).success).toBe(false);
  });

  it.each(['sha256:../../etc/passwd', `sha512:${'a'.repeat(64)}`, `sha256:${'A'.repeat(64)}`, ''])(
    'refuses the digest %j',
    (digest) => {
      expect(Envelope.safeParse(envelope({ driftPolicyDigest: digest })).success).toBe(false);
    },
  );
});

describe('driftPolicyDigest', () => {
  it('is the sha256 of the canonical JSON, the bytes the hub serves', () => {
    expect(driftPolicyDigest(defaultDriftPolicy)).toBe(sha256(canonicalize(defaultDriftPolicy)));
  });

  it('does not depend on the order of keys', () => {
    const { rules, settings } = defaultDriftPolicy;
    const reordered: DriftPolicy = { settings: { ...settings }, rules };
    expect(driftPolicyDigest(reordered)).toBe(driftPolicyDigest(defaultDriftPolicy));
  });
});
