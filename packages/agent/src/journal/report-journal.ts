import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { API_VERSION, signPayload, SignedReport, type KeyPair, type Report } from '@flotilla/protocol';
import { writeJsonAtomic } from '../state-files.ts';

export type ReportBody = Omit<Report, 'apiVersion' | 'kind' | 'targetId' | 'seq'>;

/**
 * Store and forward for reports. Each report is numbered, signed and written to disk before
 * it is sent, and removed only once the hub acknowledged it; a hub that is away, or an agent
 * that restarts, loses nothing. The hub is idempotent by seq, so a resend is harmless.
 */
export class ReportJournal {
  private readonly dir: string;
  private readonly maxPending: number;
  private readonly key: KeyPair;
  private readonly targetId: string;
  private readonly nextSeq: () => Promise<number>;

  /**
   * @param nextSeq hands out report numbers; it must never hand out one twice for this
   *   target, even across restarts and, in a cluster, across the pods that share the identity.
   */
  constructor(stateDir: string, key: KeyPair, targetId: string, nextSeq: () => Promise<number>, maxPending = 1000) {
    this.maxPending = maxPending;
    this.nextSeq = nextSeq;
    this.key = key;
    this.targetId = targetId;
    this.dir = join(stateDir, 'journal');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Numbers, signs and stores a report; returns it as it will be sent. */
  async append(body: ReportBody): Promise<SignedReport> {
    const seq = await this.nextSeq();
    const report: Report = { apiVersion: API_VERSION, kind: 'Report', targetId: this.targetId, seq, ...body };
    const signed: SignedReport = { report, signature: signPayload('report', report, this.key) };
    writeJsonAtomic(join(this.dir, `${String(seq).padStart(12, '0')}.report.json`), signed);
    this.trim();
    return signed;
  }

  pending(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.report.json'))
      .sort();
  }

  /** Sends pending reports oldest first; stops at the first failure and leaves the rest. */
  async flush(send: (signed: SignedReport) => Promise<void>): Promise<number> {
    let sent = 0;
    for (const file of this.pending()) {
      const path = join(this.dir, file);
      const parsed = SignedReport.safeParse(JSON.parse(readFileSync(path, 'utf8')));
      if (parsed.success) await send(parsed.data);
      rmSync(path, { force: true });
      sent++;
    }
    return sent;
  }

  /** Old observations are superseded by newer ones: past the cap, the oldest go first. */
  private trim(): void {
    const files = this.pending();
    for (const file of files.slice(0, Math.max(0, files.length - this.maxPending)))
      rmSync(join(this.dir, file), { force: true });
  }
}
