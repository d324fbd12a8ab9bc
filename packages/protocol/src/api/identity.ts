import { z } from 'zod';
import { PublicKey, Signature } from '../crypto/keys.ts';
import { Labels, Name, TargetId, Timestamp } from '../documents/common.ts';
import { SignedTrustRoot } from '../documents/trust-root.ts';

/*
 * Identity (docs/security.md): `POST /v1/enroll`, `POST /v1/token` for agents, and the
 * enrollment tokens operators create for them.
 */

/** What the agent proves at enrollment: it holds the private key of `publicKey`, now, for this token. */
export const EnrollProof = z.strictObject({
  publicKey: PublicKey,
  tokenDigest: z.string(),
  issuedAt: Timestamp,
});
export type EnrollProof = z.infer<typeof EnrollProof>;

export const EnrollRequest = z.strictObject({
  token: z.string().min(1).max(256),
  publicKey: PublicKey,
  name: Name.optional(),
  issuedAt: Timestamp,
  proof: Signature,
});
export type EnrollRequest = z.infer<typeof EnrollRequest>;

export const EnrollResponse = z.object({
  targetId: TargetId,
  name: Name,
  hubId: z.string(),
  audience: z.string(),
  trustRoot: SignedTrustRoot,
});
export type EnrollResponse = z.infer<typeof EnrollResponse>;

/**
 * What an agent signs, with its current key and with the new one, to rotate its key: the hub
 * binds `newPublicKey` to `targetId` if `oldKeyId` is the key it holds now (docs/security.md).
 */
export const KeyRotation = z.strictObject({
  targetId: TargetId,
  oldKeyId: z.string().min(1).max(64),
  newPublicKey: PublicKey,
  issuedAt: Timestamp,
});
export type KeyRotation = z.infer<typeof KeyRotation>;

/** `POST /v1/targets/{id}/key-rotation`: the rotation signed by the old key and by the new one. */
export const KeyRotationRequest = z.strictObject({
  rotation: KeyRotation,
  oldSignature: Signature,
  newSignature: Signature,
});
export type KeyRotationRequest = z.infer<typeof KeyRotationRequest>;

export const KeyRotationResponse = z.object({
  targetId: TargetId,
  keyId: z.string(),
  rotatedAt: Timestamp,
});
export type KeyRotationResponse = z.infer<typeof KeyRotationResponse>;

export const TokenRequest = z.strictObject({
  assertion: z.string().min(1).max(4096),
});
export type TokenRequest = z.infer<typeof TokenRequest>;

export const TokenResponse = z.object({
  accessToken: z.string(),
  expiresAt: Timestamp,
});
export type TokenResponse = z.infer<typeof TokenResponse>;

export const CreateEnrollmentTokenRequest = z.strictObject({
  ttlSeconds: z
    .number()
    .int()
    .min(60)
    .max(60 * 60 * 24 * 365)
    .default(60 * 60 * 24),
  maxUses: z.number().int().min(1).max(1_000_000).default(1),
  labels: Labels.default({}),
  description: z.string().max(256).optional(),
});
export type CreateEnrollmentTokenRequest = z.infer<typeof CreateEnrollmentTokenRequest>;

export const EnrollmentToken = z.object({
  id: z.string(),
  token: z.string().optional(),
  expiresAt: Timestamp,
  maxUses: z.number(),
  uses: z.number(),
  labels: Labels,
  description: z.string().optional(),
  /** Set once an operator revoked it: it enrolls no more agents. */
  revokedAt: Timestamp.optional(),
});
export type EnrollmentToken = z.infer<typeof EnrollmentToken>;

/** `GET /v1/enrollment-tokens`: their secrets are never shown again. */
export const EnrollmentTokenList = z.object({ items: z.array(EnrollmentToken) });
export type EnrollmentTokenList = z.infer<typeof EnrollmentTokenList>;
