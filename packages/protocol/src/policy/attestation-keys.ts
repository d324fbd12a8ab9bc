import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { fromBase64Url } from '../crypto/base64url.ts';
import { strictVerify } from '../crypto/ed25519.ts';
import { isWeakPoint, precheck } from '../crypto/ed25519-checks.ts';
import { FlotillaError } from '../errors.ts';

/**
 * A key that signs provenance: a CI builder's or release engineer's. It will live in the
 * trust root; until then verifiers take the set as input. Ed25519 keys are written as trust
 * roots write them (32 bytes, base64url) and verified through Flotilla's strict verify;
 * ECDSA P-256 keys, which cosign makes, as the SPKI PEM of `cosign.pub`.
 */
export const AttestationKey = z.strictObject({
  id: z.string().min(1).max(64),
  algorithm: z.enum(['ed25519', 'ecdsa-p256-sha256']),
  publicKey: z.string().min(1).max(1024),
  name: z.string().max(128).optional(),
});
export type AttestationKey = z.infer<typeof AttestationKey>;

/** A key ready to verify: `identity` is the same for two entries holding one public key. */
export interface VerifyingKey {
  readonly id: string;
  readonly algorithm: AttestationKey['algorithm'];
  readonly identity: string;
  readonly keyObject: KeyObject;
  /** Checks a library verification cannot make: for Ed25519, a canonical signature with no small-order R. */
  wellFormed(signature: Uint8Array): boolean;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

function ed25519Key(key: AttestationKey): VerifyingKey {
  const raw = fromBase64Url(key.publicKey);
  if (raw === undefined || raw.length !== 32)
    throw new FlotillaError('KEY_UNKNOWN', `attestation key ${key.id}: an Ed25519 key is 32 bytes of base64url`);
  if (isWeakPoint(raw))
    throw new FlotillaError(
      'KEY_WEAK',
      `attestation key ${key.id} is a small-order Ed25519 point, which verifies forged signatures; register a real key`,
    );
  const keyObject = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]),
    format: 'der',
    type: 'spki',
  });
  return {
    id: key.id,
    algorithm: key.algorithm,
    identity: `ed25519:${key.publicKey}`,
    keyObject,
    wellFormed: (signature) => precheck(raw, signature) === undefined,
    verify: (message, signature) => strictVerify(raw, message, signature),
  };
}

function ecdsaKey(key: AttestationKey): VerifyingKey {
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey(key.publicKey);
  } catch {
    throw new FlotillaError(
      'KEY_UNKNOWN',
      `attestation key ${key.id}: an ECDSA key is an SPKI PEM block (-----BEGIN PUBLIC KEY-----), as in cosign.pub`,
    );
  }
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new FlotillaError('KEY_UNKNOWN', `attestation key ${key.id} is not an ECDSA P-256 key`);
  }
  const spki = keyObject.export({ format: 'der', type: 'spki' }).toString('base64url');
  return {
    id: key.id,
    algorithm: key.algorithm,
    identity: `ecdsa-p256:${spki}`,
    keyObject,
    wellFormed: () => true,
    // cosign writes ASN.1 DER; raw r||s (IEEE P1363) is 64 bytes, which no DER signature is.
    verify: (message, signature) => {
      try {
        return verify(
          'sha256',
          message,
          { key: keyObject, dsaEncoding: signature.length === 64 ? 'ieee-p1363' : 'der' },
          signature,
        );
      } catch {
        return false;
      }
    },
  };
}

/**
 * Validates and imports attestation keys once, for many verifications.
 *
 * @throws FlotillaError `KEY_UNKNOWN` for a key that does not read as its algorithm, `KEY_WEAK` for a weak Ed25519 key.
 */
export function importAttestationKeys(keys: readonly AttestationKey[]): VerifyingKey[] {
  return keys.map((key) => (key.algorithm === 'ed25519' ? ed25519Key(key) : ecdsaKey(key)));
}
