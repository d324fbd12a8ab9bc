import { hash } from 'node:crypto';

/**
 * The link hash without argument checks, for callers whose digests already passed a schema
 * (the verifier, which hashes every link of a log). The literal is the canonical form as long
 * as both digests are `sha256:` + hex and seq is a safe integer.
 */
export function hashLinkUnchecked(seq: number, prevHash: string, bodyHash: string): string {
  // One-shot hash(): about three times faster than createHash() on inputs this small.
  return `sha256:${hash('sha256', `{"bodyHash":"${bodyHash}","prevHash":"${prevHash}","seq":${seq}}`, 'hex')}`;
}
