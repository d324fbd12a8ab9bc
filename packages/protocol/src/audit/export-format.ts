import { z } from 'zod';
import { ApiVersion, Digest, TargetId, Timestamp } from '../documents/common.ts';
import { PublicKey, Signature } from '../crypto/keys.ts';
import { AuditCheckpoint, AuditExportClaim, SignedAuditCheckpoint } from './checkpoint.ts';
import { AuditEntry } from './entry.ts';

/** How many body hashes the hub puts on one `elided` line; a verifier accepts up to the schema's limit. */
export const AUDIT_ELIDED_PER_LINE = 1_000;

/** A public key a checkpoint of the export may be signed with. */
export const AuditExportKey = z.strictObject({
  id: z.string().min(1).max(64),
  publicKey: PublicKey,
});
export type AuditExportKey = z.infer<typeof AuditExportKey>;

/**
 * Line 1 of an export. `base` is the chain position the export builds on (seq 0 and the
 * genesis hash for a log that starts at the beginning); the export spans seqs
 * `base.seq + 1` … `toSeq`, every one of them present in full or elided. The seal signs the
 * digest of this line, so the range and filter cannot be edited afterwards.
 */
export const AuditExportHeader = z.strictObject({
  kind: z.literal('header'),
  apiVersion: ApiVersion,
  exportedAt: Timestamp,
  filter: z.strictObject({
    since: Timestamp.nullable(),
    until: Timestamp.nullable(),
    targets: z.array(TargetId).max(100_000).nullable(),
  }),
  base: z.strictObject({
    seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    hash: Digest,
  }),
  toSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  keys: z.array(AuditExportKey).max(256),
});
export type AuditExportHeader = z.infer<typeof AuditExportHeader>;

/** A signed checkpoint the hub holds within (or at the base of) the exported range. */
export const AuditCheckpointLine = SignedAuditCheckpoint.extend({ kind: z.literal('checkpoint') });
export type AuditCheckpointLine = z.infer<typeof AuditCheckpointLine>;

/** An entry carried in full: the entry's own members plus `kind`. */
export const AuditEntryLine = AuditEntry.extend({ kind: z.literal('entry') });
export type AuditEntryLine = z.infer<typeof AuditEntryLine>;

/**
 * A run of consecutive entries left out of a filtered export: seqs `seq`, `seq + 1`, … with
 * their body hashes, enough to recompute each link and nothing about what the entries said.
 */
export const AuditElidedLine = z.strictObject({
  kind: z.literal('elided'),
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  bodyHashes: z.array(Digest).min(1).max(10_000),
});
export type AuditElidedLine = z.infer<typeof AuditElidedLine>;

/** The last line: a checkpoint at `toSeq` that also signs the header and which entries are carried in full. */
export const AuditSealLine = z.strictObject({
  kind: z.literal('seal'),
  checkpoint: AuditCheckpoint.extend({ export: AuditExportClaim }),
  signature: Signature,
});
export type AuditSealLine = z.infer<typeof AuditSealLine>;
