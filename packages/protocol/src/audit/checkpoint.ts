import { z } from 'zod';
import { ApiVersion, Digest, Timestamp } from '../documents/common.ts';
import type { PublicKey } from '../crypto/keys.ts';
import { keyIdOf, Signature, signPayload, verifyPayload, type KeyPair, type TrustedKey } from '../crypto/keys.ts';

/**
 * What the seal of an export adds to a checkpoint: the digest of the export's header (so its
 * declared range and filter cannot be edited) and of the hashes of the entries it carries in
 * full (so an entry cannot be turned into an elided one after the hub sealed the file).
 */
export const AuditExportClaim = z.strictObject({
  header: Digest,
  included: Digest,
  count: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});
export type AuditExportClaim = z.infer<typeof AuditExportClaim>;

/**
 * The hub's statement "entry `seq` of my audit chain has hash `hash`", made at `time`. Seq 0
 * with the genesis hash is the empty log. Signed with purpose `audit-checkpoint`, so the
 * signed bytes are `flotilla.io/v1/audit-checkpoint\n` + the canonical checkpoint.
 */
export const AuditCheckpoint = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('AuditCheckpoint'),
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  hash: Digest,
  time: Timestamp,
  export: AuditExportClaim.optional(),
});
export type AuditCheckpoint = z.infer<typeof AuditCheckpoint>;

export const SignedAuditCheckpoint = z.strictObject({
  checkpoint: AuditCheckpoint,
  signature: Signature,
});
export type SignedAuditCheckpoint = z.infer<typeof SignedAuditCheckpoint>;

/** Whatever holds the hub key: a key pair in memory, or a KMS that never lets it out. */
export interface AuditCheckpointSigner {
  readonly keyId: string;
  readonly publicKey: PublicKey;
  sign(checkpoint: AuditCheckpoint): Signature;
}

/** A signer over a key pair held in memory, with the key id every Flotilla signature uses. */
export function auditCheckpointSigner(key: KeyPair): AuditCheckpointSigner {
  return {
    keyId: keyIdOf(key.publicKey),
    publicKey: key.publicKey,
    sign: (checkpoint) => signPayload('audit-checkpoint', checkpoint, key),
  };
}

export function signAuditCheckpoint(checkpoint: AuditCheckpoint, signer: AuditCheckpointSigner): SignedAuditCheckpoint {
  return { checkpoint, signature: signer.sign(checkpoint) };
}

/** Why a checkpoint's signature does or does not hold. */
export type AuditCheckpointSignatureCheck = 'valid' | 'key-unknown' | 'signature-invalid';

/**
 * Checks a checkpoint's signature against the keys given (matched by key id, several keys
 * under one id each tried). Never throws: the answer says what is wrong.
 */
export function checkAuditCheckpointSignature(
  signed: SignedAuditCheckpoint,
  keys: readonly TrustedKey[],
): AuditCheckpointSignatureCheck {
  let known = false;
  for (const key of keys) {
    if (key.id !== signed.signature.keyId) continue;
    known = true;
    if (verifyPayload('audit-checkpoint', signed.checkpoint, signed.signature, key.publicKey)) return 'valid';
  }
  return known ? 'signature-invalid' : 'key-unknown';
}
