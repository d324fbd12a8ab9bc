import { z } from 'zod';
import { ApprovalView } from './policies.ts';

const Count = z.number().int().min(0);

/**
 * One policy's approval rule as a rollout stands against it: how many signed approvals it
 * needs, whose count, and how many are still missing.
 */
export const ApprovalRequirement = z.object({
  /** The policy, as `name@version`. */
  policy: z.string(),
  /** `approve` for `approvals.required`; `override-window` for `windows.emergencyOverride`. */
  action: z.enum(['approve', 'override-window']),
  required: Count,
  /** Whose approvals count (name globs); null: any registered approver but the author. */
  approvers: z.array(z.string()).nullable(),
  /** Approvals that count now: distinct people with distinct keys, verified against the trust root in force. */
  counted: z.array(z.object({ approver: z.string(), keyId: z.string() })),
  /** How many more are needed (0 when met). */
  needed: Count,
  /** Members of the rollout held by this rule now (counted among its first 1,000 members needing attention). */
  waiting: Count,
});
export type ApprovalRequirement = z.infer<typeof ApprovalRequirement>;

/**
 * `GET /v1/rollouts/{id}/approval-status` (viewer): what the rollout waits for by way of
 * approvals, what it has, and who may not give them (the author), for the dashboard's approve
 * flow.
 */
export const ApprovalStatus = z.object({
  rolloutId: z.string(),
  /** The rollout's author: their own approval never counts. */
  author: z.string(),
  releaseDigest: z.string(),
  /** Whether the rollout still takes approvals (running or paused). */
  active: z.boolean(),
  /** Members held awaiting approval or by a closed window, now. */
  waiting: z.object({ approval: Count, window: Count }),
  requirements: z.array(ApprovalRequirement),
  /** Every approval recorded, as `GET /v1/rollouts/{id}/approvals` lists them. */
  approvals: z.array(ApprovalView),
});
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;
