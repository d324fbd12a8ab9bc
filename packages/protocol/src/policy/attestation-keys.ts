import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { AttestationKey } from '../documents/trust-root.ts';
import { fromBase64Url } from '../crypto/base64url.ts';
import { keyIdOf } from '../crypto/keys.ts';
import { strictVerify } from '../crypto/ed25519.ts';
import { isWeakPoint, precheck } from '../crypto/ed25519-checks.ts';
import { FlotillaError } from '../errors.ts';

/** Attestation keys are listed in the trust root; the schema lives with it. */
export { AttestationKey };

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

/**
 * The trust root entry for an attestation key given as text: an Ed25519 public key (43
 * base64url characters, as `flotilla keys create` prints) or an SPKI PEM block (`cosign.pub`).
 * Its id is the first 16 hex digits of the sha256 of the raw key (Ed25519, as for every other
 * trust root key) or of the SPKI DER (ECDSA). Checked as strictly as when it verifies.
 *
 * @throws FlotillaError `KEY_UNKNOWN` or `KEY_WEAK` for a key that cannot be used.
 */
export function attestationKeyOf(text: string, name?: string): AttestationKey {
  const trimmed = text.trim();
  let key: AttestationKey;
  if (/^[A-Za-z0-9_-]{43}$/.test(trimmed)) {
    key = { id: keyIdOf(trimmed), algorithm: 'ed25519', publicKey: trimmed };
  } else {
    let spki: Buffer;
    try {
      spki = createPublicKey(trimmed).export({ format: 'der', type: 'spki' });
    } catch {
      throw new FlotillaError(
        'KEY_UNKNOWN',
        'an attestation key is an Ed25519 public key (43 base64url characters) or an ECDSA P-256 SPKI PEM block, as in cosign.pub',
      );
    }
    key = {
      id: createHash('sha256').update(spki).digest('hex').slice(0, 16),
      algorithm: 'ecdsa-p256-sha256',
      publicKey: trimmed,
    };
  }
  const withName = name === undefined ? key : { ...key, name };
  importAttestationKeys([withName]);
  return withName;
}

/**
 * Throws unless every attestation key of a trust root can verify and no id names two keys,
 * so an agent never pins a root whose provenance checks would fail or be ambiguous.
 *
 * @throws FlotillaError `TRUST_ROOT_INVALID` naming the key.
 */
export function assertUsableAttestationKeys(keys: readonly AttestationKey[], version: number): void {
  const ids = new Set<string>();
  for (const key of keys) {
    if (ids.has(key.id))
      throw new FlotillaError('TRUST_ROOT_INVALID', `trust root v${version} lists attestation key id ${key.id} twice`);
    ids.add(key.id);
    try {
      importAttestationKeys([key]);
    } catch (error) {
      throw new FlotillaError(
        'TRUST_ROOT_INVALID',
        `trust root v${version} lists attestation key ${key.id}, which cannot verify: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
