import { z } from 'zod';
import { digestOf } from '../crypto/digest.ts';
import { countValidSigners, Signature } from '../crypto/keys.ts';
import { ApiVersion, Labels, Name, Properties, Timestamp } from '../documents/common.ts';
import { Facts } from '../documents/report.ts';
import type { Target } from '../documents/target.ts';
import { keysWithRole, type TrustRoot } from '../documents/trust-root.ts';
import { FlotillaError } from '../errors.ts';
import { matchesQuery } from '../query/evaluate.ts';
import { policyScope } from './parse-policy.ts';
import { Policy } from './policy-document.ts';

/**
 * Signed policy sets (docs/policy.md, "Signed policy sets"): the live policies as one
 * versioned document signed by the trust root's `policy` keys, so that a hub cannot leave
 * out or alter the policy that governs a target: the agent scopes the set to itself and
 * applies its rules whatever policy section the hub wrote.
 */

/** The most policies one set holds. */
export const POLICY_SET_MAX_POLICIES = 512;
/** The most bytes of a signed set's JSON: every envelope carries it, within `ENVELOPE_MAX_BYTES`. */
export const POLICY_SET_MAX_BYTES = 4 * 1024 * 1024;

export const PolicySet = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('PolicySet'),
  /** The hub whose trust root's policy keys sign it. */
  hubId: z.string().min(1).max(64),
  /** One more per published set; agents refuse one lower than a set they accepted. */
  version: z.number().int().min(1),
  policies: z.array(Policy).max(POLICY_SET_MAX_POLICIES),
  issuedAt: Timestamp,
});
export type PolicySet = z.infer<typeof PolicySet>;

/** A set with the signatures made so far: none in a fresh draft, a threshold once published. */
export const SignedPolicySet = z.strictObject({
  policySet: PolicySet,
  signatures: z.array(Signature).max(64),
});
export type SignedPolicySet = z.infer<typeof SignedPolicySet>;

/**
 * What the hub's record says of the target an envelope is for, signed in the envelope with
 * it: what policy scopes read, so the agent can tell which policies of the set govern it.
 */
export const EnvelopeTargetRecord = z.strictObject({
  name: Name,
  labels: Labels,
  properties: Properties,
  facts: Facts,
});
export type EnvelopeTargetRecord = z.infer<typeof EnvelopeTargetRecord>;

/** The set an agent accepted last, persisted so that an older one is refused after a restart. */
export interface AcceptedPolicySet {
  readonly version: number;
  readonly digest: string;
}

function refuse(rule: string, message: string): FlotillaError {
  return new FlotillaError('POLICY_REFUSED', message, { rule, kind: 'policy-set' });
}

/** The digest a set is pinned by: two different sets under one version are told apart. */
export function policySetDigest(set: PolicySet): string {
  return digestOf(set);
}

/**
 * Accepts a signed policy set under `root`: for its hub, signed by at least
 * `thresholds.policy` (default 1) distinct `policy` keys, and not older than `accepted`
 * (nor, at the same version, different from it).
 *
 * @throws FlotillaError `POLICY_REFUSED` with `details.rule`: `policySet.signatures`,
 *   `policySet.hub` or `policySet.version`.
 */
export function verifyPolicySet(
  signed: SignedPolicySet,
  root: TrustRoot,
  accepted: AcceptedPolicySet | undefined,
): PolicySet {
  const set = signed.policySet;
  if (set.hubId !== root.hubId)
    throw refuse('policySet.hub', `policy set v${set.version} is for hub ${set.hubId}, not for ${root.hubId}`);
  const keys = keysWithRole(root, 'policy');
  const needed = root.thresholds.policy ?? 1;
  const valid = countValidSigners('policy-set', set, signed.signatures, keys);
  if (valid < needed)
    throw refuse(
      'policySet.signatures',
      `policy set v${set.version} carries ${valid} valid signatures of the ${keys.length} policy keys of trust root v${root.version}; ${needed} are required`,
    );
  if (accepted !== undefined) {
    if (set.version < accepted.version)
      throw refuse(
        'policySet.version',
        `policy set v${set.version} is older than v${accepted.version}, which this agent accepted already: a replayed set`,
      );
    if (set.version === accepted.version && policySetDigest(set) !== accepted.digest)
      throw refuse(
        'policySet.version',
        `policy set v${set.version} differs from the v${accepted.version} this agent accepted: two sets under one version`,
      );
  }
  return set;
}

/** The policies of a set whose scopes select the target as its signed record describes it, at `now`. */
export function policiesForTarget(set: PolicySet, targetId: string, record: EnvelopeTargetRecord, now: Date): Policy[] {
  const epoch = new Date(0).toISOString();
  const target: Target = {
    id: targetId,
    ...record,
    status: 'active',
    keyId: '',
    desired: { generation: 0, bundles: [] },
    observed: null,
    enrolledAt: epoch,
    lastSeenAt: null,
    lastChangedAt: epoch,
    lastChangedBy: { kind: 'system', id: 'policy-set' },
  };
  return set.policies.filter((policy) => matchesQuery(policyScope(policy), target, { now: now.getTime() }));
}
