import { setImmediate as nextTurn } from 'node:timers/promises';
import { BackgroundPass } from '../../background-pass.ts';
import type { Logger } from 'pino';
import type { FaultPoints } from '@flotilla/protocol';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { BackgroundFailures } from '../../store/store-health.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { ReportPruneMetrics } from '../metrics/hub-metrics.ts';
import { SOLE_REPLICA, type OnceOnly } from '../replicas/replica-lease.ts';
import { PRUNE_START, type PruneCursor, type ReportStore } from './report-store.ts';

/** How long reports are kept by default: 30 days (docs/operations.md, "Report retention"). */
export const DEFAULT_REPORT_RETENTION_MS = 30 * 86_400_000;
/** The most reports one batch of a prune removes (and targets it looks at) before it commits and yields to other work. */
export const DEFAULT_PRUNE_BATCH = 500;
const MIN_RETENTION_MS = 3_600_000;
const MAX_PRUNE_BATCH = 100_000;
const CHECK_MS = 60 * 60_000;

export interface ReportRetentionOptions {
  readonly tx: Transactions;
  readonly store: ReportStore;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly log: Logger;
  /** Reports received longer ago than this are pruned, each target's newest excepted; at least an hour. */
  readonly retentionMs: number;
  /** The most reports one batch removes; default {@link DEFAULT_PRUNE_BATCH}. */
  readonly batch?: number;
  /** Where the timer's failures go: a store that cannot write is noted once, not per tick. */
  readonly failures: BackgroundFailures;
  /** Pruning is once-only work: with replicas, the lease holder's; default this hub's alone. */
  readonly once?: OnceOnly;
  readonly metrics?: ReportPruneMetrics;
  /** Test-only crash points: `report-retention:batch` inside each batch's transaction. */
  readonly faults?: FaultPoints;
  /** Hears of each prune that removed something, once it is over: the store may give the space back. */
  readonly pruned?: (prune: ReportPrune) => void;
}

/** What one prune removed, and the cutoff it removed before. */
export interface ReportPrune {
  readonly removed: number;
  readonly olderThan: number;
}

/**
 * Keeps the report history bounded: at start and hourly, removes the reports received longer
 * ago than the retention, target by target and oldest first, in batches (at most `batch`
 * reports removed and `batch` targets seen) that each commit on their own and then yield the
 * event loop, so a prune of millions of rows never holds the hub for more than one batch. Each target's newest report stays, whatever its age. Each batch raises the targets'
 * floors (report-store.ts) with its deletes, so a pruned seq stays spent; a prune that removed
 * something ends with one `report.prune` audit entry, in its last batch's transaction.
 */
export class ReportRetention {
  private readonly options: ReportRetentionOptions;
  private readonly batch: number;
  private readonly passes = new BackgroundPass(() => this.pruneAll());

  /** Checks the options before anything runs: a bad retention or batch is a caller's mistake. */
  constructor(options: ReportRetentionOptions) {
    const { retentionMs, batch = DEFAULT_PRUNE_BATCH } = options;
    if (!Number.isFinite(retentionMs) || retentionMs < MIN_RETENTION_MS)
      throw new TypeError(
        `createHub: reportRetentionMs must be at least one hour (${MIN_RETENTION_MS}); received ${String(retentionMs)}`,
      );
    if (!Number.isInteger(batch) || batch < 1 || batch > MAX_PRUNE_BATCH)
      throw new TypeError(
        `createHub: reportPruneBatch must be a whole number from 1 to ${MAX_PRUNE_BATCH}; received ${String(batch)}`,
      );
    this.options = options;
    this.batch = batch;
  }

  /** Prunes now, then hourly; the timer does not keep the process alive. */
  start(): void {
    this.passes.every(
      CHECK_MS,
      () => void this.prune().catch((error: unknown) => this.options.failures.report(error, 'report retention')),
    );
  }

  /** Stops the timer and waits for a prune under way, which stops after its current batch. */
  close(): Promise<void> {
    return this.passes.close();
  }

  /**
   * Removes what is past retention now; joins a prune already under way. Resolves with what it
   * removed, or undefined when another replica holds the lease or the hub is closing.
   */
  prune(): Promise<ReportPrune | undefined> {
    return this.passes.run();
  }

  private async pruneAll(): Promise<ReportPrune | undefined> {
    const { tx, store, audit, clock, faults, metrics, retentionMs } = this.options;
    const once = this.options.once ?? SOLE_REPLICA;
    const olderThan = clock() - retentionMs;
    let cursor: PruneCursor = PRUNE_START;
    let removed = 0;
    for (;;) {
      if (this.passes.stopping) return undefined;
      const batch = once.run(() =>
        tx.run(() => {
          const pruned = store.pruneBatch(olderThan, cursor, this.batch);
          faults?.reach('report-retention:batch');
          if (pruned.cursor === undefined) {
            // The tally counts what this prune removed, and what a prune killed before its end did.
            const tallied = store.takeTally();
            if (tallied > 0)
              audit.append({
                actor: { kind: 'system', id: 'report-retention' },
                action: 'report.prune',
                subjects: [],
                outcome: 'success',
                details: { removed: tallied, olderThan: new Date(olderThan).toISOString(), retentionMs },
              });
          }
          return pruned;
        }),
      );
      if (batch === undefined) return undefined;
      removed += batch.removed;
      if (batch.removed > 0) metrics?.reportsPruned(batch.removed);
      if (batch.cursor === undefined) {
        if (removed > 0)
          this.options.log.info(
            { component: 'report-retention', removed, olderThan: new Date(olderThan).toISOString() },
            'reports past retention pruned',
          );
        if (removed > 0) this.options.pruned?.({ removed, olderThan });
        return { removed, olderThan };
      }
      cursor = batch.cursor;
      await nextTurn();
    }
  }
}
