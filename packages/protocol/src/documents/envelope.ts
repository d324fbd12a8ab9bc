import { z } from 'zod';
import { ApiVersion, ReleaseRef, TargetId, Timestamp } from './common.ts';
import { Signature } from '../crypto/keys.ts';

/** An incident or other hold in force for a target: while it holds, nothing is reverted. */
export const Hold = z.strictObject({
  id: z.string().min(1).max(128),
  reason: z.string().max(1024),
  since: Timestamp,
});
export type Hold = z.infer<typeof Hold>;

/** The desired state of one target, signed by the hub. */
export const Envelope = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('Envelope'),
  targetId: TargetId,
  generation: z.number().int().min(1),
  bundles: z.array(ReleaseRef).max(256),
  holds: z.array(Hold).max(256),
  trustRootVersion: z.number().int().min(1),
  issuedAt: Timestamp,
  expiresAt: Timestamp,
});
export type Envelope = z.infer<typeof Envelope>;

export const SignedEnvelope = z.strictObject({
  envelope: Envelope,
  signature: Signature,
});
export type SignedEnvelope = z.infer<typeof SignedEnvelope>;
