import { z } from 'zod';
import { AuditEntry, AuditOutcome } from '../audit/entry.ts';
import { SignedAuditCheckpoint } from '../audit/checkpoint.ts';
import { Digest, TargetId, Timestamp } from '../documents/common.ts';

/*
 * The audit trail as an API (docs/audit.md): query, a target's history, export (JSON Lines,
 * docs/audit-format.md), checkpoints (`SignedAuditCheckpoint`), verification
 * (`AuditVerifyResult`) and pruning.
 */

/** A prune always keeps at least the last day: a typo must not empty the log. */
export const AUDIT_MIN_RETENTION_MS = 86_400_000;

/** An action, or a family of actions by prefix: `target.label`, or `target.*` for every `target.` action. */
export const AuditActionPattern = z
  .string()
  .max(130)
  .regex(
    /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*(\.\*)?$/,
    'an action pattern is a dotted verb such as target.label, or a prefix such as target.*',
  );

const Time = z.iso.datetime({ offset: true, error: 'expected an RFC 3339 time such as 2025-06-01T09:00:00Z' });
const TargetList = z.array(TargetId).min(1).max(1000);
const OutcomeList = z.array(AuditOutcome).min(1).max(3);

function sinceBeforeUntil(value: { since?: string | undefined; until?: string | undefined }): boolean {
  return value.since === undefined || value.until === undefined || Date.parse(value.since) <= Date.parse(value.until);
}
const SINCE_BEFORE_UNTIL = { message: 'since must not be later than until', path: ['until'] };

const Narrowing = {
  since: Time.optional(),
  until: Time.optional(),
  actor: z.string().min(1).max(128).optional(),
  actorKind: z.enum(['user', 'agent', 'system']).optional(),
  action: AuditActionPattern.optional(),
  outcome: OutcomeList.optional(),
};
const Paging = {
  limit: z.coerce.number({ error: 'expected a whole number from 1 to 1000' }).int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(128).optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
};

/** `GET /v1/audit`: every member narrows; `target` and `outcome` may repeat or be comma-separated. */
export const AuditListQuery = z
  .strictObject({ ...Narrowing, ...Paging, target: TargetList.optional(), q: z.string().min(1).max(4096).optional() })
  .refine(sinceBeforeUntil, SINCE_BEFORE_UNTIL);
export type AuditListQuery = z.infer<typeof AuditListQuery>;

/** `GET /v1/targets/{id}/history`: the same, for one target. */
export const AuditHistoryQuery = z
  .strictObject({ ...Narrowing, ...Paging })
  .refine(sinceBeforeUntil, SINCE_BEFORE_UNTIL);
export type AuditHistoryQuery = z.infer<typeof AuditHistoryQuery>;

/** `GET /v1/audit/export`: a time window, and the targets to carry in full. */
export const AuditExportQuery = z
  .strictObject({
    since: Time.optional(),
    until: Time.optional(),
    target: TargetList.optional(),
    q: z.string().min(1).max(4096).optional(),
  })
  .refine(sinceBeforeUntil, SINCE_BEFORE_UNTIL);
export type AuditExportQuery = z.infer<typeof AuditExportQuery>;

/** A page of entries; pass `nextCursor` back as `cursor`, with the same filter and order, for the next. */
export const AuditPage = z.object({
  entries: z.array(AuditEntry),
  /** Null when this page is the last. */
  nextCursor: z.string().nullable(),
});
export type AuditPage = z.infer<typeof AuditPage>;

/** `POST /v1/audit/checkpoints`: no body, or an empty object; answered with the `SignedAuditCheckpoint`. */
export const AuditCheckpointRequest = z.strictObject({});
export type AuditCheckpointRequest = z.infer<typeof AuditCheckpointRequest>;

/** `POST /v1/audit/prune`: by age on the hub's clock, or before a time; exactly one. */
export const AuditPruneRequest = z
  .strictObject({
    olderThanSeconds: z
      .number()
      .int()
      .min(AUDIT_MIN_RETENTION_MS / 1000)
      .optional(),
    before: Time.optional(),
  })
  .refine((r) => (r.olderThanSeconds === undefined) !== (r.before === undefined), {
    message: 'give exactly one of olderThanSeconds and before',
  });
export type AuditPruneRequest = z.infer<typeof AuditPruneRequest>;

export const AuditPruneResult = z.object({
  removed: z.number().int().min(0),
  olderThan: Timestamp,
  /** The signed checkpoint that now anchors the start of the log; null when nothing was old enough. */
  anchor: SignedAuditCheckpoint.nullable(),
  head: z.object({ seq: z.number().int().min(0), hash: Digest }),
});
export type AuditPruneResult = z.infer<typeof AuditPruneResult>;

/** `GET /v1/audit/checkpoints/latest`: the chain head and the newest signed checkpoint (null before the first). */
export const AuditLatestCheckpoint = z.object({
  head: z.object({ seq: z.number().int().min(0), hash: Digest }),
  checkpoint: SignedAuditCheckpoint.nullable(),
  reason: z.enum(['interval', 'export', 'prune', 'manual']).nullable(),
});
export type AuditLatestCheckpoint = z.infer<typeof AuditLatestCheckpoint>;
