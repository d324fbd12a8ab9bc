import type { ReleaseRef, Target, TrustRoot } from '@flotilla/protocol';
import {
  buildEnvelopePolicy,
  createPolicyEvaluator,
  policyRef,
  type Attestation,
  type BlockReason,
  type EnvelopePolicy,
  type PolicyEvaluator,
} from '@flotilla/protocol/policy';
import type { Clock } from '../../clock.ts';
import type { ApprovalService } from './approval-service.ts';
import type { LivePolicies, PolicyPlanner } from './policy-planner.ts';

/** Reads one target's record (the targets feature's store). */
export interface GateTargets {
  target(id: string): Target | undefined;
}

export interface RolloutPolicyGateDeps {
  readonly policies: LivePolicies;
  readonly planner: Pick<PolicyPlanner, 'releaseFacts'>;
  readonly approvals: Pick<ApprovalService, 'verified' | 'count' | 'signed'>;
  readonly targets: GateTargets;
  /** The attestations stored with releases (the bundles feature), carried to agents. */
  readonly releases: { attestationsOf(digest: string): Attestation[] };
  readonly trust: { readonly trustRoot: TrustRoot };
  readonly clock: Clock;
}

/** What a hold says, as a rollout member's reason. */
export interface GateHold {
  readonly reason: string;
  readonly waits: boolean;
  /** For a closed window: when the last of the closed windows opens next (epoch ms). */
  readonly opensAt?: number;
}

function describe(reasons: readonly BlockReason[]): GateHold {
  const final = reasons.filter((r) => r.kind !== 'approval' && r.kind !== 'window');
  const text = (list: readonly BlockReason[]): string =>
    list.map((r) => `${r.policy ?? 'release'} ${r.rule}: ${r.message}`).join('; ');
  if (final.length > 0) return { reason: `excluded by policy: ${text(final)}`, waits: false };
  const approvals = reasons.filter((r) => r.kind === 'approval');
  if (approvals.length > 0) return { reason: `awaiting-approval: ${text(approvals)}`, waits: true };
  const opening = reasons
    .map((r) => r.nextOpening)
    .filter((at): at is string => at !== undefined)
    .sort()
    .at(-1);
  return {
    reason: `blocked: window${opening === undefined ? '' : `, opens ${opening}`}: ${text(reasons)}`,
    waits: true,
    ...(opening === undefined ? {} : { opensAt: Date.parse(opening) }),
  };
}

/**
 * Policy inside rollouts (docs/policy.md): for each target a wave reaches, the live policies'
 * decision with the rollout's recorded approvals, at the hub's clock. Placement, artifact and
 * target blocks exclude the target; a missing approval or a closed window holds it, and the
 * wave with it, until they pass. One evaluator per rollout is kept while nothing it read has
 * changed (policies, approvals, trust root, the clock's second).
 */
export class RolloutPolicyGate {
  private readonly deps: RolloutPolicyGateDeps;
  private readonly evaluators = new Map<string, { key: string; evaluator: PolicyEvaluator }>();

  constructor(deps: RolloutPolicyGateDeps) {
    this.deps = deps;
  }

  governs(): boolean {
    return this.deps.policies.live().length > 0;
  }

  hold(
    rollout: { readonly id: string; readonly author: string; readonly release: ReleaseRef },
    targetId: string,
  ): GateHold | undefined {
    // No policy, no hold: spares a wave of 18,000 targets reading each target's record.
    if (this.deps.policies.live().length === 0) return undefined;
    const target = this.deps.targets.target(targetId);
    if (target === undefined) return undefined;
    const decision = this.evaluator(rollout).evaluate(target);
    return decision.included ? undefined : describe(decision.reasons);
  }

  /** The section the envelope carries: the matched policies' artifact, approval and window rules, the signed approvals and the release's attestations. */
  section(
    rollout: { readonly id: string; readonly author: string; readonly release: ReleaseRef },
    targetId: string,
  ): EnvelopePolicy | undefined {
    if (this.deps.policies.live().length === 0) return undefined;
    const target = this.deps.targets.target(targetId);
    if (target === undefined) return undefined;
    const refs = new Set(this.evaluator(rollout).evaluate(target).policies);
    const matched = this.deps.policies
      .live()
      .filter(
        (policy) =>
          refs.has(policyRef(policy)) &&
          (policy.spec.artifacts !== undefined ||
            policy.spec.approvals !== undefined ||
            policy.spec.windows !== undefined),
      );
    // Most targets of a large rollout match no rule the agent checks: skip reading approvals and attestations.
    if (matched.length === 0) return undefined;
    const section = buildEnvelopePolicy(matched, target, {
      rolloutId: rollout.id,
      author: rollout.author,
      releaseDigest: rollout.release.digest,
      approvals: [
        ...this.deps.approvals.signed(rollout.id, 'approve'),
        ...this.deps.approvals.signed(rollout.id, 'override-window'),
      ],
      attestations: this.deps.releases.attestationsOf(rollout.release.digest),
    });
    return section.rules.length === 0 ? undefined : section;
  }

  private evaluator(rollout: {
    readonly id: string;
    readonly author: string;
    readonly release: ReleaseRef;
  }): PolicyEvaluator {
    const policies = this.deps.policies.live();
    const now = this.deps.clock();
    const key = `${policies.map((p) => `${p.metadata.name}@${p.metadata.version}`).join(',')}|${this.deps.approvals.count(rollout.id)}|${this.deps.trust.trustRoot.version}|${Math.floor(now / 1000)}`;
    const cached = this.evaluators.get(rollout.id);
    if (cached?.key === key) return cached.evaluator;
    const subject = { author: rollout.author, releaseDigest: rollout.release.digest };
    // Evaluators of finished (or dry-run) rollouts are dropped wholesale now and then.
    if (this.evaluators.size >= 256) this.evaluators.clear();
    const evaluator = createPolicyEvaluator(policies, {
      release: this.deps.planner.releaseFacts(rollout.release),
      author: rollout.author,
      approvals: this.deps.approvals.verified(rollout.id, 'approve', subject),
      overrides: this.deps.approvals.verified(rollout.id, 'override-window', subject),
      now,
    });
    this.evaluators.set(rollout.id, { key, evaluator });
    return evaluator;
  }
}
