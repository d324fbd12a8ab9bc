import type { Logger } from 'pino';
import { guarded, type BackgroundFailures } from '../../store/store-health.ts';
import type { Clock } from '../../clock.ts';
import { SOLE_REPLICA, type OnceOnly } from '../replicas/replica-lease.ts';
import type { AuditLog } from './audit-log.ts';
import type { RefusalRecorder } from './refusal-recorder.ts';

/** The default interval of audit checkpoints. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5 * 60_000;
const RETENTION_CHECK_MS = 60 * 60_000;
const REFUSAL_FLUSH_MS = 60_000;

export interface AuditScheduleOptions {
  readonly audit: AuditLog;
  readonly refusals: RefusalRecorder;
  readonly clock: Clock;
  readonly log: Logger;
  /** How often the chain head is signed when it moved; 0 never. */
  readonly checkpointIntervalMs: number;
  /** Prune entries older than this, checked at start and hourly; undefined keeps everything. */
  readonly retentionMs: number | undefined;
  /** Where the timers' failures go: a store that cannot write is noted once, not per tick. */
  readonly failures: BackgroundFailures;
  /** Checkpoints and retention are once-only work: with replicas, the lease holder's; default this hub's alone. */
  readonly once?: OnceOnly;
}

/**
 * The audit log's timers: a checkpoint over the head on an interval, retention (at start,
 * then hourly), and the close of each window of refused attempts. None keeps the process
 * alive; `stop` writes what is pending and signs the head, so the last entries do not wait
 * for the next start.
 */
export class AuditSchedule {
  private readonly options: AuditScheduleOptions;
  private timers: NodeJS.Timeout[] = [];

  /** Checks the options before anything runs: a bad interval or retention is a caller's mistake. */
  constructor(options: AuditScheduleOptions) {
    const { checkpointIntervalMs, retentionMs } = options;
    if (
      !Number.isFinite(checkpointIntervalMs) ||
      checkpointIntervalMs < 0 ||
      (checkpointIntervalMs > 0 && checkpointIntervalMs < 1_000)
    ) {
      throw new TypeError(
        `createHub: checkpointIntervalMs must be 0 (never) or at least 1000; received ${String(checkpointIntervalMs)}`,
      );
    }
    if (retentionMs !== undefined && (!Number.isFinite(retentionMs) || retentionMs < 86_400_000)) {
      throw new TypeError(
        `createHub: auditRetentionMs must be at least one day (86400000); received ${String(retentionMs)}`,
      );
    }
    this.options = options;
  }

  start(): void {
    this.stop();
    const { audit, refusals, checkpointIntervalMs, retentionMs } = this.options;
    const once = this.options.once ?? SOLE_REPLICA;
    if (checkpointIntervalMs > 0)
      this.every(checkpointIntervalMs, 'audit checkpoint', () => once.run(() => audit.checkpointIfAdvanced()));
    // Each replica counts the attempts refused to it, so each writes its own summaries.
    this.every(REFUSAL_FLUSH_MS, 'refused attempts', () => refusals.flush());
    if (retentionMs === undefined) return;
    const retain = (): void => void once.run(() => this.retain(retentionMs));
    retain();
    this.every(RETENTION_CHECK_MS, 'audit retention', retain);
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  /** Stops the timers, writes the summaries of refused attempts, and signs the head when it moved. */
  close(): void {
    this.stop();
    this.options.refusals.close();
    const once = this.options.once ?? SOLE_REPLICA;
    guarded(this.options.failures, 'audit checkpoint at shutdown', () =>
      once.run(() => this.options.audit.checkpointIfAdvanced()),
    )();
  }

  private every(ms: number, component: string, work: () => void): void {
    const timer = setInterval(guarded(this.options.failures, component, work), ms);
    timer.unref();
    this.timers.push(timer);
  }

  private retain(retentionMs: number): void {
    const log = this.options.log.child({ component: 'audit-retention' });
    try {
      const { removed } = this.options.audit.prune({ olderThan: this.options.clock() - retentionMs });
      if (removed > 0) log.info({ removed, retentionMs }, 'audit entries past retention pruned');
    } catch (error) {
      this.options.failures.report(error, 'audit retention');
    }
  }
}
