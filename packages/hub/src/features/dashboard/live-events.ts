import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Report, SignedReport } from '@flotilla/protocol';
import type { AuditEntry } from '@flotilla/protocol/audit';
import { encodeAuditCursor } from '../audit/audit-cursor.ts';
import type { AuditQueryFilter } from '../audit/audit-filter.ts';
import type { AuditPageOptions, AuditQueryPage } from '../audit/audit-log.ts';

/** The kinds of event the dashboard's stream carries. */
export type LiveEventType = 'report' | 'rollout' | 'drift' | 'audit';

/** One event of the stream; `id` is `<epoch>-<n>`, increasing within one hub process. */
export interface LiveEvent {
  readonly id: string;
  readonly type: LiveEventType;
  readonly data: Readonly<Record<string, unknown>>;
}

/** The part of the audit log the stream reads: committed entries after a seq. */
export interface AuditTail {
  readonly head: { readonly seq: number };
  query(filter: AuditQueryFilter, page: AuditPageOptions): AuditQueryPage;
}

/** The part of the report service the stream watches. */
export interface ReportAccepter {
  accept(
    targetId: string,
    signed: SignedReport,
    via?: 'online' | 'file',
  ): { readonly seq: number; readonly duplicate: boolean };
}

export interface LiveEventsOptions {
  readonly audit: AuditTail;
  readonly log: Logger;
  /** How often committed audit entries are read; default 250 ms, 0 only by hand (`pollAudit`). */
  readonly pollMs?: number;
  /** Events kept for resuming streams; default 10,000. */
  readonly capacity?: number;
}

const AUDIT_BATCH = 500;
const AUDIT_BATCHES_PER_POLL = 10;
const SUBJECTS_SHOWN = 20;

/**
 * What happened in the fleet, as small events for open dashboards: each accepted report,
 * and every committed audit entry (rollout steps and drift and incident changes are also
 * announced under their own type). Clients re-read only what an event names — one target's
 * row, one rollout — never the whole fleet.
 *
 * Audit entries are read from the committed log by seq rather than hooked at append, so an
 * entry of a transaction that rolls back is never announced. The last `capacity` events (and
 * up to a sixteenth more) stay in memory for a client that reconnects with `Last-Event-ID`; older ones, or ids from
 * another hub process, are answered with "reset" (reload what you show).
 */
export class LiveEvents {
  private readonly epoch = randomBytes(4).toString('hex');
  private counter = 0;
  private readonly buffer: LiveEvent[] = [];
  private readonly capacity: number;
  private readonly listeners = new Set<(event: LiveEvent) => void>();
  private readonly audit: AuditTail;
  private readonly log: Logger;
  private auditSeq: number;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(options: LiveEventsOptions) {
    this.audit = options.audit;
    this.log = options.log.child({ component: 'live-events' });
    this.capacity = options.capacity ?? 10_000;
    this.auditSeq = options.audit.head.seq;
    const pollMs = options.pollMs ?? 250;
    if (pollMs > 0) {
      this.timer = setInterval(() => this.pollAudit(), pollMs);
      this.timer.unref();
    }
  }

  /** The id of the newest event, or of none yet (`<epoch>-0`). */
  get lastId(): string {
    return `${this.epoch}-${this.counter}`;
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  publish(type: LiveEventType, data: Readonly<Record<string, unknown>>): void {
    const event: LiveEvent = { id: `${this.epoch}-${++this.counter}`, type, data };
    this.buffer.push(event);
    // Trimmed a slack's worth at a time: a splice per event moved the whole buffer each time,
    // 10-15 µs of every report at thousands a second.
    if (this.buffer.length > this.capacity + Math.ceil(this.capacity / 16))
      this.buffer.splice(0, this.buffer.length - this.capacity);
    for (const listener of this.listeners) listener(event);
  }

  /**
   * The events after `lastEventId`, or undefined when they cannot all be replayed: an id of
   * another hub process, one that was never issued, or one older than the buffer.
   */
  since(lastEventId: string): LiveEvent[] | undefined {
    const match = /^([0-9a-f]{8})-(\d{1,15})$/.exec(lastEventId);
    if (match === null || match[1] !== this.epoch) return undefined;
    const n = Number(match[2]);
    if (n > this.counter) return undefined;
    if (n === this.counter) return [];
    const oldest = this.buffer[0] === undefined ? this.counter + 1 : Number(this.buffer[0].id.slice(9));
    if (n + 1 < oldest) return undefined;
    return this.buffer.slice(n + 1 - oldest);
  }

  /** Calls `listener` with every event from now on; returns the function that stops it. */
  subscribe(listener: (event: LiveEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Wraps a report service so that each newly stored report is announced once it is
   * committed; resent duplicates are not.
   */
  watchReports<S extends ReportAccepter>(service: S): S {
    const accept = service.accept.bind(service);
    return Object.assign(service, {
      accept: (targetId: string, signed: SignedReport, via?: 'online' | 'file') => {
        const receipt = accept(targetId, signed, via);
        if (!receipt.duplicate) this.publish('report', reportEvent(targetId, signed.report));
        return receipt;
      },
    });
  }

  /**
   * Announces a wave's bake starting or its gates no longer holding: not audited steps, yet a
   * rollout's page shows them.
   */
  waveGates(change: { readonly rollout: string; readonly wave: number; readonly state: 'baking' | 'waiting' }): void {
    this.publish('rollout', { rollout: change.rollout, action: `rollout.wave-${change.state}`, wave: change.wave });
  }

  /** Reads audit entries committed since the last poll and announces them. */
  pollAudit(): void {
    try {
      for (let batch = 0; batch < AUDIT_BATCHES_PER_POLL; batch++) {
        const page = this.audit.query(
          {},
          { order: 'asc', limit: AUDIT_BATCH, cursor: encodeAuditCursor('asc', this.auditSeq) },
        );
        for (const entry of page.entries) this.announce(entry);
        if (page.nextCursor === null) return;
      }
    } catch (error) {
      this.log.error({ err: error }, 'reading the audit log for live events failed');
    }
  }

  private announce(entry: AuditEntry): void {
    this.auditSeq = entry.seq;
    const data = {
      seq: entry.seq,
      time: entry.time,
      actor: entry.actor,
      action: entry.action,
      outcome: entry.outcome,
      reason: entry.reason,
      subjects: entry.subjects.slice(0, SUBJECTS_SHOWN),
      subjectCount: entry.subjects.length,
    };
    const family = entry.action.split('.')[0];
    if (family === 'rollout') {
      const details = entry.details as { rollout?: unknown; wave?: unknown };
      this.publish('rollout', {
        rollout: typeof details.rollout === 'string' ? details.rollout : null,
        action: entry.action,
        wave: typeof details.wave === 'number' ? details.wave : null,
        seq: entry.seq,
      });
    } else if (family === 'drift' || family === 'incident') {
      this.publish('drift', { action: entry.action, subjects: data.subjects, seq: entry.seq });
    }
    this.publish('audit', data);
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.listeners.clear();
  }
}

function reportEvent(targetId: string, report: Report): Record<string, unknown> {
  return {
    targetId,
    seq: report.seq,
    generation: report.generation,
    phase: report.phase,
    health: report.health,
    bundles: report.bundles.map((b) => `${b.name}@${b.version}`),
    drift: report.drift?.counts ?? null,
    observedAt: report.observedAt,
  };
}
