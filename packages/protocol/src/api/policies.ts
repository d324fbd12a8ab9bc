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
