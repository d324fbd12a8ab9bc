import { hash } from 'node:crypto';
import { z } from 'zod';
import { canonicalize } from './canonical-json.ts';
import { digestOf } from './crypto/digest.ts';
import { Digest } from './documents/common.ts';
import type { SignedReport } from './documents/report.ts';

// The chain an agent's reports form, online in its journal as offline in a reports file: a
// module of its own, so that the online agent reaches it without the offline exchange's code.

/** A position in an agent's report chain: a report's seq and its link hash. */
export const ChainPoint = z.strictObject({
  seq: z.number().int().min(0),
  link: Digest,
});
export type ChainPoint = z.infer<typeof ChainPoint>;

/** Where every agent's chain starts: seq 0 and a link of 64 zeros. */
export const REPORT_CHAIN_GENESIS: ChainPoint = { seq: 0, link: `sha256:${'0'.repeat(64)}` };

/**
 * The link hash of a report: sha256 of the canonical `{"prev":…,"report":…,"seq":…}` where
 * `prev` is the link of the report before it in the agent's chain and `report` the digest of
 * the signed report's canonical form. A link commits to the whole chain before it.
 */
export function linkReport(prev: string, signed: SignedReport): string {
  return `sha256:${hash('sha256', canonicalize({ prev, report: digestOf(signed), seq: signed.report.seq }), 'hex')}`;
}
