import { z } from 'zod';
import { Name, Timestamp } from '../documents/common.ts';
import { Actor } from '../documents/target.ts';

/*
 * Policies (docs/policy.md): compliance rules scoped by fleet queries, versioned by the hub.
 * Read by viewers, applied and deleted by admins.
 */

/** The most bytes of a policy document's text, as `parsePolicy` allows. */
const MAX_POLICY_TEXT = 256 * 1024;

/**
 * `POST /v1/policies` and `POST /v1/policies/diff`: the document as YAML or JSON text, or as
 * a JSON value. Its content is validated whole by `parsePolicy` on the hub.
 */
export const ApplyPolicyRequest = z.strictObject({
  document: z.union([z.string().max(MAX_POLICY_TEXT), z.record(z.string(), z.unknown())]),
});
export type ApplyPolicyRequest = z.infer<typeof ApplyPolicyRequest>;

/** `GET /v1/policies/{name}?version=`: the live version unless one is named. */
export const PolicyVersionQuery = z.strictObject({ version: z.coerce.number().int().min(1).optional() });
export type PolicyVersionQuery = z.infer<typeof PolicyVersionQuery>;

/** `GET /v1/policies/{name}/diff?from=&to=`: two stored versions; `to` defaults to the latest. */
export const PolicyDiffQuery = z.strictObject({
  from: z.coerce.number().int().min(1),
  to: z.coerce.number().int().min(1).optional(),
});
export type PolicyDiffQuery = z.infer<typeof PolicyDiffQuery>;

/** Which sections a policy holds, for listings. */
export const PolicySection = z.enum(['placement', 'artifacts', 'approvals', 'windows']);
export type PolicySection = z.infer<typeof PolicySection>;

/** One stored version of a policy: `deleted` marks the version that removed it. */
export const PolicyVersionInfo = z.object({
  name: Name,
  version: z.number().int().min(1),
  /** sha256 of the canonical document without its version (`policyDigest`). */
  digest: z.string(),
  deleted: z.boolean(),
  changedAt: Timestamp,
  changedBy: Actor,
});
export type PolicyVersionInfo = z.infer<typeof PolicyVersionInfo>;

export const PolicySummary = PolicyVersionInfo.extend({
  /** The canonical scope query; empty governs every target. */
  scope: z.string(),
  sections: z.array(PolicySection),
  description: z.string().optional(),
});
export type PolicySummary = z.infer<typeof PolicySummary>;

/** `GET /v1/policies`: the live policies, by name. */
export const PolicyList = z.object({ items: z.array(PolicySummary) });
export type PolicyList = z.infer<typeof PolicyList>;

/**
 * `GET /v1/policies/{name}`: one version with its document (canonical, `metadata.version`
 * set), and every version's history, newest first.
 */
export const PolicyView = z.object({
  info: PolicyVersionInfo,
  /** The Policy document as stored (see `Policy` in `@flotilla/protocol/policy`). */
  document: z.record(z.string(), z.unknown()),
  history: z.array(PolicyVersionInfo),
});
export type PolicyView = z.infer<typeof PolicyView>;

/** One difference between two versions, as `diffPolicies` gives it. */
export const PolicyFieldChange = z.object({
  path: z.string(),
  change: z.enum(['added', 'removed', 'changed']),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
});
export type PolicyFieldChange = z.infer<typeof PolicyFieldChange>;

/**
 * What applying, deleting or diffing did or would do: the policy's version before and after
 * (null: none), whether anything changed, and the canonical difference.
 */
export const PolicyChangeResult = z.object({
  name: Name,
  from: z.number().int().nullable(),
  to: z.number().int().nullable(),
  changed: z.boolean(),
  changes: z.array(PolicyFieldChange),
});
export type PolicyChangeResult = z.infer<typeof PolicyChangeResult>;

/** One reason a policy blocks a target, as `createPolicyEvaluator` gives it. */
export const PlanBlockReason = z.object({
  kind: z.enum(['target', 'placement', 'artifact', 'approval', 'window']),
  rule: z.string(),
  /** The policy that said so, as `name@version`; absent for the release's own requirements and the target's status. */
  policy: z.string().optional(),
  message: z.string(),
  /** For a closed window: when it next opens (ISO 8601, UTC). */
  nextOpening: z.string().optional(),
});
export type PlanBlockReason = z.infer<typeof PlanBlockReason>;

/** One selected target in a plan: included, or blocked with every reason. */
export const PlannedTargetView = z.object({
  targetId: z.string(),
  name: z.string(),
  included: z.boolean(),
  /** Every policy whose scope matched the target, as `name@version`. */
  policies: z.array(z.string()),
  reasons: z.array(PlanBlockReason),
  /** Window overrides that let the change through, as `window:name@version`. */
  overrides: z.array(z.string()).optional(),
  /** With `place`: why the target was or was not chosen. */
  placement: z.string().optional(),
});
export type PlannedTargetView = z.infer<typeof PlannedTargetView>;

/**
 * `POST /v1/rollouts/plan`: which targets a rollout of `release` would reach, and why not the
 * others. `selector` picks the targets as in a rollout; `place` (such as `class=payments,
 * capability=pci-dss, per-region=2`) picks them from requirements instead; `rollout` names an
 * existing rollout whose approvals count.
 */
export const PolicyPlanRequest = z
  .strictObject({
    release: z.string().min(1).max(200),
    selector: z.union([z.string().max(4096), z.record(z.string(), z.unknown())]).optional(),
    place: z.string().min(1).max(4096).optional(),
    /** Most targets to list; the totals count them all. */
    limit: z.number().int().min(0).max(100_000).default(1000),
  })
  .refine((request) => (request.selector === undefined) !== (request.place === undefined), {
    message: 'give exactly one of selector and place',
  });
export type PolicyPlanRequest = z.infer<typeof PolicyPlanRequest>;

export const PolicyPlan = z.object({
  release: z.object({ name: z.string(), version: z.string(), digest: z.string() }),
  /** The selector the plan ran: as given, or the chosen ids for `place`. */
  selector: z.string(),
  /** Every live policy, as `name@version`. */
  policies: z.array(z.string()),
  totals: z.object({ selected: z.number().int(), included: z.number().int(), blocked: z.number().int() }),
  targets: z.array(PlannedTargetView),
  /** Whether `targets` lists fewer than `totals.selected`. */
  truncated: z.boolean(),
});
export type PolicyPlan = z.infer<typeof PolicyPlan>;

/** `POST /v1/rollouts/{id}/approvals`: an approval signed on the approver's machine with their own key. */
export const RecordApprovalRequest = z.strictObject({ approval: z.record(z.string(), z.unknown()) });
export type RecordApprovalRequest = z.infer<typeof RecordApprovalRequest>;

export const ApprovalView = z.object({
  approver: z.string(),
  action: z.enum(['approve', 'override-window']),
  keyId: z.string(),
  approvedAt: z.string(),
  recordedAt: Timestamp,
  recordedBy: z.string(),
  /** Whether it verifies now against the trust root in force (an approver key may have been removed). */
  valid: z.boolean(),
});
export type ApprovalView = z.infer<typeof ApprovalView>;

/** `GET /v1/rollouts/{id}/approvals`, and the answer to recording one. */
export const ApprovalList = z.object({ rolloutId: z.string(), items: z.array(ApprovalView) });
export type ApprovalList = z.infer<typeof ApprovalList>;
