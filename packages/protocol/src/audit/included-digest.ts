import { createHash, type Hash } from 'node:crypto';

/**
 * The `included` digest of an export seal: sha256 over the UTF-8 text `hash + "\n"` of every
 * entry the export carries in full, in the order of its lines. Incremental, so that neither
 * the hub writing an export nor a verifier reading one holds the whole list.
 */
export class AuditIncludedDigest {
  private readonly hash: Hash = createHash('sha256');
  private n = 0;

  add(entryHash: string): void {
    this.hash.update(`${entryHash}\n`);
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  /** The digest so far, `sha256:…`; the digest can still be extended afterwards. */
  digest(): string {
    return `sha256:${this.hash.copy().digest('hex')}`;
  }
}
