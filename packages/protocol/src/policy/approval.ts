import { z } from 'zod';
import { ApiVersion, Digest, Timestamp } from '../documents/common.ts';
import { PublicKey, Signature, signPayload, verifyPayload, type KeyPair } from '../crypto/keys.ts';
import { compileGlobs, matchesSomeGlob } from './lib/name-glob.ts';

/**
 * Signed approvals. An approver signs with their own key, registered in the trust root with
 * the approver role and bound there to their identity, so a hub can neither forge nor
 * re-attribute one. `approve` lets a rollout reach targets whose policy requires approvals;
 * `override-window` lets it through a closed change window where the policy allows that.
 */
export const ApprovalAction = z.enum(['approve', 'override-window']);
export type ApprovalAction = z.infer<typeof ApprovalAction>;

export const Approval = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('Approval'),
  action: ApprovalAction,
  rolloutId: z.string().min(1).max(128),
  /** The release the approver saw: an approval for another release of the same rollout does not count. */
  releaseDigest: Digest,
  /** Who approves, as registered with the key (an e-mail address or user name). */
  approver: z.string().min(1).max(128),
  approvedAt: Timestamp,
  comment: z.string().max(1024).optional(),
});
export type Approval = z.infer<typeof Approval>;

export const SignedApproval = z.strictObject({ approval: Approval, signature: Signature });
export type SignedApproval = z.infer<typeof SignedApproval>;

/** An approver's key as the trust root will list it: id, public key, and the person it belongs to. */
export const ApproverKey = z.strictObject({
  id: z.string().min(1).max(64),
  publicKey: PublicKey,
  identity: z.string().min(1).max(128),
});
export type ApproverKey = z.infer<typeof ApproverKey>;

/** Signs an approval with the approver's own key (run by the CLI on the approver's machine). */
export function signApproval(approval: Approval, key: KeyPair): SignedApproval {
  return { approval, signature: signPayload('approval', approval, key) };
}

/** What the approvals must be for. */
export interface ApprovalSubject {
  readonly rolloutId: string;
  readonly releaseDigest: string;
  /** The rollout's author, whose own approval never counts. */
  readonly author: string;
  readonly action: ApprovalAction;
}

/** Why an approval was not accepted. */
export type ApprovalRefusal =
  'key-unknown' | 'signature' | 'identity-mismatch' | 'author' | 'rollout' | 'release' | 'action';

export interface AcceptedApproval {
  readonly index: number;
  /** The identity, normalized (trimmed, lowercase). */
  readonly approver: string;
  readonly keyId: string;
  readonly publicKey: string;
}

export interface VerifiedApprovals {
  readonly accepted: readonly AcceptedApproval[];
  readonly refused: readonly {
    readonly index: number;
    readonly approver: string;
    readonly reason: ApprovalRefusal;
    readonly message: string;
  }[];
}

/** People are compared without case and surrounding space: `Alice@Example.com` is `alice@example.com`. */
export function normalizeIdentity(identity: string): string {
  return identity.trim().toLowerCase();
}

/**
 * Checks each approval: signed by a registered approver key, by the person that key belongs
 * to, for this rollout, release and action, and not by the author. Accepted approvals are
 * counted with {@link countApprovals}.
 */
export function verifyApprovals(
  approvals: readonly SignedApproval[],
  subject: ApprovalSubject,
  keys: readonly ApproverKey[],
): VerifiedApprovals {
  const author = normalizeIdentity(subject.author);
  const accepted: AcceptedApproval[] = [];
  const refused: { index: number; approver: string; reason: ApprovalRefusal; message: string }[] = [];
  approvals.forEach(({ approval, signature }, index) => {
    const approver = normalizeIdentity(approval.approver);
    const refuse = (reason: ApprovalRefusal, message: string): void => {
      refused.push({ index, approver, reason, message });
    };
    const candidates = keys.filter((key) => key.id === signature.keyId);
    if (candidates.length === 0)
      return refuse(
        'key-unknown',
        `approval by ${approver} is signed by key ${signature.keyId}, which is not a registered approver key`,
      );
    const key = candidates.find((candidate) => verifyPayload('approval', approval, signature, candidate.publicKey));
    if (key === undefined)
      return refuse('signature', `approval by ${approver} does not verify against approver key ${signature.keyId}`);
    if (normalizeIdentity(key.identity) !== approver)
      return refuse(
        'identity-mismatch',
        `approval names ${approver}, but key ${key.id} belongs to ${normalizeIdentity(key.identity)}`,
      );
    if (approver === author)
      return refuse('author', `${approver} is the rollout's author, who cannot approve their own change`);
    if (approval.rolloutId !== subject.rolloutId)
      return refuse(
        'rollout',
        `approval by ${approver} is for rollout ${approval.rolloutId}, not ${subject.rolloutId}`,
      );
    if (approval.releaseDigest !== subject.releaseDigest)
      return refuse(
        'release',
        `approval by ${approver} is for release ${approval.releaseDigest}, not ${subject.releaseDigest}`,
      );
    if (approval.action !== subject.action)
      return refuse('action', `approval by ${approver} is an ${approval.action}, not an ${subject.action}`);
    accepted.push({ index, approver, keyId: key.id, publicKey: key.publicKey });
  });
  return { accepted, refused };
}

/**
 * How many accepted approvals count: the most that pair distinct people with distinct
 * public keys (a maximum matching), so one person with two keys counts once and one key
 * registered under two names counts once. With `approvers`, only identities matching those
 * globs count.
 */
export function countApprovals(
  accepted: readonly AcceptedApproval[],
  approvers?: readonly string[],
): { readonly count: number; readonly counted: readonly AcceptedApproval[] } {
  const globs = approvers === undefined ? undefined : compileGlobs(approvers.map(normalizeIdentity));
  const edges = accepted.filter((item) => globs === undefined || matchesSomeGlob(globs, item.approver));
  const people = [...new Set(edges.map((edge) => edge.approver))];
  const keyOwner = new Map<string, AcceptedApproval>();
  const tryPerson = (person: string, visited: Set<string>): boolean => {
    for (const edge of edges) {
      if (edge.approver !== person || visited.has(edge.publicKey)) continue;
      visited.add(edge.publicKey);
      const owner = keyOwner.get(edge.publicKey);
      if (owner === undefined || tryPerson(owner.approver, visited)) {
        keyOwner.set(edge.publicKey, edge);
        return true;
      }
    }
    return false;
  };
  for (const person of people) tryPerson(person, new Set());
  const counted = [...keyOwner.values()].sort((a, b) => a.index - b.index);
  return { count: counted.length, counted };
}
