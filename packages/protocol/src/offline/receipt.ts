import { z } from 'zod';
import { signPayload, Signature, verifyPayload, type KeyPair } from '../crypto/keys.ts';
import { API_VERSION, ApiVersion, Digest, TargetId, Timestamp } from '../documents/common.ts';
import { keysWithRole, type TrustRoot } from '../documents/trust-root.ts';
import { FlotillaError } from '../errors.ts';
import type { ReportsIngestPlan } from './plan-reports-ingest.ts';
import type { ReportsFileSummary } from './read-reports-file.ts';
import { ChainPoint } from '../report-chain.ts';
import { SeqRanges, toSeqRanges, unionSeqRanges, type SeqRange } from './seq-ranges.ts';

/** The hub's answer to a reports file: what it ingested, what it already had, what it flags. */
export const OfflineReceipt = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('OfflineReceipt'),
  targetId: TargetId,
  /** sha256 of the reports file's bytes. */
  reportsFile: Digest,
  /** The file's last chain point: the agent matches it against its own chain before it prunes. */
  head: ChainPoint,
  /** Reports ingested from this file. */
  accepted: SeqRanges,
  /** Reports the hub already held with the same content. */
  duplicates: SeqRanges,
  /** Seqs the hub holds with other content (the agent's history forked); not ingested. */
  forks: z
    .array(z.number().int().min(1))
    .max(100_000)
    .refine((seqs) => seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'forks are increasing seqs'),
  /** Seqs the file's chain skips that the hub never received: lost. */
  gaps: SeqRanges,
  issuedAt: Timestamp,
});
export type OfflineReceipt = z.infer<typeof OfflineReceipt>;

/** A receipt file: the receipt and the hub key's signature over it. */
export const SignedOfflineReceipt = z.strictObject({
  receipt: OfflineReceipt,
  /** The hub key's signature, purpose `offline-receipt`. */
  signature: Signature,
});
export type SignedOfflineReceipt = z.infer<typeof SignedOfflineReceipt>;

/** The receipt for an ingest plan carried out, signed by the hub key. */
export function signReceipt(
  summary: ReportsFileSummary,
  plan: ReportsIngestPlan,
  issuedAt: string,
  hubKey: KeyPair,
): SignedOfflineReceipt {
  const receipt = OfflineReceipt.parse({
    apiVersion: API_VERSION,
    kind: 'OfflineReceipt',
    targetId: summary.targetId,
    reportsFile: summary.fileDigest,
    head: summary.head,
    accepted: toSeqRanges(plan.accept),
    duplicates: plan.duplicates,
    forks: plan.forks,
    gaps: plan.gaps,
    issuedAt,
  });
  return { receipt, signature: signPayload('offline-receipt', receipt, hubKey) };
}

/**
 * The agent's check of a receipt: signed by a hub key of its trust root (RECEIPT_KEY_UNKNOWN,
 * RECEIPT_SIGNATURE_INVALID), about its own target (RECEIPT_TARGET_MISMATCH), and consistent
 * (RECEIPT_INVALID: every seq it names at or below the head).
 */
export function verifyReceipt(
  signed: SignedOfflineReceipt,
  site: { readonly trustRoot: TrustRoot; readonly targetId: string },
): OfflineReceipt {
  const { receipt, signature } = signed;
  const key = keysWithRole(site.trustRoot, 'hub').find((k) => k.id === signature.keyId);
  if (key === undefined)
    throw new FlotillaError(
      'RECEIPT_KEY_UNKNOWN',
      `the receipt is signed by key ${signature.keyId}, which trust root v${site.trustRoot.version} does not list as a hub key`,
      { keyId: signature.keyId },
    );
  if (!verifyPayload('offline-receipt', receipt, signature, key.publicKey)) {
    throw new FlotillaError(
      'RECEIPT_SIGNATURE_INVALID',
      `the receipt does not verify against hub key ${key.id}: it was altered or forged`,
      { keyId: key.id },
    );
  }
  if (receipt.targetId !== site.targetId)
    throw new FlotillaError(
      'RECEIPT_TARGET_MISMATCH',
      `the receipt is for target ${receipt.targetId}, not for this target ${site.targetId}`,
      { targetId: receipt.targetId },
    );
  const highest = Math.max(
    0,
    ...[receipt.accepted, receipt.duplicates, receipt.gaps].map((r) => r.at(-1)?.to ?? 0),
    receipt.forks.at(-1) ?? 0,
  );
  if (highest > receipt.head.seq)
    throw new FlotillaError(
      'RECEIPT_INVALID',
      `the receipt names seq ${highest}, beyond the head ${receipt.head.seq} of the file it answers`,
      { seq: highest },
    );
  return receipt;
}

/** What a verified receipt settles in the agent's journal. */
export interface ReceiptSettlement {
  /** Reports the hub holds as the agent sent them: the agent may drop them. */
  readonly confirmed: readonly SeqRange[];
  /** Reports the hub refused because it holds other content for their seq; resending cannot change that. */
  readonly forks: readonly number[];
}

/**
 * What a receipt lets the agent prune. The receipt's head must be a point of the agent's own
 * chain (`linkAt` gives the agent's link for a seq it still holds): a receipt for a chain the
 * agent did not write is RECEIPT_INVALID. When the agent no longer holds the head, an earlier
 * receipt already settled it and nothing is left to do: importing a receipt twice is harmless.
 */
export function settleReceipt(receipt: OfflineReceipt, linkAt: (seq: number) => string | undefined): ReceiptSettlement {
  if (receipt.head.seq === 0) return { confirmed: [], forks: [] };
  const own = linkAt(receipt.head.seq);
  if (own === undefined) return { confirmed: [], forks: [] };
  if (own !== receipt.head.link) {
    throw new FlotillaError(
      'RECEIPT_INVALID',
      `the receipt answers a file whose report ${receipt.head.seq} links to ${receipt.head.link}, but this agent's report ${receipt.head.seq} links to ${own}: it is not a receipt for this agent's reports`,
      { seq: receipt.head.seq },
    );
  }
  return { confirmed: unionSeqRanges(receipt.accepted, receipt.duplicates), forks: receipt.forks };
}
