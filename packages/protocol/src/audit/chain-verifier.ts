import type { TrustedKey } from '../crypto/keys.ts';
import { isFlotillaError } from '../errors.ts';
import { checkAuditCheckpointSignature, type SignedAuditCheckpoint } from './checkpoint.ts';
import type { AuditEntry } from './entry.ts';
import { AUDIT_GENESIS_HASH, hashAuditEntry } from './hash-entry.ts';
import { hashLinkUnchecked } from './lib/hash-link.ts';
import { AuditIncludedDigest } from './included-digest.ts';
import type { AuditProblem, AuditProblemKind, AuditVerifyResult } from './problems.ts';

export interface AuditChainVerifierOptions {
  /** The keys checkpoint signatures must verify against. */
  readonly keys: readonly TrustedKey[];
  /** Whether `keys` came from the caller (reported as `trusted` in the result). */
  readonly trusted: boolean;
  /** How many problems to list; more are only counted. Default 1000. */
  readonly maxProblems?: number;
}

interface Gap {
  from: number;
  to: number;
  line: number | null;
}

interface PendingCheckpoint {
  readonly signed: SignedAuditCheckpoint;
  readonly line: number | null;
  readonly what: string;
}

interface Claim {
  readonly seq: number;
  readonly line: number | null;
  readonly what: string;
  readonly signed: boolean;
}

/**
 * The incremental core of audit verification, in one pass and constant memory per entry:
 * feed it the base (if known), then checkpoints, then entries and elided runs in the order
 * they appear, then call {@link finish}. It never throws on bad input; every finding becomes
 * a problem with the seq and line where the chain breaks. {@link verifyAuditChain} and
 * {@link verifyAuditExport} are the usual ways in; the hub uses this directly to verify its
 * store page by page.
 */
export class AuditChainVerifier {
  /** The digest of the hashes of the entries fed in full, for an export's seal. */
  readonly included = new AuditIncludedDigest();
  private readonly keys: readonly TrustedKey[];
  private readonly trusted: boolean;
  private readonly maxProblems: number;

  private base: { seq: number; hash: string | null; line: number | null } | undefined;
  private baseVouched = false;
  /** The next seq expected in order; undefined until the base is known. */
  private expected: number | undefined;
  /** The recorded hash the next entry must link to; null when unknown (after a gap). */
  private prev: string | null = null;
  /** The recomputed hash of seq `expected - 1`; null when it cannot be recomputed. */
  private lastHash: string | null = null;
  private lastTime = Number.NEGATIVE_INFINITY;
  private readonly gaps: Gap[] = [];
  private readonly pending = new Map<number, PendingCheckpoint[]>();
  private claim: Claim | undefined;
  private readonly problems: AuditProblem[] = [];
  private omitted = 0;
  private reordered = 0;
  private entryCount = 0;
  private elidedCount = 0;
  private checkpointCount = 0;
  private signedThrough: number | null = null;

  constructor(options: AuditChainVerifierOptions) {
    this.keys = options.keys;
    this.trusted = options.trusted;
    this.maxProblems = options.maxProblems ?? 1000;
  }

  /** The last seq read in order (the base's seq before any entry), or null before anything is known. */
  get lastSeq(): number | null {
    return this.expected === undefined ? null : this.expected - 1;
  }

  /** Records a problem found outside the chain walk (a malformed line, a seal that disagrees). */
  report(kind: AuditProblemKind, seq: number | null, line: number | null, message: string): void {
    if (this.problems.length >= this.maxProblems) {
      this.omitted++;
      return;
    }
    this.problems.push({ kind, seq, line, message });
  }

  /**
   * The position the entries build on: seq 0 and the genesis hash for a complete log, or the
   * seq and hash just before an export's first entry. Without it the first entry's own
   * `prevHash` is taken as the base, and must then be vouched for by a checkpoint.
   */
  setBase(seq: number, hash: string, line: number | null): void {
    if (this.expected !== undefined) {
      this.report('malformed', seq, line, 'the chain base is set once, before any entry');
      return;
    }
    this.start(seq, hash, line);
  }

  /** Vouches for the base by other means than a checkpoint (an export's seal over its header). */
  vouchBase(): void {
    this.baseVouched = true;
  }

  /**
   * Declares that something unsigned (an export header) says the log reaches `seq`: if less
   * is present, the result reports the tail as truncated.
   */
  claimCoverage(seq: number, line: number | null, what: string): void {
    this.noteClaim({ seq, line, what, signed: false });
  }

  /**
   * Checks a checkpoint's signature and queues it to be compared with the chain when its seq
   * is reached. A checkpoint for the base, or for the seq just read, is compared at once.
   * Returns whether the signature is valid.
   */
  addCheckpoint(signed: SignedAuditCheckpoint, line: number | null, what = 'checkpoint'): boolean {
    const { seq } = signed.checkpoint;
    const check = checkAuditCheckpointSignature(signed, this.keys);
    if (check === 'key-unknown') {
      this.report(
        'checkpoint-key-unknown',
        seq,
        line,
        `${what} at seq ${seq} is signed by key ${signed.signature.keyId}, which is not among the ${this.trusted ? 'trusted keys' : "export's keys"}`,
      );
      return false;
    }
    if (check === 'signature-invalid') {
      this.report(
        'checkpoint-signature-invalid',
        seq,
        line,
        `${what} at seq ${seq} does not verify against key ${signed.signature.keyId}: it was forged or altered`,
      );
      return false;
    }
    this.noteClaim({ seq, line, what, signed: true });
    const pending: PendingCheckpoint = { signed, line, what };
    if (this.expected === undefined || seq > this.expected - 1) {
      const list = this.pending.get(seq);
      if (list === undefined) this.pending.set(seq, [pending]);
      else list.push(pending);
    } else if (seq === this.expected - 1) {
      this.match(pending, this.lastHash);
    } else if (seq === this.base!.seq) {
      this.match(pending, this.base!.hash);
    } else if (seq > this.base!.seq) {
      this.report(
        'malformed',
        seq,
        line,
        `${what} at seq ${seq} comes after the entries it covers; checkpoints precede the entries`,
      );
    }
    // A checkpoint before the base speaks of entries this log does not hold: nothing to compare.
    return true;
  }

  /** Feeds one entry carried in full. It must already have passed the strict {@link AuditEntry} schema. */
  addEntry(entry: AuditEntry, line: number | null): void {
    if (this.expected === undefined) this.start(entry.seq - 1, entry.prevHash, line);
    let computed: string;
    try {
      computed = hashAuditEntry(entry);
    } catch (error) {
      if (!isFlotillaError(error)) throw error;
      this.report('malformed', entry.seq, line, `entry ${entry.seq} cannot be canonicalized: ${error.message}`);
      return;
    }
    this.entryCount++;
    this.included.add(entry.hash);
    const expected = this.expected!;
    if (entry.seq < expected) {
      this.outOfOrder(entry.seq, line);
      if (computed !== entry.hash)
        this.report(
          'hash-mismatch',
          entry.seq,
          line,
          `entry ${entry.seq} hashes to ${computed}, not to the ${entry.hash} it records: its content was changed`,
        );
      return;
    }
    if (entry.seq > expected) {
      this.gap(expected, entry.seq - 1, line);
    } else if (this.prev !== null && entry.prevHash !== this.prev) {
      this.report(
        'link-broken',
        entry.seq,
        line,
        `entry ${entry.seq} links to ${entry.prevHash}, but entry ${entry.seq - 1} has hash ${this.prev}`,
      );
    }
    if (computed !== entry.hash) {
      this.report(
        'hash-mismatch',
        entry.seq,
        line,
        `entry ${entry.seq} hashes to ${computed}, not to the ${entry.hash} it records: its content was changed`,
      );
    }
    const time = Date.parse(entry.time);
    if (time < this.lastTime) {
      this.report(
        'time-regression',
        entry.seq,
        line,
        `entry ${entry.seq} is dated ${entry.time}, before the entry read just before it`,
      );
    }
    this.lastTime = time;
    // Link the next entry to the recorded hash, so one edited entry is reported once, not twice.
    this.advance(entry.seq, entry.hash, computed);
  }

  /** Feeds a run of elided entries: seqs `seq`, `seq + 1`, … with their body hashes. */
  addElided(seq: number, bodyHashes: readonly string[], line: number | null): void {
    if (this.expected === undefined) {
      this.report(
        'unanchored-start',
        seq,
        line,
        `the log starts with elided entries but no base to link them to; an export's header gives one`,
      );
      this.base = { seq: seq - 1, hash: null, line };
      this.baseVouched = true;
      this.expected = seq;
      this.prev = null;
    }
    for (let i = 0; i < bodyHashes.length; i++) {
      const current = seq + i;
      const expected = this.expected;
      if (current < expected) {
        this.outOfOrder(current, line);
        continue;
      }
      if (current > expected) this.gap(expected, current - 1, line);
      const hash = this.prev === null ? null : hashLinkUnchecked(current, this.prev, bodyHashes[i]!);
      this.elidedCount++;
      this.advance(current, hash, hash);
    }
  }

  /**
   * Ends the walk: reports gaps, an unvouched start and a truncated tail, and returns the
   * result. `tailLine` is the line a truncated tail is reported at: where the missing entries
   * belong (an export's seal, or the line after its last).
   */
  finish(tailLine: number | null = null): AuditVerifyResult {
    // Nothing was read: the log is empty, and its head is the genesis.
    if (this.expected === undefined) this.start(0, AUDIT_GENESIS_HASH, null);
    for (const gap of this.gaps) {
      const message =
        gap.from === gap.to
          ? `entry ${gap.from} is missing`
          : `entries ${gap.from} to ${gap.to} (${gap.to - gap.from + 1}) are missing`;
      this.report('missing-entries', gap.from, gap.line, message);
    }
    const base = this.base;
    if (base !== undefined && base.seq > 0 && !this.baseVouched) {
      this.report(
        'unanchored-start',
        base.seq + 1,
        base.line,
        `nothing vouches for the log before seq ${base.seq + 1}: no valid checkpoint at seq ${base.seq} (a prune anchor) signs its prevHash ${base.hash ?? ''}; entries may have been cut from the start`,
      );
    }
    const lastSeq = this.lastSeq ?? 0;
    if (this.claim !== undefined && this.claim.seq > lastSeq) {
      const where = this.claim.line === null ? '' : ` on line ${this.claim.line}`;
      this.report(
        'truncated',
        lastSeq + 1,
        tailLine,
        `${this.claim.what}${where} covers the log up to seq ${this.claim.seq}, but it ends at seq ${lastSeq}: the tail was cut off`,
      );
    }
    const problems = this.problems
      .slice()
      .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.seq ?? Infinity) - (b.seq ?? Infinity));
    const head = this.lastSeq === null ? null : { seq: this.lastSeq, hash: this.lastHash };
    return {
      ok: problems.length === 0 && this.omitted === 0,
      entries: this.entryCount,
      elided: this.elidedCount,
      checkpoints: this.checkpointCount,
      range: base !== undefined && lastSeq > base.seq ? { from: base.seq + 1, to: lastSeq } : null,
      head,
      signedThrough: this.signedThrough,
      trusted: this.trusted,
      problems,
      problemsOmitted: this.omitted,
    };
  }

  /** True once entries were found missing or out of order: counts and digests over the entries then differ anyway. */
  get sequenceBroken(): boolean {
    return this.gaps.length > 0 || this.reordered > 0;
  }

  /** The recomputed hash of the seq just read, when it could be recomputed. */
  get headHash(): string | null {
    return this.lastHash;
  }

  private start(seq: number, hash: string, line: number | null): void {
    this.base = { seq, hash, line };
    this.expected = seq + 1;
    this.prev = hash;
    this.lastHash = hash;
    if (seq === 0) {
      // The beginning of the log needs no checkpoint: the genesis hash is fixed.
      this.baseVouched = true;
      if (hash !== AUDIT_GENESIS_HASH)
        this.report(
          'link-broken',
          1,
          line,
          `entry 1 must link to the genesis hash ${AUDIT_GENESIS_HASH}, not to ${hash}`,
        );
    }
    this.resolve(seq, hash);
  }

  private advance(seq: number, recorded: string | null, computed: string | null): void {
    this.prev = recorded;
    this.lastHash = computed;
    this.expected = seq + 1;
    if (this.pending.size > 0) this.resolve(seq, computed);
  }

  private resolve(seq: number, hash: string | null): void {
    const list = this.pending.get(seq);
    if (list === undefined) return;
    this.pending.delete(seq);
    for (const pending of list) this.match(pending, hash);
  }

  private match(pending: PendingCheckpoint, hash: string | null): void {
    // A hash that cannot be recomputed follows a problem already reported; nothing to compare.
    if (hash === null) return;
    const { seq } = pending.signed.checkpoint;
    if (pending.signed.checkpoint.hash !== hash) {
      this.report(
        'checkpoint-mismatch',
        seq,
        pending.line,
        `${pending.what} at seq ${seq} signs hash ${pending.signed.checkpoint.hash}, but the chain recomputes to ${hash}: history differs from what the hub signed`,
      );
      return;
    }
    this.checkpointCount++;
    if (this.signedThrough === null || seq > this.signedThrough) this.signedThrough = seq;
    if (seq === this.base?.seq) this.baseVouched = true;
  }

  private gap(from: number, to: number, line: number | null): void {
    this.gaps.push({ from, to, line });
    this.prev = null;
  }

  private outOfOrder(seq: number, line: number | null): void {
    this.reordered++;
    const index = this.gaps.findIndex((g) => g.from <= seq && seq <= g.to);
    if (index === -1) {
      this.report(
        'out-of-order',
        seq,
        line,
        `entry ${seq} appears after entry ${this.expected! - 1}: it is out of order or a duplicate`,
      );
      return;
    }
    // The "missing" entry turned up later: it was moved, not deleted.
    const gap = this.gaps[index]!;
    const rest: Gap[] = [];
    if (gap.from < seq) rest.push({ from: gap.from, to: seq - 1, line: gap.line });
    if (seq < gap.to) rest.push({ from: seq + 1, to: gap.to, line: gap.line });
    this.gaps.splice(index, 1, ...rest);
    this.report(
      'out-of-order',
      seq,
      line,
      `entry ${seq} appears after entry ${this.expected! - 1}, but belongs before line ${gap.line ?? '?'}: entries were reordered`,
    );
  }

  private noteClaim(claim: Claim): void {
    const current = this.claim;
    if (
      current === undefined ||
      claim.seq > current.seq ||
      (claim.seq === current.seq && claim.signed && !current.signed)
    )
      this.claim = claim;
  }
}
