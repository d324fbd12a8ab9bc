import { FlotillaError, type Actor, type ReleaseRef, type Target } from '@flotilla/protocol';
import {
  buildEnvelopePolicy,
  createPolicyEvaluator,
  policyRef,
  type BlockReason,
  type EnvelopePolicy,
} from '@flotilla/protocol/policy';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { LivePolicies, PolicyPlanner } from './policy-planner.ts';

export interface AssignPolicyGateDeps {
  readonly tx: Transactions;
  readonly policies: LivePolicies;
  readonly planner: Pick<PolicyPlanner, 'releaseFacts'>;
  readonly targets: { target(id: string): Target | undefined };
  readonly audit: AuditSink;
  readonly clock: Clock;
}

const NO_APPROVALS = { accepted: [], refused: [] };

/**
 * Policy for `flotilla assign` (docs/policy.md): an assignment is a change like a rollout's,
 * so each release it brings to the target passes the same placement, artifact, approval and
 * window checks, at the hub's clock. An assignment has no rollout to collect approvals or an
 * emergency override on, so a target whose policies require approvals, or whose window is
 * closed, takes the release only through a rollout. A refusal names every reason and is
 * audited as `policy.block`; an allowed change gets the policy sections its envelope carries,
 * so the agent checks the artifact and window rules again at apply time.
 */
export class AssignPolicyGate {
  private readonly deps: AssignPolicyGateDeps;

  constructor(deps: AssignPolicyGateDeps) {
    this.deps = deps;
  }

  /**
   * The sections for the releases `brought` to the target, one per release that policies
   * govern there.
   *
   * @throws FlotillaError `POLICY_REFUSED` (audited as `policy.block`) with `details.reasons`
   *   when any policy blocks any of them.
   */
  check(targetId: string, brought: readonly ReleaseRef[], actor: Actor): EnvelopePolicy[] {
    const target = this.deps.targets.target(targetId);
    if (target === undefined || brought.length === 0) return [];
    const policies = this.deps.policies.live();
    const now = this.deps.clock();
    const sections: EnvelopePolicy[] = [];
    const blocked: { release: ReleaseRef; policies: readonly string[]; reasons: BlockReason[] }[] = [];
    for (const release of brought) {
      const decision = createPolicyEvaluator(policies, {
        release: this.deps.planner.releaseFacts(release),
        author: actor.id,
        approvals: NO_APPROVALS,
        now,
      }).evaluate(target);
      // Whether a disabled target may be assigned is the assignment's own rule, not policy's.
      const reasons = decision.included ? [] : decision.reasons.filter((reason) => reason.kind !== 'target');
      if (reasons.length > 0) {
        blocked.push({ release, policies: decision.policies, reasons });
        continue;
      }
      const refs = new Set(decision.policies);
      const section = buildEnvelopePolicy(
        policies.filter((policy) => refs.has(policyRef(policy))),
        target,
        {
          rolloutId: `assign:${targetId}`,
          author: actor.id,
          releaseDigest: release.digest,
          approvals: [],
          attestations: [],
        },
      );
      if (section.rules.length > 0) sections.push(section);
    }
    if (blocked.length === 0) return sections;
    const reasons = blocked.flatMap(({ release, reasons: list }) =>
      list.map((reason) => ({ release: `${release.name}@${release.version}`, ...reason })),
    );
    this.deps.tx.run(() => {
      for (const entry of blocked)
        this.deps.audit.append({
          actor,
          action: 'policy.block',
          subjects: [targetId],
          outcome: 'refused',
          reason: entry.reasons[0]!.kind,
          details: {
            assign: true,
            release: `${entry.release.name}@${entry.release.version}`,
            digest: entry.release.digest,
            policies: entry.policies,
            reasons: entry.reasons,
            targets: 1,
          },
        });
    });
    throw new FlotillaError(
      'POLICY_REFUSED',
      `policy refuses assigning ${blocked.map(({ release }) => `${release.name}@${release.version}`).join(', ')} to ${targetId}: ${reasons
        .map((reason) => `${reason.policy ?? 'release'} ${reason.rule}: ${reason.message}`)
        .join(
          '; ',
        )}${reasons.some((r) => r.kind === 'approval' || r.kind === 'window') ? '; approvals and window overrides are given to rollouts: use flotilla rollout create' : ''}`,
      { reasons },
    );
  }
}
