import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  API_VERSION,
  ChainPoint,
  Facts,
  isFlotillaError,
  linkReport,
  messageOf,
  parseJson,
  REPORT_CHAIN_GENESIS,
  signPayload,
  SignedReport,
  type FlotillaError,
  type KeyPair,
  type Report,
} from '@flotilla/protocol';
import type { ReportReceipt } from '@flotilla/protocol/api';
import type { AgentStore } from '../agent-state.ts';
import { readJsonFile, writeJsonAtomic } from '../state-files.ts';

export type ReportBody = Omit<Report, 'apiVersion' | 'kind' | 'targetId' | 'seq'>;

/** Where report numbers come from: the agent's store. */
export type ReportNumbers = Pick<AgentStore, 'nextReportSeq' | 'advanceReportSeq'>;

/** What one flush did. */
export interface FlushResult {
  /** Reports the hub took (stored, or already held). */
  readonly sent: number;
  /** Reports given up on: refused for good, or unreadable on disk. */
  readonly dropped: number;
}

// Refusals that a later try of the same report would meet again, so it is dropped rather than
// blocking every report behind it. Credentials (401) and a disabled or revoked target are not
// among them: those change, and the reports wait.
const KEPT_ON_REFUSAL = new Set([
  'UNAUTHENTICATED',
  'TOKEN_EXPIRED',
  'TOKEN_REPLAYED',
  'TARGET_DISABLED',
  'TARGET_REVOKED',
  'HUB_UNAVAILABLE',
  'STORE_UNAVAILABLE',
]);

// A flush that meets a conflict again right after renumbering is not going to converge.
const MAX_RESYNCS_PER_FLUSH = 3;

/**
 * Store and forward for reports. Each report is numbered, signed and written to disk before
 * it is sent, and removed only once the hub acknowledged it; a hub that is away, or an agent
 * that restarts, loses nothing. The hub is idempotent by seq, so a resend is harmless.
 *
 * A report the hub refuses never blocks the ones behind it: a seq the hub already holds with
 * other content (`409`, the agent's state went back in time) makes the journal continue its
 * numbering past the hub's last and number the waiting reports again, the first flagged with
 * `seqResync`; a report too large for the hub (`413`) is sent once more without its resources
 * and drift; any other lasting refusal drops it, logged.
 *
 * The journal also keeps the point of the report chain (docs/air-gap.md) where the reports it
 * no longer holds end: a report leaves the journal in seq order (sent, dropped, trimmed, or
 * confirmed by a receipt for a reports file), and the chain point moves past it first, so a
 * reports file exported later links on from exactly there.
 */
export class ReportJournal {
  private readonly dir: string;
  private readonly maxPending: number;
  private key: KeyPair;
  private readonly targetId: string;
  private readonly numbers: ReportNumbers;
  private readonly log: Logger | undefined;
  /** Numbering and renumbering, one at a time. */
  private lock: Promise<unknown> = Promise.resolve();
  private flushing: Promise<FlushResult> | undefined;
  /** The hub's last seq, when a resync found nothing waiting: the next report carries the flag. */
  private gapAfter: number | undefined;

  /**
   * @param numbers hands out report numbers; it must never hand out one twice for this
   *   target, even across restarts and, in a cluster, across the pods that share the identity.
   */
  constructor(
    stateDir: string,
    key: KeyPair,
    targetId: string,
    numbers: ReportNumbers,
    options: { readonly maxPending?: number; readonly log?: Logger } = {},
  ) {
    this.maxPending = options.maxPending ?? 1000;
    this.numbers = numbers;
    this.key = key;
    this.targetId = targetId;
    this.log = options.log?.child({ component: 'report-journal' });
    this.dir = join(stateDir, 'journal');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Signs the reports appended from now on with `key`: the agent's key was rotated. */
  rekey(key: KeyPair): void {
    this.key = key;
  }

  /** Numbers, signs and stores a report; returns it as it will be sent. */
  append(body: ReportBody): Promise<SignedReport> {
    return this.exclusive(async () => {
      const seq = await this.numbers.nextReportSeq();
      const gap = this.gapAfter === undefined ? {} : { seqResync: { after: this.gapAfter } };
      this.gapAfter = undefined;
      const signed = this.write({
        apiVersion: API_VERSION,
        kind: 'Report',
        targetId: this.targetId,
        seq,
        ...body,
        ...gap,
      });
      this.trim();
      return signed;
    });
  }

  /** The journal's report files, oldest first; a file a crash left behind the chain point is removed. */
  pending(): string[] {
    const base = this.chainBase().seq;
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.report.json'))
      .sort()
      .filter((file) => {
        if (base === 0 || Number(file.slice(0, 12)) > base) return true;
        rmSync(join(this.dir, file), { force: true });
        return false;
      });
  }

  /** The chain point of the last report that left the journal; the genesis before any did. */
  chainBase(): ChainPoint {
    return readJsonFile(join(this.dir, 'chain.json'), ChainPoint) ?? REPORT_CHAIN_GENESIS;
  }

  /** The reports the journal holds, in seq order. */
  held(): SignedReport[] {
    const reports: SignedReport[] = [];
    for (const file of this.pending()) {
      const signed = this.read(file);
      if (signed !== undefined) reports.push(signed);
    }
    return reports;
  }

  /**
   * The chain point and the reports held after it, read together while reports may be leaving
   * (a flush in this process): read again when the chain point moved in between, so that the
   * reports link on from the point they follow.
   */
  snapshot(): { readonly base: ChainPoint; readonly reports: SignedReport[] } {
    let base = this.chainBase();
    for (;;) {
      const reports = this.held();
      const after = this.chainBase();
      if (after.seq === base.seq && after.link === base.link) return { base, reports };
      base = after;
    }
  }

  /** The chain link of a report the journal holds, or undefined when it holds none with that seq. */
  linkAt(seq: number): string | undefined {
    let link = this.chainBase().link;
    for (const signed of this.held()) {
      link = linkReport(link, signed);
      if (signed.report.seq === seq) return link;
      if (signed.report.seq > seq) return undefined;
    }
    return undefined;
  }

  /** Drops every report up to `seq` (the hub confirmed them), moving the chain point past each. */
  prune(seq: number): Promise<number> {
    return this.exclusive(async () => {
      let dropped = 0;
      for (const file of this.pending()) {
        if (Number(file.slice(0, 12)) > seq) break;
        this.leave(file);
        dropped++;
      }
      return dropped;
    });
  }

  /**
   * Sends pending reports oldest first. Stops at the first failure that a later flush may get
   * past (the hub away, credentials to renew) and throws it, leaving that report and the rest;
   * refusals are handled as the class says. A flush called while one runs joins it.
   */
  flush(send: (signed: SignedReport) => Promise<ReportReceipt | void>): Promise<FlushResult> {
    this.flushing ??= this.flushAll(send).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushAll(send: (signed: SignedReport) => Promise<ReportReceipt | void>): Promise<FlushResult> {
    let sent = 0;
    let dropped = 0;
    let resyncs = 0;
    const slimmed = new Set<number>();
    for (let file = this.pending()[0]; file !== undefined; file = this.pending()[0]) {
      const signed = this.read(file);
      if (signed === undefined) {
        dropped++;
        continue;
      }
      let receipt: ReportReceipt | void;
      try {
        receipt = await send(signed);
      } catch (error) {
        if (!isFlotillaError(error) || KEPT_ON_REFUSAL.has(error.code)) throw error;
        const lastSeq = error.details?.['lastSeq'];
        if (error.code === 'REPORT_SEQ_CONFLICT' && typeof lastSeq === 'number' && resyncs < MAX_RESYNCS_PER_FLUSH) {
          resyncs++;
          await this.resync(lastSeq);
          continue;
        }
        if (error.code === 'BODY_TOO_LARGE' && !slimmed.has(signed.report.seq)) {
          slimmed.add(signed.report.seq);
          this.log?.warn(
            { seq: signed.report.seq },
            'report too large for the hub; sending it without resources, drift and extra facts',
          );
          this.write(slim(signed.report));
          continue;
        }
        this.drop(file, signed.report.seq, error);
        dropped++;
        continue;
      }
      this.leave(file, signed);
      sent++;
      // Accepted, but the hub holds later reports of this target: the numbering is behind.
      if (receipt?.lastSeq !== undefined && receipt.lastSeq > signed.report.seq)
        await this.numbers.advanceReportSeq(receipt.lastSeq);
    }
    return { sent, dropped };
  }

  /**
   * The hub already holds reports up to `lastSeq` that this agent numbered again (its state went
   * back in time): number everything from now on past it, and number the waiting reports again,
   * the first (or, with none waiting, the next one written) flagged `seqResync` so that the hub
   * records the gap.
   */
  resync(lastSeq: number): Promise<void> {
    return this.exclusive(async () => {
      await this.numbers.advanceReportSeq(lastSeq);
      const waiting = this.pending();
      this.gapAfter = waiting.length === 0 ? lastSeq : undefined;
      let first = true;
      for (const file of waiting) {
        const signed = this.read(file);
        if (signed === undefined) continue;
        const { seqResync: _old, ...report } = signed.report;
        const seq = await this.numbers.nextReportSeq();
        this.write({ ...report, seq, ...(first ? { seqResync: { after: lastSeq } } : {}) });
        rmSync(join(this.dir, file), { force: true });
        first = false;
      }
      this.log?.warn(
        { after: lastSeq, renumbered: waiting.length },
        'report numbers were behind the hub (the state went back in time); continuing after its last',
      );
    });
  }

  /**
   * Flags the next report written with `seqResync`: the agent found at start that the hub holds
   * reports up to `lastSeq` its own numbering had not passed (and has moved it past them).
   */
  flagGap(lastSeq: number): void {
    this.gapAfter = lastSeq;
  }

  private fileOf(seq: number): string {
    return `${String(seq).padStart(12, '0')}.report.json`;
  }

  private write(report: Report): SignedReport {
    const signed: SignedReport = { report, signature: signPayload('report', report, this.key) };
    writeJsonAtomic(join(this.dir, this.fileOf(report.seq)), signed);
    return signed;
  }

  /** A pending report, or undefined (and the file removed) when it cannot be read. */
  private read(file: string): SignedReport | undefined {
    const path = join(this.dir, file);
    try {
      return SignedReport.parse(parseJson(readFileSync(path, 'utf8'), path));
    } catch (error) {
      // Sent and removed since the directory was listed (a flush, while a reports file is written).
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      this.log?.error({ file, err: messageOf(error) }, 'dropped a journaled report that cannot be read');
      rmSync(path, { force: true });
      return undefined;
    }
  }

  private drop(file: string, seq: number, error: FlotillaError): void {
    this.log?.error({ seq, code: error.code, err: error.message }, 'the hub refused a report; dropped it');
    this.leave(file);
  }

  /** Removes a report file, after moving the chain point past it (a file that cannot be read cannot be linked). */
  private leave(file: string, signed: SignedReport | undefined = this.read(file)): void {
    if (signed !== undefined) {
      const base = this.chainBase();
      if (signed.report.seq > base.seq)
        writeJsonAtomic(join(this.dir, 'chain.json'), {
          seq: signed.report.seq,
          link: linkReport(base.link, signed),
        });
    }
    rmSync(join(this.dir, file), { force: true });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.lock.then(work, work);
    this.lock = result.catch(() => undefined);
    return result;
  }

  /** Old observations are superseded by newer ones: past the cap, the oldest go first. */
  private trim(): void {
    const files = this.pending();
    for (const file of files.slice(0, Math.max(0, files.length - this.maxPending))) this.leave(file);
  }
}

/** The report without what makes it large: per-resource status, drift items, and facts the hub does not index. */
function slim(report: Report): Report {
  const { drift: _drift, facts, ...rest } = report;
  const named = Object.fromEntries(
    Object.keys(Facts.shape).flatMap((key) => (key in facts ? [[key, facts[key]]] : [])),
  );
  return { ...rest, resources: [], facts: Facts.parse(named) };
}
