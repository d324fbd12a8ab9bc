import { z } from 'zod';
import { Labels, Name, Properties, ReleaseRef, TargetId, Timestamp } from './common.ts';
import { Facts, Health, ReportPhase } from './report.ts';

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
  observed: z.strictObject({
    seq: z.number().int().min(1),
    generation: z.number().int().min(0),
    phase: ReportPhase,
    health: Health,
    bundles: z.array(ReleaseRef),
    reportedAt: Timestamp,
  }).nullable(),
  enrolledAt: Timestamp,
  lastSeenAt: Timestamp.nullable(),
  lastChangedAt: Timestamp,
  lastChangedBy: Actor,
});
export type Target = z.infer<typeof Target>;
