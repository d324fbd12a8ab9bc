import type { ApprovalRequirement, ApprovalStatus, RolloutView } from '@flotilla/protocol/api';
import { countApprovals, policyRef, type Policy } from '@flotilla/protocol/policy';
import type { ApprovalService } from './approval-service.ts';
import type { LivePolicies } from './policy-planner.ts';

/** Members read to tell which rules hold a rollout: the first this many needing attention. */
export const MEMBERS_READ = 1000;

/** What the status reads of a rollout (the rollouts feature). */
export interface StatusRollouts {
  view(id: string, listing: 'problems', limit: number): RolloutView;
  subject(
    id: string,
  ): { readonly author: string; readonly releaseDigest: string; readonly active: boolean } | undefined;
}

export interface ApprovalStatusDeps {
  readonly rollouts: StatusRollouts;
  readonly policies: LivePolicies;
  readonly approvals: Pick<ApprovalService, 'list' | 'verified'>;
}

const AWAITING = 'awaiting-approval: ';
const WINDOW = 'blocked: window';

/** Whether a member's hold names `ref`'s rule under `rule` (the gate writes `<ref> <rule>: <message>`, joined by `; `). */
function holdsBy(reason: string, ref: string, rule: string): boolean {
  return reason.includes(`: ${ref} ${rule}`) || reason.includes(`; ${ref} ${rule}`);
}

/**
 * A rollout's approvals as a person deciding whether to approve needs them (docs/dashboard.md,
 * "Approving"): each live policy whose approval rule (or emergency override) holds one of the
 * rollout's members now, with the approvals that count under it and how many are missing.
 * The holds are the rollout gate's own member reasons, so this says what the gate does; a
 * rule met no longer holds anyone and leaves the list (the approvals stay listed).
 */
export function approvalStatus(deps: ApprovalStatusDeps, rolloutId: string): ApprovalStatus {
  const list = deps.approvals.list(rolloutId);
  const subject = deps.rollouts.subject(rolloutId)!;
  const members = deps.rollouts.view(rolloutId, 'problems', MEMBERS_READ).members ?? [];
  const awaiting = members.flatMap((m) => (m.reason?.startsWith(AWAITING) === true ? [m.reason] : []));
  const closed = members.flatMap((m) => (m.reason?.startsWith(WINDOW) === true ? [m.reason] : []));
  const verified = {
    approve: deps.approvals.verified(rolloutId, 'approve', subject).accepted,
    'override-window': deps.approvals.verified(rolloutId, 'override-window', subject).accepted,
  };
  const requirement = (
    policy: Policy,
    action: ApprovalRequirement['action'],
    required: number,
    approvers: readonly string[] | undefined,
    holds: readonly string[],
  ): ApprovalRequirement => {
    const ref = policyRef(policy);
    const { count, counted } = countApprovals(verified[action], approvers);
    return {
      policy: ref,
      action,
      required,
      approvers: approvers === undefined ? null : [...approvers],
      counted: counted.map((item) => ({ approver: item.approver, keyId: item.keyId })),
      needed: Math.max(0, required - count),
      waiting: holds.filter((reason) => holdsBy(reason, ref, action === 'approve' ? 'approvals.' : 'windows.')).length,
    };
  };
  const requirements: ApprovalRequirement[] = [];
  for (const policy of deps.policies.live()) {
    const ref = policyRef(policy);
    const { approvals, windows } = policy.spec;
    if (approvals !== undefined && awaiting.some((r) => holdsBy(r, ref, 'approvals.')))
      requirements.push(requirement(policy, 'approve', approvals.required, approvals.approvers, awaiting));
    const override = windows?.emergencyOverride;
    if (override !== undefined && closed.some((r) => holdsBy(r, ref, 'windows.')))
      requirements.push(requirement(policy, 'override-window', override.approvals, undefined, closed));
  }
  return {
    rolloutId,
    author: subject.author,
    releaseDigest: subject.releaseDigest,
    active: subject.active,
    waiting: { approval: awaiting.length, window: closed.length },
    requirements,
    approvals: list.items,
  };
}
