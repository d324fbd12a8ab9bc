import type { TrustedKey } from '../crypto/keys.ts';
import { AuditChainVerifier } from './chain-verifier.ts';
import { SignedAuditCheckpoint } from './checkpoint.ts';
import { AuditEntry } from './entry.ts';
import type { AuditVerifyResult } from './problems.ts';

export interface VerifyAuditChainOptions {
  /** Checkpoints to hold the chain against, in any order: the hub's, or ones an auditor kept. */
  readonly checkpoints?: Iterable<unknown>;
  /** The hub keys checkpoints must be signed with, e.g. `keysWithRole(trustRoot, 'hub')`. */
  readonly trustedKeys: readonly TrustedKey[];
  /** How many problems to list; more are only counted. Default 1000. */
  readonly maxProblems?: number;
}

/**
 * Verifies a run of audit entries, in seq order, and the checkpoints over them: every entry
 * hashes to its `hash`, links to the one before, no seq is missing or out of order, time never
 * goes back, each checkpoint is validly signed and matches the chain, and the first entry is
 * either entry 1 or vouched for by a checkpoint just before it (the anchor a prune leaves).
 * Pure: no I/O, no clock. Entries and checkpoints are parsed strictly here, so raw JSON is fine.
 *
 * @example
 * const result = verifyAuditChain(entries, { checkpoints, trustedKeys: keysWithRole(trustRoot, 'hub') });
 * if (!result.ok) console.table(result.problems);
 */
export function verifyAuditChain(entries: Iterable<unknown>, options: VerifyAuditChainOptions): AuditVerifyResult {
  const verifier = new AuditChainVerifier({
    keys: options.trustedKeys,
    trusted: true,
    ...(options.maxProblems === undefined ? {} : { maxProblems: options.maxProblems }),
  });
  // Checkpoints go first: the walk compares each as it reaches its seq.
  const checkpoints: SignedAuditCheckpoint[] = [];
  for (const candidate of options.checkpoints ?? []) {
    const parsed = SignedAuditCheckpoint.safeParse(candidate);
    if (parsed.success) checkpoints.push(parsed.data);
    else
      verifier.report(
        'malformed',
        seqOf(candidate, 'checkpoint'),
        null,
        `a checkpoint does not match the AuditCheckpoint schema: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
  }
  checkpoints.sort((a, b) => a.checkpoint.seq - b.checkpoint.seq);
  for (const checkpoint of checkpoints) verifier.addCheckpoint(checkpoint, null);
  for (const candidate of entries) {
    const parsed = AuditEntry.safeParse(candidate);
    if (parsed.success) verifier.addEntry(parsed.data, null);
    else
      verifier.report(
        'malformed',
        seqOf(candidate),
        null,
        `an entry does not match the AuditEntry schema: ${parsed.error.issues[0]?.message ?? 'invalid'} at ${parsed.error.issues[0]?.path.join('.') ?? ''}`,
      );
  }
  return verifier.finish();
}

function seqOf(value: unknown, inside?: string): number | null {
  const holder = inside === undefined ? value : (value as Record<string, unknown> | null)?.[inside];
  const seq = (holder as Record<string, unknown> | null | undefined)?.seq;
  return typeof seq === 'number' ? seq : null;
}
