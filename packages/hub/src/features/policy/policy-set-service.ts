import { API_VERSION, canonicalize, FlotillaError, type Actor, type Target, type TrustRoot } from '@flotilla/protocol';
import {
  policyDigest,
  policyRef,
  POLICY_SET_MAX_BYTES,
  policySetDigest,
  verifyPolicySet,
  type EnvelopeTargetRecord,
  type PolicySet,
  type SignedPolicySet,
} from '@flotilla/protocol/policy';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import { isUniqueViolation } from '../../store/sql.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { LivePolicies } from './policy-planner.ts';
import type { PolicySetStore } from './policy-set-store.ts';

export interface PolicySetServiceDeps {
  readonly tx: Transactions;
  readonly store: PolicySetStore;
  readonly policies: LivePolicies;
  readonly trust: { readonly trustRoot: TrustRoot };
  /** Reads one target's record (the targets feature's store). */
  readonly targets: { target(id: string): Target | undefined };
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/** The live policies as a set compares them: by digest, whatever their order. */
function liveDigests(policies: readonly PolicySet['policies'][number][]): string {
  return canonicalize(policies.map((policy) => `${policyRef(policy)}=${policyDigest(policy)}`).sort());
}

/**
 * Signed policy sets (docs/policy.md): the hub drafts the live policies as the next version,
 * the holders of the trust root's policy keys sign it away from the hub (`flotilla policy
 * sign-set`), and the hub publishes it once it verifies and still matches the live policies.
 * Every envelope made afterwards carries the newest set and the target's record, so the agent
 * applies every policy that governs it whatever the hub writes in its policy section.
 */
export class PolicySetService {
  private readonly deps: PolicySetServiceDeps;
  private latest: SignedPolicySet | undefined;

  constructor(deps: PolicySetServiceDeps) {
    this.deps = deps;
    this.latest = deps.store.latest();
  }

  /** Reads the newest policy set again: another replica published one (replicas/replica-caches.ts). */
  reload(): void {
    this.latest = this.deps.store.latest();
  }

  /** The live policies as the next version, unsigned. */
  draft(): SignedPolicySet {
    const policySet: PolicySet = {
      apiVersion: API_VERSION,
      kind: 'PolicySet',
      hubId: this.deps.trust.trustRoot.hubId,
      version: (this.latest?.policySet.version ?? 0) + 1,
      policies: [...this.deps.policies.live()],
      issuedAt: new Date(this.deps.clock()).toISOString(),
    };
    return { policySet, signatures: [] };
  }

  /** The newest published set. */
  current(): SignedPolicySet | undefined {
    return this.latest;
  }

  /**
   * Publishes a signed set: the next version, signed by the threshold of policy keys, holding
   * exactly the live policies (a policy applied since the draft makes it stale). Publishing the
   * newest set again changes nothing.
   */
  publish(signed: SignedPolicySet, actor: Actor): SignedPolicySet {
    const { tx, store, audit, clock } = this.deps;
    const set = signed.policySet;
    if (this.latest !== undefined && policySetDigest(this.latest.policySet) === policySetDigest(set))
      return this.latest;
    const expected = (this.latest?.policySet.version ?? 0) + 1;
    try {
      const bytes = Buffer.byteLength(JSON.stringify(signed));
      if (bytes > POLICY_SET_MAX_BYTES)
        throw new FlotillaError(
          'VALIDATION_FAILED',
          `policy set v${set.version} is ${bytes} bytes; every envelope carries it, so it may be at most ${POLICY_SET_MAX_BYTES}`,
        );
      verifyPolicySet(signed, this.deps.trust.trustRoot, undefined);
      if (set.version !== expected)
        throw new FlotillaError(
          'CONFLICT',
          `policy set v${set.version} is not the next version; v${expected} is due (draft it again)`,
        );
      if (liveDigests(set.policies) !== liveDigests(this.deps.policies.live()))
        throw new FlotillaError(
          'CONFLICT',
          `policy set v${set.version} does not hold the live policies (${this.deps.policies.live().map(policyRef).join(', ') || 'none'}); policies changed since it was drafted: draft and sign it again`,
        );
    } catch (error) {
      if (error instanceof FlotillaError)
        audit.append({
          actor,
          action: 'policy-set.publish',
          subjects: [],
          outcome: 'refused',
          reason: error.code,
          details: { version: set.version, message: error.message },
        });
      throw error;
    }
    try {
      tx.run(() => {
        store.insert(signed, clock(), actor.id);
        audit.append({
          actor,
          action: 'policy-set.publish',
          subjects: [],
          outcome: 'success',
          details: {
            version: set.version,
            digest: policySetDigest(set),
            policies: set.policies.map(policyRef),
            signers: signed.signatures.map((s) => s.keyId),
          },
        });
      });
    } catch (error) {
      // Another replica of this hub published this version first, while this one's newest set was behind.
      if (!isUniqueViolation(error)) throw error;
      this.latest = store.latest();
      throw new FlotillaError(
        'CONFLICT',
        `policy set v${set.version} was published meanwhile, by another replica of this hub: draft it again`,
      );
    }
    this.latest = signed;
    return signed;
  }

  /** What a new envelope for the target carries: the newest set and the target's record; nothing before a set is published. */
  envelopePart(targetId: string): { policySet: SignedPolicySet; target: EnvelopeTargetRecord } | undefined {
    if (this.latest === undefined) return undefined;
    const target = this.deps.targets.target(targetId);
    if (target === undefined) return undefined;
    return {
      policySet: this.latest,
      target: { name: target.name, labels: target.labels, properties: target.properties, facts: target.facts },
    };
  }
}
