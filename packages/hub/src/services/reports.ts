import { canonicalize, FlotillaError, verifyPayload, type Report, type SignedReport, type Target } from '@flotilla/protocol';
import type { HubStore } from '../store/hub-store.ts';
import type { AuditSink } from './audit-sink.ts';
import type { Clock } from './clock.ts';
import type { TargetCache } from './target-cache.ts';

export interface ReportReceipt {
  readonly seq: number;
  /** True when this seq was already stored: the agent resent it, nothing changed. */
  readonly duplicate: boolean;
}

/** Where the drift section of each stored report goes (services/drift); called inside the report's transaction. */
export interface DriftReportSink {
  recordReport(targetId: string, report: Report): void;
}

/**
 * Receives agents' signed reports. A report is stored once per sequence number; the target's
 * observed state follows the highest seq, so reports forwarded late from a journal never
 * overwrite a newer observation.
 */
export class ReportService {
  private readonly store: HubStore;
  private readonly targets: TargetCache;
  private readonly audit: AuditSink;
  private readonly clock: Clock;
  private readonly drift: DriftReportSink | undefined;

  constructor(
    store: HubStore,
    targets: TargetCache,
    audit: AuditSink,
    clock: Clock,
    drift?: DriftReportSink,
  ) {
    this.store = store;
    this.targets = targets;
    this.audit = audit;
    this.clock = clock;
    this.drift = drift;
  }

  accept(targetId: string, signed: SignedReport): ReportReceipt {
    const { report } = signed;
    if (report.targetId !== targetId) {
      this.audit.append({ actor: { kind: 'agent', id: targetId }, action: 'report.submit', subjects: [targetId, report.targetId], outcome: 'refused', reason: 'FORBIDDEN', details: { seq: report.seq } });
      throw new FlotillaError('FORBIDDEN', `the report is about target ${report.targetId}, but was sent for target ${targetId}`);
    }
    const state = this.targets.get(targetId);
    if (state === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    if (!verifyPayload('report', report, signed.signature, state.publicKey)) {
      this.audit.append({ actor: { kind: 'agent', id: targetId }, action: 'report.submit', subjects: [targetId], outcome: 'refused', reason: 'SIGNATURE_INVALID', details: { seq: report.seq } });
      throw new FlotillaError('SIGNATURE_INVALID', `report ${report.seq} is not signed by the key of target ${targetId}`);
    }
    const body = canonicalize(signed);
    const now = this.clock();
    return this.store.transaction(() => {
      if (!this.store.insertReport(targetId, report.seq, report.generation, now, body)) {
        if (this.store.reportJson(targetId, report.seq) !== body) {
          throw new FlotillaError('REPORT_SEQ_CONFLICT', `report ${report.seq} of target ${targetId} was already received with other content; sequence numbers must not be reused`);
        }
        return { seq: report.seq, duplicate: true };
      }
      const row = this.store.targetRow(targetId)!;
      if (report.seq > row.observed_seq) {
        const observed: NonNullable<Target['observed']> = {
          seq: report.seq,
          generation: report.generation,
          phase: report.phase,
          health: report.health,
          bundles: report.bundles,
          reportedAt: report.observedAt,
        };
        this.store.setObserved(targetId, observed, report.facts, now);
      }
      this.drift?.recordReport(targetId, report);
      if (report.phase === 'stalled' || report.phase === 'failed') {
        this.audit.append({ actor: { kind: 'agent', id: targetId }, action: `report.${report.phase}`, subjects: [targetId], outcome: 'failure', reason: report.error?.code ?? 'UNKNOWN', details: { seq: report.seq, generation: report.generation, message: report.error?.message } });
      }
      return { seq: report.seq, duplicate: false };
    });
  }
}
