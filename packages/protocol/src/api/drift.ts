import { z } from 'zod';
import { Digest, TargetId, Timestamp } from '../documents/common.ts';
import { DriftClass, DriftPolicy } from '../documents/drift-policy.ts';
import { DriftItemReport } from '../documents/drift-report.ts';
import { Actor } from '../documents/target.ts';

/*
 * Drift at the hub (docs/drift.md): the drift policy every envelope carries, current drift
 * across the fleet and per target, and operators' revert requests.
 */

/** The drift policy in force, and where it came from: `GET`, `PUT` and `DELETE /v1/drift-policy`. */
export const DriftPolicyState = z.object({
  policy: DriftPolicy,
  /** `default`: no operator set one, so envelopes carry the default policy. */
  source: z.enum(['default', 'custom']),
  /** The policy's content address, so two hubs or two reads can be compared. */
  digest: Digest,
  setAt: Timestamp.optional(),
  setBy: Actor.optional(),
});
export type DriftPolicyState = z.infer<typeof DriftPolicyState>;

/** What setting or resetting the policy did: every target with an envelope gets a new generation carrying it. */
export const DriftPolicyChange = z.object({
  state: DriftPolicyState,
  reissued: z.number().int().min(0),
});
export type DriftPolicyChange = z.infer<typeof DriftPolicyChange>;

/** `GET /v1/drift?q=&class=&intentional=&limit=`: `class` is comma-separated. */
export const DriftListQuery = z.strictObject({
  q: z.string().max(4096).optional(),
  class: z
    .string()
    .max(128)
    .transform((text) =>
      text
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    )
    .pipe(z.array(DriftClass))
    .optional(),
  intentional: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(500),
});
export type DriftListQuery = z.infer<typeof DriftListQuery>;

/** A drift item's id on its target: a short hash of its resource key and path, as `flotilla drift ls` shows it. */
export const DriftItemId = z
  .string()
  .regex(/^[0-9a-f]{12}$/, 'a drift item id is 12 hex digits, as flotilla drift ls shows it');

/** One current drift item of one target. */
export const DriftListItem = DriftItemReport.extend({
  id: DriftItemId,
  targetId: TargetId,
  target: z.string(),
  /** When the agent observed it (its report's `observedAt`). */
  reportedAt: Timestamp,
});
export type DriftListItem = z.infer<typeof DriftListItem>;

/** The most severe first, then by target name, resource and path. */
export const DriftList = z.object({
  items: z.array(DriftListItem),
  /** Items that matched, before `limit`. */
  total: z.number().int().min(0),
  /** Targets those items are on. */
  targets: z.number().int().min(0),
});
export type DriftList = z.infer<typeof DriftList>;

/** `GET /v1/targets/{id}/drift`: a target's current drift. */
export const TargetDriftView = z.object({
  targetId: TargetId,
  target: z.string(),
  /** The report the drift comes from; null before the first report with a drift section. */
  seq: z.number().int().min(1).nullable(),
  reportedAt: Timestamp.nullable(),
  counts: z.object({
    acceptable: z.number().int().min(0),
    transient: z.number().int().min(0),
    suspicious: z.number().int().min(0),
    dangerous: z.number().int().min(0),
  }),
  /** Items the agent counted but left out of its report to keep it bounded. */
  omitted: z.number().int().min(0),
  items: z.array(DriftListItem),
});
export type TargetDriftView = z.infer<typeof TargetDriftView>;

/** `POST /v1/targets/{id}/drift/revert`: the current drift items to put back, by id. */
export const RevertRequest = z.strictObject({ items: z.array(DriftItemId).min(1).max(1000) });
export type RevertRequest = z.infer<typeof RevertRequest>;

/** The generation whose envelope asks the agent to revert the items. */
export const RevertResult = z.object({
  generation: z.number().int().min(1),
  items: z.array(DriftListItem),
});
export type RevertResult = z.infer<typeof RevertResult>;
