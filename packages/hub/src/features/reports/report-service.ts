import type { Logger } from 'pino';
import {
  canonicalize,
  FlotillaError,
  type FaultPoints,
  SECURITY_CODES,
  verifyPayload,
  type Facts,
  type Report,
  type SignedReport,
  type Target,
} from '@flotilla/protocol';
import type { LastReport, ReportReceipt } from '@flotilla/protocol/api';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { ReadReport } from './report-body.ts';
import type { ReportIntake } from './report-intake.ts';
import type { ReportStore } from './report-store.ts';

/** The key each target signs its reports with (the targets feature's cache). */
export interface ReportingTargets {
  get(id: string): { readonly publicKey: string } | undefined;
}

/** Where a target's observed state is kept (the targets feature's store). */
export interface ObservedTargets {
  observedSeq(id: string): number | undefined;
  setObserved(id: string, observed: NonNullable<Target['observed']>, facts: Facts, at: number | null): void;
}

/** Where the drift section of each stored report goes (the drift feature); called inside the report's transaction. */
export interface DriftReportSink {
  recordReport(targetId: string, report: Report): void;
}

export interface ReportServiceDeps {
  readonly tx: Transactions;
  readonly store: ReportStore;
  readonly targets: ReportingTargets;
  readonly observed: ObservedTargets;
  readonly drift: DriftReportSink;
  readonly audit: AuditSink;
  readonly clock: Clock;
  /** Reads, validates and verifies report bodies before they are stored, off the event loop when it has workers. */
  readonly intake: ReportIntake;
  /** Test-only crash points: `report:before-commit` after a new report's writes. */
  readonly faults?: FaultPoints;
  readonly log?: Logger;
}

/**
 * Receives agents' signed reports. A report is stored once per sequence number; the target's
 * observed state follows the highest seq, so reports forwarded late from a journal never
 * overwrite a newer observation.
 */
export class ReportService {
  private readonly deps: ReportServiceDeps;
  /**
   * Reports whose signature {@link submit} checked before the store (on a worker thread or on
   * libuv's pool), with the key it checked against, the verdict, and the report's canonical JSON
   * as stored: `accept` takes them without verifying again, unless the target's key changed meanwhile.
   */
  private readonly checked = new WeakMap<
    SignedReport,
    { readonly publicKey: string; readonly valid: boolean; readonly body: string }
  >();

  constructor(deps: ReportServiceDeps) {
    this.deps = deps;
  }

  /** What the hub last heard from a target: the seq, generation, phase and releases of its last report. */
  last(targetId: string): LastReport {
    const report = this.deps.store.last(targetId);
    return {
      last:
        report === undefined
          ? null
          : { seq: report.seq, generation: report.generation, phase: report.phase, bundles: report.bundles },
    };
  }

  /** The canonical JSON of the report stored for (target, seq), if any. */
  stored(targetId: string, seq: number): string | undefined {
    return this.deps.store.json(targetId, seq);
  }

  /** The seqs from `from` to `to` stored for the target, increasing. */
  heldSeqs(targetId: string, from: number, to: number): number[] {
    return this.deps.store.heldSeqs(targetId, from, to);
  }

  /** The highest seq of the target whose report retention pruned (its seqs up to it are spent); 0 when none was. */
  prunedThrough(targetId: string): number {
    return this.deps.store.prunedThrough(targetId);
  }

  /** The highest seq stored for the target (0 for none), and the generation its report applied. */
  highest(targetId: string): { readonly seq: number; readonly generation: number | null } {
    return this.deps.store.highest(targetId);
  }

  /**
   * {@link accept} for a report's body as sent, in a transaction shared with the other reports
   * arriving in the same turn of the event loop: what the report route calls, so that a fleet
   * reporting at once costs a commit per group rather than per report. The intake reads,
   * validates and verifies the body first, off the event loop, so the event loop only stores;
   * a report that does not verify there is refused and audited by `accept`.
   */
  async submit(targetId: string, bytes: Uint8Array): Promise<ReportReceipt> {
    const publicKey = this.deps.targets.get(targetId)?.publicKey;
    const read = await this.deps.intake.read(bytes, targetId, publicKey);
    return this.deps.tx.group(() => this.accept(targetId, this.signedOf(read, publicKey)));
  }

  /** The signed report the intake read, noted as checked when it was. */
  private signedOf(read: ReadReport, publicKey: string | undefined): SignedReport {
    if (read.kind === 'unchecked') return read.signed;
    // The canonical JSON of what the schema let through: the same value, and V8's own parser.
    const signed = JSON.parse(read.body) as SignedReport;
    if (publicKey !== undefined) this.checked.set(signed, { publicKey, valid: read.valid, body: read.body });
    return signed;
  }

  /**
   * Stores one signed report, online or carried in a reports file (`via: 'file'`, which leaves
   * the target's last contact alone): both paths share this one record per (target, seq), so a
   * report that arrives both ways is stored once.
   */
  accept(targetId: string, signed: SignedReport, via: 'online' | 'file' = 'online'): ReportReceipt {
    const { tx, store, observed, drift, audit, clock } = this.deps;
    const { report } = signed;
    if (report.targetId !== targetId) {
      audit.append({
        actor: { kind: 'agent', id: targetId },
        action: 'report.submit',
        subjects: [targetId, report.targetId],
        outcome: 'refused',
        reason: 'FORBIDDEN',
        details: { seq: report.seq },
      });
      throw new FlotillaError(
        'FORBIDDEN',
        `the report is about target ${report.targetId}, but was sent for target ${targetId}`,
      );
    }
    const state = this.deps.targets.get(targetId);
    if (state === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    const earlier = this.checked.get(signed);
    const checked = earlier !== undefined && earlier.publicKey === state.publicKey ? earlier : undefined;
    if (!(checked?.valid ?? verifyPayload('report', report, signed.signature, state.publicKey))) {
      audit.append({
        actor: { kind: 'agent', id: targetId },
        action: 'report.submit',
        subjects: [targetId],
        outcome: 'refused',
        reason: 'SIGNATURE_INVALID',
        details: { seq: report.seq },
      });
      throw new FlotillaError(
        'SIGNATURE_INVALID',
        `report ${report.seq} is not signed by the key of target ${targetId}`,
      );
    }
    const body = checked?.body ?? canonicalize(signed);
    const now = clock();
    return tx.run(() => {
      if (!store.insert(targetId, report.seq, report.generation, now, body)) {
        const lastSeq = store.lastSeq(targetId);
        const held = store.json(targetId, report.seq);
        if (held === undefined) {
          // Not held, yet not taken: the seq is at or below what retention pruned, so it was
          // spent (a replay, or an agent whose numbering went back): refused like a reused seq.
          const prunedThrough = store.prunedThrough(targetId);
          throw new FlotillaError(
            'REPORT_SEQ_CONFLICT',
            `report ${report.seq} of target ${targetId} is at or below ${prunedThrough}, up to which the hub pruned the target's reports past retention, and those sequence numbers are spent; number reports after ${lastSeq}, the last the hub holds`,
            { lastSeq, prunedThrough },
          );
        }
        if (held !== body) {
          throw new FlotillaError(
            'REPORT_SEQ_CONFLICT',
            `report ${report.seq} of target ${targetId} was already received with other content; sequence numbers must not be reused: number reports after ${lastSeq}, the last the hub holds`,
            { lastSeq },
          );
        }
        return { seq: report.seq, duplicate: true, lastSeq };
      }
      if (report.seqResync !== undefined) {
        // The agent's state went back in time: worth an operator's look (a restored backup, a
        // snapshot, a disk that lost writes), and the reports between are gone.
        audit.append({
          actor: { kind: 'agent', id: targetId },
          action: 'report.seq-resync',
          subjects: [targetId],
          outcome: 'failure',
          reason: 'REPORT_SEQ_CONFLICT',
          details: { after: report.seqResync.after, seq: report.seq },
        });
      }
      if (report.seq > (observed.observedSeq(targetId) ?? 0)) {
        observed.setObserved(
          targetId,
          {
            seq: report.seq,
            generation: report.generation,
            phase: report.phase,
            health: report.health,
            bundles: report.bundles,
            reportedAt: report.observedAt,
          },
          report.facts,
          via === 'online' ? now : null,
        );
      }
      drift.recordReport(targetId, report);
      if (report.phase === 'stalled' || report.phase === 'failed') {
        audit.append({
          actor: { kind: 'agent', id: targetId },
          action: `report.${report.phase}`,
          subjects: [targetId],
          outcome: 'failure',
          reason: report.error?.code ?? 'UNKNOWN',
          details: { seq: report.seq, generation: report.generation, message: report.error?.message },
        });
      }
      const code = report.error?.code;
      if (report.phase === 'stalled' && code !== undefined && (SECURITY_CODES as ReadonlySet<string>).has(code)) {
        audit.append({
          actor: { kind: 'agent', id: targetId },
          action: `security.${code.toLowerCase().replaceAll('_', '-')}`,
          subjects: [targetId],
          outcome: 'refused',
          reason: code,
          details: { seq: report.seq, generation: report.generation, message: report.error?.message },
        });
        this.deps.log?.warn(
          { target: targetId, code, generation: report.generation },
          'an agent refused desired state as forged or tampered with',
        );
      }
      this.deps.faults?.reach('report:before-commit');
      return { seq: report.seq, duplicate: false, lastSeq: store.lastSeq(targetId) };
    });
  }
}
