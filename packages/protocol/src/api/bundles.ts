import { z } from 'zod';
import { Digest, Timestamp } from '../documents/common.ts';
import { SignedBundle } from '../documents/bundle.ts';

/*
 * Releases (bundles): `POST /v1/bundles` takes a `SignedBundle`, `GET /v1/bundles/{digest}`
 * answers one byte for byte, `GET /v1/bundles` lists them.
 */

/**
 * `POST /v1/bundles`: a `SignedBundle`, with the release's provenance attestations if any
 * (docs/policy.md). Each is an `Attestation` of `@flotilla/protocol/policy` (a DSSE envelope
 * or a Sigstore bundle), read strictly by the hub; typed loosely here so the API's bodies do
 * not pull the provenance verifiers in. Publishing a release again with new attestations adds
 * them.
 */
export const PublishRelease = SignedBundle.extend({
  attestations: z.array(z.record(z.string(), z.unknown())).max(16).optional(),
});
export type PublishRelease = z.infer<typeof PublishRelease>;

/** How one live policy's artifact rules judge a release, recorded at publish. */
export const ReleasePolicyVerdict = z.object({
  /** `name@version`. */
  policy: z.string(),
  scope: z.string(),
  allowed: z.boolean(),
  /** Each artifact rule that refused, with why. */
  reasons: z.array(z.object({ rule: z.string(), message: z.string() })),
});
export type ReleasePolicyVerdict = z.infer<typeof ReleasePolicyVerdict>;

/** 201 when published now, 200 when the same release was already published. */
export const PublishResult = z.object({
  digest: Digest,
  created: z.boolean(),
  /** Content digests of the attestations stored with the release by this request. */
  attestations: z.array(Digest).optional(),
  /**
   * The verdict of every live policy with artifact rules on the release: a refusal here is a
   * warning, since a policy applies to the targets in its scope; rollouts block those targets.
   */
  policies: z.array(ReleasePolicyVerdict).optional(),
});
export type PublishResult = z.infer<typeof PublishResult>;

export const ReleaseListItem = z.object({
  digest: Digest,
  name: z.string(),
  version: z.string(),
  createdAt: Timestamp,
  /** The operator token name that published it. */
  createdBy: z.string(),
});
export type ReleaseListItem = z.infer<typeof ReleaseListItem>;

/** By name, then by age. */
export const ReleaseList = z.object({ items: z.array(ReleaseListItem) });
export type ReleaseList = z.infer<typeof ReleaseList>;

/** An attestation stored with a release, as verified when it was added. */
export const ReleaseAttestationView = z.object({
  /** sha256 of the attestation's canonical JSON. */
  digest: Digest,
  format: z.enum(['dsse', 'sigstore-bundle']),
  /** Ids of the trust root's attestation keys that signed it. */
  signers: z.array(z.string()),
  builder: z.string(),
  sources: z.array(z.object({ repository: z.string(), commit: z.string() })),
  addedAt: Timestamp,
  addedBy: z.string(),
});
export type ReleaseAttestationView = z.infer<typeof ReleaseAttestationView>;

/** `GET /v1/bundles/{digest}/details`: a release, its attestations and the live policies' verdicts. */
export const ReleaseDetails = ReleaseListItem.extend({
  attestations: z.array(ReleaseAttestationView),
  policies: z.array(ReleasePolicyVerdict),
});
export type ReleaseDetails = z.infer<typeof ReleaseDetails>;
