import { z } from 'zod';
import { PublicKey } from '../crypto/keys.ts';

/*
 * The hub's identity and trust root: `GET /v1/health`, `GET /v1/trust-root` and
 * `GET /v1/trust-roots/{version}` (a `SignedTrustRoot`), and the release keys admins add.
 */

/** `GET /v1/health`: the hub is up, which hub it is, and its trust root version. */
export const HubHealth = z.object({
  ok: z.literal(true),
  hubId: z.string(),
  trustRootVersion: z.number().int().min(1),
});
export type HubHealth = z.infer<typeof HubHealth>;

/**
 * `GET /v1/ready`: whether the hub can take changes now. 200 with `ready: true`, or 503 with
 * `ready: false` while its store cannot write (a full disk, a lock held by another process):
 * reads still work then, writes answer `503 STORE_UNAVAILABLE`.
 */
export const HubReadiness = z.object({
  ready: z.boolean(),
  store: z.object({
    writable: z.boolean(),
    /** SQLite's code for what failed, such as `SQLITE_FULL` or `SQLITE_BUSY`. */
    code: z.string().optional(),
    message: z.string().optional(),
    /** When the store stopped taking writes. */
    since: z.string().optional(),
  }),
});
export type HubReadiness = z.infer<typeof HubReadiness>;

/** `POST /v1/trust-root/release-keys`: answered with the new `SignedTrustRoot`. */
export const AddReleaseKeyRequest = z.strictObject({
  publicKey: PublicKey,
  name: z.string().min(1).max(128).optional(),
});
export type AddReleaseKeyRequest = z.infer<typeof AddReleaseKeyRequest>;

/**
 * `POST /v1/trust-root/approver-keys`: an approver's own public key, bound to the person it
 * belongs to (`identity`, such as `alice@acme.example`); answered with the new `SignedTrustRoot`.
 */
export const AddApproverKeyRequest = z.strictObject({
  publicKey: PublicKey,
  identity: z.string().min(1).max(128),
});
export type AddApproverKeyRequest = z.infer<typeof AddApproverKeyRequest>;

/**
 * `POST /v1/trust-root/attestation-keys`: a key that signs provenance attestations of
 * releases, an Ed25519 public key or an ECDSA P-256 SPKI PEM block (`cosign.pub`); answered
 * with the new `SignedTrustRoot`.
 */
export const AddAttestationKeyRequest = z.strictObject({
  publicKey: z.string().min(1).max(1024),
  name: z.string().min(1).max(128).optional(),
});
export type AddAttestationKeyRequest = z.infer<typeof AddAttestationKeyRequest>;
