import { z } from 'zod';
import type { TrustedKey } from '../crypto/keys.ts';
import type { SignedBundle } from '../documents/bundle.ts';
import { Digest } from '../documents/common.ts';
import { isFlotillaError } from '../errors.ts';
import { SignedApproval, verifyApprovals, type ApproverKey } from './approval.ts';
import { importAttestationKeys, type AttestationKey } from './attestation-keys.ts';
import type { BlockReason } from './block-reason.ts';
import { checkArtifacts } from './check-artifacts.ts';
import { checkApprovals, checkWindows } from './check-rules.ts';
import { policyDigest } from './canonical-policy.ts';
import { inspectRelease } from './inspect-release.ts';
import { ApprovalRules, ArtifactRules, policyRef, WindowRules, type Policy } from './policy-document.ts';
import { targetTimeZone } from './target-traits.ts';
import { Attestation } from './verify-provenance.ts';
import type { Target } from '../documents/target.ts';

/**
 * The policy section a hub will put in a signed envelope for a change a rollout makes, so
 * that the agent re-checks at apply time what the hub checked at plan time: the artifact
 * rules, the approvals (carried signed, so the hub cannot forge them) and the change window
 * (so a change that arrives late, by a slow poll or an offline transfer, still waits).
 * Placement is decided at plan time only: it reads the hub's record of the target.
 */

/** The rules of one policy that matched the target, windows with their zone resolved. */
export const EnvelopePolicyRules = z.strictObject({
  /** `name@version`. */
  policy: z.string().min(1).max(128),
  /** The policy's digest (`policyDigest`), so a report names exactly which text refused. */
  digest: Digest,
  artifacts: ArtifactRules.optional(),
  approvals: ApprovalRules.optional(),
  windows: WindowRules.optional(),
});
export type EnvelopePolicyRules = z.infer<typeof EnvelopePolicyRules>;

export const EnvelopePolicy = z.strictObject({
  rolloutId: z.string().min(1).max(128),
  author: z.string().min(1).max(128),
  /** The release this change brings; the envelope must name it. */
  releaseDigest: Digest,
  rules: z.array(EnvelopePolicyRules).max(64),
  /** Signed `approve` and `override-window` approvals of the rollout. */
  approvals: z.array(SignedApproval).max(64),
  /** The release's provenance attestations. */
  attestations: z.array(Attestation).max(16),
});
export type EnvelopePolicy = z.infer<typeof EnvelopePolicy>;

/**
 * Builds the section for one target from the policies that matched it (the decision's
 * `policies`): each policy's artifact, approval and window rules, with the target's time
 * zone written into windows that take it.
 */
export function buildEnvelopePolicy(
  matched: readonly Policy[],
  target: Pick<Target, 'properties'>,
  change: {
    readonly rolloutId: string;
    readonly author: string;
    readonly releaseDigest: string;
    readonly approvals: readonly SignedApproval[];
    readonly attestations: readonly Attestation[];
  },
): EnvelopePolicy {
  const zone = targetTimeZone(target);
  const rules = matched
    .filter(
      (policy) =>
        policy.spec.artifacts !== undefined || policy.spec.approvals !== undefined || policy.spec.windows !== undefined,
    )
    .map((policy): EnvelopePolicyRules => {
      const { artifacts, approvals, windows } = policy.spec;
      return {
        policy: policyRef(policy),
        digest: policyDigest(policy),
        ...(artifacts === undefined ? {} : { artifacts }),
        ...(approvals === undefined ? {} : { approvals }),
        ...(windows === undefined
          ? {}
          : {
              windows: windows.timezone !== undefined || zone === undefined ? windows : { ...windows, timezone: zone },
            }),
      };
    });
  return {
    rolloutId: change.rolloutId,
    author: change.author,
    releaseDigest: change.releaseDigest,
    rules,
    approvals: [...change.approvals],
    attestations: [...change.attestations],
  };
}

/** The keys the agent checks the section with, from its trust root. */
export interface EnvelopePolicyTrust {
  readonly approverKeys: readonly ApproverKey[];
  readonly releaseKeys: readonly TrustedKey[];
  readonly attestationKeys: readonly AttestationKey[];
}

export type EnvelopePolicyCheck =
  | { readonly allowed: true; readonly overrides: readonly string[] }
  | { readonly allowed: false; readonly refusal: BlockReason; readonly reasons: readonly BlockReason[] };

/**
 * The agent's check before it applies an envelope carrying a policy section: the release
 * must be among the supplied bundles, and every policy's artifact rules, approval count
 * (distinct people and keys, never the author, signed by registered approver keys, for this
 * rollout and release) and change window must pass at `now`. Returns the first rule that
 * refused, and all of them; pure, so the agent reports the refusal and applies nothing.
 */
export function checkEnvelopePolicy(
  section: EnvelopePolicy,
  bundles: readonly SignedBundle[],
  trust: EnvelopePolicyTrust,
  now: Date,
): EnvelopePolicyCheck {
  const reasons: BlockReason[] = [];
  const overrides: string[] = [];
  const release = bundles.find((bundle) => bundle.digest === section.releaseDigest);
  if (release === undefined) {
    const refusal: BlockReason = {
      kind: 'artifact',
      rule: 'release',
      message: `the change's release ${section.releaseDigest} is not among the envelope's bundles`,
    };
    return { allowed: false, refusal, reasons: [refusal] };
  }
  let facts;
  try {
    facts = inspectRelease(release, section.attestations, {
      releaseKeys: trust.releaseKeys,
      attestationKeys: importAttestationKeys(trust.attestationKeys),
    });
  } catch (error) {
    if (!isFlotillaError(error)) throw error;
    const refusal: BlockReason = { kind: 'artifact', rule: 'release', message: error.message };
    return { allowed: false, refusal, reasons: [refusal] };
  }
  const subject = { rolloutId: section.rolloutId, releaseDigest: section.releaseDigest, author: section.author };
  const approvals = verifyApprovals(section.approvals, { ...subject, action: 'approve' }, trust.approverKeys);
  const overrideApprovals = verifyApprovals(
    section.approvals,
    { ...subject, action: 'override-window' },
    trust.approverKeys,
  );
  for (const rules of section.rules) {
    if (rules.artifacts !== undefined) reasons.push(...checkArtifacts(rules.artifacts, facts, rules.policy));
    if (rules.approvals !== undefined) reasons.push(...checkApprovals(rules.approvals, approvals, rules.policy));
    if (rules.windows !== undefined) {
      const result = checkWindows(rules.windows, undefined, now.getTime(), overrideApprovals, rules.policy);
      reasons.push(...result.reasons);
      if (result.overridden) overrides.push(`window:${rules.policy}`);
    }
  }
  const [refusal] = reasons;
  return refusal === undefined ? { allowed: true, overrides } : { allowed: false, refusal, reasons };
}
