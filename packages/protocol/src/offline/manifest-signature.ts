import { signPayload, verifyPayload, type KeyPair, type TrustedKey } from '../crypto/keys.ts';
import { FlotillaError } from '../errors.ts';
import type { SignedTransferManifest, TransferManifest } from './transfer-manifest.ts';

/** Signs a transfer manifest with the hub key (purpose `transfer-manifest`). */
export function signTransferManifest(manifest: TransferManifest, hubKey: KeyPair): SignedTransferManifest {
  return { manifest, signature: signPayload('transfer-manifest', manifest, hubKey) };
}

/**
 * Accepts a manifest only if its signature is a valid `transfer-manifest` signature by one
 * of `hubKeys` (the hub keys of the trust root the site holds): an unknown key id is
 * TRANSFER_KEY_UNKNOWN, a signature that does not verify TRANSFER_SIGNATURE_INVALID.
 */
export function verifyTransferManifest(
  signed: SignedTransferManifest,
  hubKeys: readonly TrustedKey[],
): TransferManifest {
  const key = hubKeys.find((k) => k.id === signed.signature.keyId);
  if (key === undefined) {
    throw new FlotillaError(
      'TRANSFER_KEY_UNKNOWN',
      `the transfer manifest is signed by key ${signed.signature.keyId}, which is not a hub key this site trusts (${hubKeys.map((k) => k.id).join(', ') || 'none'}); import the trust root that names it first, online or from an earlier file`,
      { entry: 'manifest.json', keyId: signed.signature.keyId },
    );
  }
  if (!verifyPayload('transfer-manifest', signed.manifest, signed.signature, key.publicKey)) {
    throw new FlotillaError(
      'TRANSFER_SIGNATURE_INVALID',
      `the transfer manifest's signature does not verify against hub key ${key.id}: the file was altered or forged`,
      { entry: 'manifest.json', keyId: key.id },
    );
  }
  return signed.manifest;
}
