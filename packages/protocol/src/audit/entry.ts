import { z } from 'zod';
import { Digest, TargetId, Timestamp } from '../documents/common.ts';
import { Actor } from '../documents/target.ts';

/** The most target ids one entry names; a bulk action beyond this is split into several entries. */
export const AUDIT_MAX_SUBJECTS = 10_000;

/** The largest canonical body of one entry, in UTF-16 code units (64 KiB of ASCII). */
export const AUDIT_MAX_BODY_LENGTH = 65_536;

/**
 * What was done, as a dotted verb: `target.label`, `enroll.refused`, `trust-root.add-release-key`.
 * Lowercase so that a query by prefix (`target.*`) finds every spelling of one family.
 */
const AuditAction = z
  .string()
  .max(128)
  .regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/, 'an audit action is a dotted lowercase verb such as target.label');
type AuditAction = z.infer<typeof AuditAction>;

/** `refused` is an attempt the hub turned away (bad token, forged signature); `failure` is an attempt that broke. */
export const AuditOutcome = z.enum(['success', 'refused', 'failure']);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

/**
 * 16 random bytes, base64url. The salt makes an entry's body hash a hiding commitment: an
 * export that leaves the entry out can carry the hash without letting anyone confirm a guess
 * of what the entry said.
 */
const AuditSalt = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'an audit salt is 22 base64url characters (16 bytes)');

/** Free-form JSON about the action: what changed from what to what, the remote address, … */
export const AuditDetails = z.record(z.string(), z.unknown());
export type AuditDetails = Record<string, unknown>;

/**
 * One link of the audit chain, as stored and exported. `hash` covers everything else:
 * see {@link hashAuditEntry} and docs/audit-format.md.
 */
export const AuditEntry = z.strictObject({
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  time: Timestamp,
  actor: Actor,
  action: AuditAction,
  subjects: z.array(TargetId).max(AUDIT_MAX_SUBJECTS),
  outcome: AuditOutcome,
  reason: z.string().max(1024).nullable(),
  details: AuditDetails,
  salt: AuditSalt,
  prevHash: Digest,
  hash: Digest,
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/** The hashed content of an entry: every field but the two chain links. */
export type AuditEntryBody = Omit<AuditEntry, 'prevHash' | 'hash'>;

/**
 * What a service hands the audit log: the hub adds seq, time, salt and the hashes. `outcome`
 * defaults to `success`; `details` values that are `undefined` are dropped, as JSON drops them.
 */
export const AuditEntryInput = z.strictObject({
  actor: Actor,
  action: AuditAction,
  subjects: z.array(TargetId).max(AUDIT_MAX_SUBJECTS).readonly().optional(),
  outcome: AuditOutcome.optional(),
  reason: z.string().max(1024).nullable().optional(),
  details: z.record(z.string(), z.unknown()).readonly().optional(),
});
export type AuditEntryInput = z.input<typeof AuditEntryInput>;
