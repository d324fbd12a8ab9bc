import { z } from 'zod';
import { ApiVersion, Timestamp } from './common.ts';
import { PublicKey, Signature } from '../crypto/keys.ts';

/**
 * `policy` keys sign policy sets (docs/policy.md, "Signed policy sets"). `approver` keys sign approvals of rollouts (docs/policy.md); the key's `name` is the person
 * it belongs to, whose approvals it alone may sign.
 */
export const KeyRole = z.enum(['root', 'hub', 'release', 'approver', 'policy']);
export type KeyRole = z.infer<typeof KeyRole>;

export const TrustRootKey = z.strictObject({
  id: z.string().min(1).max(64),
  publicKey: PublicKey,
  roles: z.array(KeyRole).min(1),
  name: z.string().max(128).optional(),
});
export type TrustRootKey = z.infer<typeof TrustRootKey>;

/**
 * A key that signs provenance attestations of releases: a CI builder's or a release
 * engineer's. Ed25519 keys are written as the other keys here (32 bytes, base64url); ECDSA
 * P-256 keys, which cosign makes, as the SPKI PEM of `cosign.pub`. They have their own list
 * because they are not Flotilla signing keys: they verify DSSE envelopes and Sigstore bundles.
 */
export const AttestationKey = z.strictObject({
  id: z.string().min(1).max(64),
  algorithm: z.enum(['ed25519', 'ecdsa-p256-sha256']),
  publicKey: z.string().min(1).max(1024),
  name: z.string().max(128).optional(),
});
export type AttestationKey = z.infer<typeof AttestationKey>;

/**
 * Which keys an agent trusts for what. Root keys sign new versions of this document; hub keys
 * sign envelopes; release keys sign bundles, `thresholds.release` distinct ones per bundle.
 * `attestationKeys` verify the provenance of releases (docs/policy.md).
 */
export const TrustRoot = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('TrustRoot'),
  hubId: z.string().min(1).max(64),
  version: z.number().int().min(1),
  keys: z.array(TrustRootKey).min(1).max(256),
  attestationKeys: z.array(AttestationKey).max(64).optional(),
  thresholds: z.strictObject({
    root: z.number().int().min(1),
    release: z.number().int().min(1),
    /** Distinct `policy` keys that must sign a policy set; 1 when absent. */
    policy: z.number().int().min(1).optional(),
  }),
  /**
   * When true, an agent refuses an envelope that brings a release without a policy set signed
   * by `thresholds.policy` policy keys (docs/policy.md, "Signed policy sets").
   */
  requirePolicySets: z.boolean().optional(),

  issuedAt: Timestamp,
});
export type TrustRoot = z.infer<typeof TrustRoot>;

export const SignedTrustRoot = z.strictObject({
  trustRoot: TrustRoot,
  signatures: z.array(Signature).min(1).max(64),
});
export type SignedTrustRoot = z.infer<typeof SignedTrustRoot>;

/**
 * A trust root version on its way to being signed away from the hub (`flotilla root draft`,
 * `flotilla root sign`): the same document, with as few signatures as have been added so far.
 */
export const TrustRootDraft = z.strictObject({
  trustRoot: TrustRoot,
  signatures: z.array(Signature).max(64),
});
export type TrustRootDraft = z.infer<typeof TrustRootDraft>;

export function keysWithRole(root: TrustRoot, role: KeyRole): TrustRootKey[] {
  return root.keys.filter((key) => key.roles.includes(role));
}
