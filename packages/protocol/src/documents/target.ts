import { z } from 'zod';
import { Labels, Name, Properties, ReleaseRef, TargetId, Timestamp } from './common.ts';
import { Facts, Health, ReportPhase } from './report.ts';

/**
 * A target's drift as its latest report with a drift section says: how many items of each
 * class, how many are held as intentional, and when it was observed. The items themselves are
 * at `GET /v1/targets/{id}/drift`.
 */
export const TargetDrift = z.strictObject({
  counts: z.strictObject({
    acceptable: z.number().int().min(0),
    transient: z.number().int().min(0),
    suspicious: z.number().int().min(0),
    dangerous: z.number().int().min(0),
  }),
  /** Items reported as intentional under a hold. */
  intentional: z.number().int().min(0),
  seq: z.number().int().min(1),
  reportedAt: Timestamp,
});
export type TargetDrift = z.infer<typeof TargetDrift>;

export const TargetStatus = z.enum(['active', 'disabled', 'revoked']);
export type TargetStatus = z.infer<typeof TargetStatus>;

export const Actor = z.strictObject({
  kind: z.enum(['user', 'agent', 'system']),
  id: z.string().min(1).max(128),
});
export type Actor = z.infer<typeof Actor>;

/** A target as the hub keeps it: identity, operator data, agent facts, desired and observed state. */
export const Target = z.strictObject({
  id: TargetId,
  name: Name,
  status: TargetStatus,
  labels: Labels,
  properties: Properties,
  facts: Facts,
  keyId: z.string(),
  desired: z.strictObject({
    generation: z.number().int().min(0),
    bundles: z.array(ReleaseRef),
  }),
  observed: z
    .strictObject({
      seq: z.number().int().min(1),
      generation: z.number().int().min(0),
      phase: ReportPhase,
      health: Health,
      bundles: z.array(ReleaseRef),
      reportedAt: Timestamp,
    })
    .nullable(),
  /** Absent until the agent first reports on drift. */
  drift: TargetDrift.optional(),
  enrolledAt: Timestamp,
  lastSeenAt: Timestamp.nullable(),
  lastChangedAt: Timestamp,
  lastChangedBy: Actor,
});
export type Target = z.infer<typeof Target>;
