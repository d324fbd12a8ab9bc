import { z } from 'zod';
import { TargetId, Timestamp } from '../documents/common.ts';
import { Actor } from '../documents/target.ts';
import { AuditEntry, AuditOutcome } from './entry.ts';

/** An action, or a family of actions by prefix: `target.label`, or `target.*` for every `target.` action. */
export const AuditActionPattern = z.string().max(130).regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*(\.\*)?$/, 'an action pattern is a dotted verb such as target.label, or a prefix such as target.*');

/**
 * Which entries to read. Every member narrows the result; none means everything. `since` is
 * inclusive and `until` exclusive. `targets` matches entries naming any of the ids (the hub
 * resolves a fleet query to ids first).
 */
export const AuditQuery = z.strictObject({
  since: Timestamp.optional(),
  until: Timestamp.optional(),
  actor: z.strictObject({ kind: Actor.shape.kind.optional(), id: Actor.shape.id.optional() }).optional(),
  action: AuditActionPattern.optional(),
  targets: z.array(TargetId).min(1).max(100_000).optional(),
  outcome: z.union([AuditOutcome, z.array(AuditOutcome).min(1)]).optional(),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

/** Keyset pagination by seq: `cursor` is the `nextCursor` of the previous page, with the same query and order. */
export const AuditPageRequest = z.strictObject({
  limit: z.number().int().min(1).max(1000).optional(),
  cursor: z.string().max(128).optional(),
  order: z.enum(['asc', 'desc']).optional(),
});
export type AuditPageRequest = z.infer<typeof AuditPageRequest>;

export const AuditPage = z.object({
  entries: z.array(AuditEntry),
  nextCursor: z.string().nullable(),
});
export type AuditPage = z.infer<typeof AuditPage>;
