import { FlotillaError, keysWithRole, parseWith, type Actor, type TrustRoot } from '@flotilla/protocol';
import type { ApprovalList } from '@flotilla/protocol/api';
import {
  SignedApproval,
  verifyApprovals,
  type ApprovalAction,
  type ApproverKey,
  type VerifiedApprovals,
} from '@flotilla/protocol/policy';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { ApprovalStore } from './approval-store.ts';

/** What approvals are checked against of a rollout (the rollouts feature). */
export interface ApprovalRollouts {
  subject(
    id: string,
  ): { readonly author: string; readonly releaseDigest: string; readonly active: boolean } | undefined;
}

export interface ApprovalServiceDeps {
  readonly tx: Transactions;
  readonly store: ApprovalStore;
  readonly rollouts: ApprovalRollouts;
  readonly trust: { readonly trustRoot: TrustRoot };
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/** The trust root's approver keys, each bound to the person named on it. */
export function approverKeys(root: TrustRoot): ApproverKey[] {
  return keysWithRole(root, 'approver').flatMap((key) =>
    key.name === undefined ? [] : [{ id: key.id, publicKey: key.publicKey, identity: key.name }],
  );
}

/**
 * Signed approvals of rollouts (docs/policy.md, "Approvals"): each is checked on arrival by
 * `verifyApprovals` (a registered approver key, the key's owner, this rollout and release,
 * never the author) and refused, audited, when it fails; accepted ones are kept as signed and
 * verified again whenever they are counted, against the trust root then in force.
 */
export class ApprovalService {
  private readonly deps: ApprovalServiceDeps;

  constructor(deps: ApprovalServiceDeps) {
    this.deps = deps;
  }

  /**
   * Records an approval signed by its approver.
   *
   * @throws FlotillaError `APPROVAL_INVALID` (with `details.reason`), `NOT_FOUND`, `CONFLICT`.
   */
  record(rolloutId: string, input: unknown, actor: Actor): ApprovalList {
    const { tx, store, audit, clock } = this.deps;
    const subject = this.subject(rolloutId);
    if (!subject.active)
      throw new FlotillaError('CONFLICT', `rollout ${rolloutId} has finished; there is nothing left to approve`);
    const signed = parseWith(SignedApproval, input, 'approval');
    const { action } = signed.approval;
    const verified = verifyApprovals(
      [signed],
      { rolloutId, releaseDigest: subject.releaseDigest, author: subject.author, action },
      approverKeys(this.deps.trust.trustRoot),
    );
    const refused = verified.refused[0];
    if (refused !== undefined) {
      const error = new FlotillaError('APPROVAL_INVALID', `approval refused: ${refused.message}`, {
        reason: refused.reason,
      });
      tx.run(() =>
        audit.append({
          actor,
          action: `rollout.${action}`,
          subjects: [],
          outcome: 'refused',
          reason: refused.reason,
          details: {
            rollout: rolloutId,
            approver: signed.approval.approver.slice(0, 128),
            keyId: signed.signature.keyId,
          },
        }),
      );
      throw error;
    }
    const accepted = verified.accepted[0]!;
    return tx.run(() => {
      const already = store
        .list(rolloutId)
        .find(
          (item) => item.action === action && (item.keyId === accepted.keyId || item.approver === accepted.approver),
        );
      if (already !== undefined)
        throw new FlotillaError(
          'CONFLICT',
          `${accepted.approver} (or key ${accepted.keyId}) has already given this rollout an ${action} approval`,
        );
      store.insert({
        rolloutId,
        action,
        approver: accepted.approver,
        keyId: accepted.keyId,
        signed,
        recordedAt: clock(),
        recordedBy: actor.id,
      });
      audit.append({
        actor,
        action: `rollout.${action}`,
        subjects: [],
        outcome: 'success',
        details: { rollout: rolloutId, approver: accepted.approver, keyId: accepted.keyId },
      });
      return this.list(rolloutId);
    });
  }

  list(rolloutId: string): ApprovalList {
    const subject = this.subject(rolloutId);
    const keys = approverKeys(this.deps.trust.trustRoot);
    return {
      rolloutId,
      items: this.deps.store.list(rolloutId).map((item) => ({
        approver: item.approver,
        action: item.action,
        keyId: item.keyId,
        approvedAt: item.signed.approval.approvedAt,
        recordedAt: new Date(item.recordedAt).toISOString(),
        recordedBy: item.recordedBy,
        valid:
          verifyApprovals(
            [item.signed],
            { rolloutId, releaseDigest: subject.releaseDigest, author: subject.author, action: item.action },
            keys,
          ).accepted.length === 1,
      })),
    };
  }

  /** The signed approvals of one action, as stored: what envelopes carry. */
  signed(rolloutId: string, action: ApprovalAction): SignedApproval[] {
    return this.deps.store
      .list(rolloutId)
      .filter((item) => item.action === action)
      .map((item) => item.signed);
  }

  /** The approvals of one action, verified now against the trust root in force. */
  verified(
    rolloutId: string,
    action: ApprovalAction,
    subject: { readonly author: string; readonly releaseDigest: string },
  ): VerifiedApprovals {
    return verifyApprovals(
      this.signed(rolloutId, action),
      { rolloutId, releaseDigest: subject.releaseDigest, author: subject.author, action },
      approverKeys(this.deps.trust.trustRoot),
    );
  }

  /** Changes whenever an approval of the rollout is recorded. */
  count(rolloutId: string): number {
    return this.deps.store.count(rolloutId);
  }

  private subject(rolloutId: string): { author: string; releaseDigest: string; active: boolean } {
    const subject = this.deps.rollouts.subject(rolloutId);
    if (subject === undefined)
      throw new FlotillaError('NOT_FOUND', `no rollout ${rolloutId}; flotilla rollout ls lists them`);
    return subject;
  }
}
