import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  API_VERSION,
  generateKeyPair,
  keyIdOf,
  nextTrustRoot,
  signPayload,
  verifyTrustRoot,
  type TrustRoot,
} from '../src/index.ts';
import { attestationKeyOf } from '../src/policy/attestation-keys.ts';

const rootKey = generateKeyPair();
const hubKey = generateKeyPair();
const ISSUED = '2026-12-03T12:00:00.000Z';
const cosignPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ format: 'pem', type: 'spki' })
  .toString();

const current: TrustRoot = {
  apiVersion: API_VERSION,
  kind: 'TrustRoot',
  hubId: 'hub_test',
  version: 1,
  keys: [
    { id: keyIdOf(rootKey.publicKey), publicKey: rootKey.publicKey, roles: ['root'] },
    { id: keyIdOf(hubKey.publicKey), publicKey: hubKey.publicKey, roles: ['hub'] },
  ],
  thresholds: { root: 1, release: 1 },
  issuedAt: '2026-12-01T00:00:00.000Z',
};

const signed = (root: TrustRoot) => ({ trustRoot: root, signatures: [signPayload('trust-root', root, rootKey)] });

describe('attestation keys in the trust root', () => {
  it('reads a cosign PEM as an ECDSA P-256 key and an Ed25519 public key as itself', () => {
    const ed = generateKeyPair();
    expect(attestationKeyOf(cosignPem, 'ci')).toMatchObject({
      algorithm: 'ecdsa-p256-sha256',
      id: expect.stringMatching(/^[0-9a-f]{16}$/),
      name: 'ci',
    });
    expect(attestationKeyOf(ed.publicKey)).toEqual({
      id: keyIdOf(ed.publicKey),
      algorithm: 'ed25519',
      publicKey: ed.publicKey,
    });
  });

  it('refuses a key on another curve, and text that is no key', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    expect(() => attestationKeyOf(p384)).toThrow(/not an ECDSA P-256 key/);
    expect(() => attestationKeyOf('hello')).toThrow(/Ed25519 public key .* or an ECDSA P-256 SPKI PEM/);
  });

  it('refuses a small-order Ed25519 key, which verifies forged signatures', () => {
    const identity = Buffer.from([1, ...new Array<number>(31).fill(0)]).toString('base64url');
    expect(() => attestationKeyOf(identity)).toThrow(expect.objectContaining({ code: 'KEY_WEAK' }));
  });

  it('adds attestation keys in the next version once each, and removes them by id', () => {
    const key = attestationKeyOf(cosignPem);
    const next = nextTrustRoot(current, { addAttestationKeys: [key, key] }, ISSUED);
    expect(next.attestationKeys).toEqual([key]);
    expect(verifyTrustRoot(signed(next), current).attestationKeys).toEqual([key]);
    const after = nextTrustRoot(next, { removeKeyIds: [key.id] }, ISSUED);
    expect(after.attestationKeys).toBeUndefined();
  });

  it('refuses to pin a trust root listing an attestation key that cannot verify', () => {
    const weak = { id: 'weak', algorithm: 'ed25519' as const, publicKey: Buffer.alloc(32).toString('base64url') };
    expect(() => verifyTrustRoot(signed({ ...current, attestationKeys: [weak] }))).toThrow(
      expect.objectContaining({ code: 'TRUST_ROOT_INVALID', message: expect.stringMatching(/attestation key weak/) }),
    );
  });

  it('refuses to pin a trust root naming two attestation keys by one id', () => {
    const key = attestationKeyOf(cosignPem);
    const other = { ...attestationKeyOf(generateKeyPair().publicKey), id: key.id };
    expect(() => verifyTrustRoot(signed({ ...current, attestationKeys: [key, other] }))).toThrow(
      /lists attestation key id .* twice/,
    );
  });
});
