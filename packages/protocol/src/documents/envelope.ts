import { z } from 'zod';
import { ApiVersion, Digest, ReleaseRef, TargetId, Timestamp } from './common.ts';
import { Signature } from '../crypto/keys.ts';
import { DriftPolicy } from './drift-policy.ts';

/** An incident or other hold in force for a target: while it holds, nothing is reverted. */
export const Hold = z.strictObject({
  id: z.string().min(1).max(128),
  reason: z.string().max(1024),
  since: Timestamp,
});
export type Hold = z.infer<typeof Hold>;

/**
 * A drift item an operator asked to put back (`flotilla drift revert`): the agent re-applies it
 * once for this generation even though its policy (or a hold) kept it. `path` is empty for a
 * whole resource.
 */
export const DriftRevert = z.strictObject({
  resourceKey: z.string().min(1).max(512),
  path: z.string().max(1024),
});
export type DriftRevert = z.infer<typeof DriftRevert>;

/**
 * A release an envelope names: which bundle (by digest), and how many bytes the hub serves for
 * it at `GET /v1/bundles/{digest}`, so an agent stops a download that runs longer.
 */
export const EnvelopeBundle = ReleaseRef.extend({
  size: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});
export type EnvelopeBundle = z.infer<typeof EnvelopeBundle>;

/** The release reference alone, without what only envelopes carry: for reports and saved state. */
export function releaseRefOf(bundle: ReleaseRef): ReleaseRef {
  return { name: bundle.name, version: bundle.version, digest: bundle.digest };
}

/**
 * The desired state of one target, signed by the hub. It names its drift policy by digest
 * (`driftPolicyDigest`) or carries it inline (`driftPolicy`), never both; with neither, the
 * policy is `defaultDriftPolicy`.
 */
export const Envelope = z
  .strictObject({
    apiVersion: ApiVersion,
    kind: z.literal('Envelope'),
    targetId: TargetId,
    generation: z.number().int().min(1),
    bundles: z.array(EnvelopeBundle).max(256),
    holds: z.array(Hold).max(256),
    /**
     * The drift rules in force, complete (see `parseDriftPolicy`), inline: as older hubs signed
     * every envelope, and as a transfer file's envelopes carry them, for a site that cannot fetch.
     */
    driftPolicy: DriftPolicy.optional(),
    /**
     * The drift rules in force, by their `driftPolicyDigest`: the agent fetches them once at
     * `GET /v1/drift-policies/{digest}` and checks the bytes against this digest, which the
     * envelope's signature covers. One copy of a fleet-wide policy instead of one per envelope.
     */
    driftPolicyDigest: Digest.optional(),
    /** Drift items to revert once, by operator request; absent when there are none. */
    revert: z.array(DriftRevert).min(1).max(1000).optional(),
    /**
     * For each release a rollout brought under policy (docs/policy.md): the rules, windows and
     * signed approvals the agent checks again with `checkEnvelopePolicy` before it applies.
     * Each is an `EnvelopePolicy` of `@flotilla/protocol/policy`, read strictly by the agent;
     * typed loosely here so the documents do not pull the provenance verifiers in.
     */
    policy: z.array(z.record(z.string(), z.unknown())).min(1).max(16).optional(),
    /**
     * The signed policy set in force when this generation was made, and the hub's record of the
     * target its scopes are read against (docs/policy.md, "Signed policy sets"): a
     * `SignedPolicySet` and an `EnvelopeTargetRecord` of `@flotilla/protocol/policy`, read
     * strictly by the agent.
     */
    policySet: z.record(z.string(), z.unknown()).optional(),
    target: z.record(z.string(), z.unknown()).optional(),
    trustRootVersion: z.number().int().min(1),
    issuedAt: Timestamp,
    expiresAt: Timestamp,
  })
  .refine((envelope) => envelope.driftPolicy === undefined || envelope.driftPolicyDigest === undefined, {
    message: 'an envelope carries its drift policy inline or names it by digest, not both',
    path: ['driftPolicyDigest'],
  });
export type Envelope = z.infer<typeof Envelope>;

export const SignedEnvelope = z.strictObject({
  envelope: Envelope,
  signature: Signature,
});
export type SignedEnvelope = z.infer<typeof SignedEnvelope>;
