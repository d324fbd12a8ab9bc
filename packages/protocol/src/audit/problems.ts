import { z } from 'zod';
import { FlotillaError } from '../errors.ts';

/**
 * Every way an audit log or export can fail verification. Stable: tools branch on them.
 *
 * | kind | what it means | typical cause |
 * |---|---|---|
 * | `malformed` | a line is not JSON, fails its schema, or is out of place | corruption, hand editing |
 * | `hash-mismatch` | an entry's content does not hash to its `hash` | an entry was edited |
 * | `link-broken` | `prevHash` is not the hash of the entry before | an entry edited and re-hashed, or spliced in |
 * | `missing-entries` | seqs are absent from the middle | entries were deleted |
 * | `out-of-order` | a seq comes after a later one, or twice | entries were reordered or duplicated |
 * | `time-regression` | an entry is older than the one before | reordering, or a forged time |
 * | `unanchored-start` | nothing vouches for the first entry's `prevHash` | the head of the log was cut off without a prune anchor |
 * | `truncated` | a checkpoint, seal or header covers seqs that are not present | the tail was cut off |
 * | `checkpoint-key-unknown` | a checkpoint is signed by a key the verifier does not trust | wrong key set, or a foreign file |
 * | `checkpoint-signature-invalid` | a checkpoint's signature does not verify | a forged or altered checkpoint |
 * | `checkpoint-mismatch` | a validly signed checkpoint names another hash than the chain has | history was rewritten |
 * | `unsealed` | an export has no seal line | the file was cut, or assembled by hand |
 * | `seal-mismatch` | the seal disagrees with the header, the range or the entries carried in full | an included entry was elided, or the header edited |
 */
export const AuditProblemKind = z.enum([
  'malformed',
  'hash-mismatch',
  'link-broken',
  'missing-entries',
  'out-of-order',
  'time-regression',
  'unanchored-start',
  'truncated',
  'checkpoint-key-unknown',
  'checkpoint-signature-invalid',
  'checkpoint-mismatch',
  'unsealed',
  'seal-mismatch',
]);
export type AuditProblemKind = z.infer<typeof AuditProblemKind>;

/** Where verification breaks: `seq` of the entry (or checkpoint) concerned and the 1-based `line` of an export. */
export const AuditProblem = z.object({
  kind: AuditProblemKind,
  seq: z.number().int().nullable(),
  line: z.number().int().nullable(),
  message: z.string(),
});
export type AuditProblem = z.infer<typeof AuditProblem>;

/** What a verification found; `GET /v1/audit/verify` answers with it too. */
export const AuditVerifyResult = z.object({
  /** True when no problem was found. See `signedThrough` for how much of it a signature covers. */
  ok: z.boolean(),
  /** Entries checked in full. */
  entries: z.number().int().min(0),
  /** Entries present only as body hashes (left out of a filtered export). */
  elided: z.number().int().min(0),
  /** Checkpoints (and the seal) whose signature verified and whose hash matched the chain. */
  checkpoints: z.number().int().min(0),
  /** The seqs the log or export spans, elided ones included; null when it holds no entry. */
  range: z.object({ from: z.number().int(), to: z.number().int() }).nullable(),
  /** The last seq read and its hash as recomputed. */
  head: z.object({ seq: z.number().int(), hash: z.string().nullable() }).nullable(),
  /**
   * The highest seq a valid, matching checkpoint or seal vouches for; entries after it are
   * linked but not signed. Null when no checkpoint matched.
   */
  signedThrough: z.number().int().nullable(),
  /**
   * True when signatures were checked against keys the caller supplied; false when only the
   * keys carried in the export were used, which proves consistency but not origin.
   */
  trusted: z.boolean(),
  problems: z.array(AuditProblem),
  /** Problems beyond `maxProblems` that were counted but not listed. */
  problemsOmitted: z.number().int().min(0),
});
export type AuditVerifyResult = z.infer<typeof AuditVerifyResult>;

const CHECKPOINT_KINDS: ReadonlySet<AuditProblemKind> = new Set([
  'checkpoint-key-unknown',
  'checkpoint-signature-invalid',
  'checkpoint-mismatch',
  'unsealed',
  'seal-mismatch',
]);

/**
 * Throws unless the result is ok: `AUDIT_CHECKPOINT_INVALID` when only signatures are at
 * fault, `AUDIT_CHAIN_BROKEN` otherwise; `details.problems` lists the first ten.
 */
export function assertAuditVerified(result: AuditVerifyResult): void {
  if (result.ok) return;
  const first = result.problems[0]!;
  const code = result.problems.every((p) => CHECKPOINT_KINDS.has(p.kind))
    ? 'AUDIT_CHECKPOINT_INVALID'
    : 'AUDIT_CHAIN_BROKEN';
  const where = first.line === null ? (first.seq === null ? '' : ` at seq ${first.seq}`) : ` at line ${first.line}`;
  throw new FlotillaError(
    code,
    `audit verification found ${result.problems.length + result.problemsOmitted} problem(s); the first is ${first.kind}${where}: ${first.message}`,
    {
      problems: result.problems.slice(0, 10),
    },
  );
}
