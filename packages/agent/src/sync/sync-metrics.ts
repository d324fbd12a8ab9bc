import type { DriftReportSection } from '@flotilla/protocol';

/**
 * What the pull loop tells the metrics (the agent's `metrics` module) as it runs; every call
 * is cheap and never throws. Declared here, on the side that calls it, so the loop knows
 * nothing of Prometheus.
 */
export interface SyncMetrics {
  /** One turn of the loop ended: `success` when it reached the hub and finished its work, else `failure`. */
  passDone(result: 'success' | 'failure', at: number): void;
  /** A pass for a new envelope ended, and how long it took (verify, apply, observe, report). */
  applyDone(outcome: 'applied' | 'failed' | 'stalled', seconds: number): void;
  /** The drift counts of the latest report that carried a drift section. */
  driftObserved(counts: DriftReportSection['counts']): void;
  /** How to read the number of reports waiting in the journal, whenever it is asked. */
  journalDepth(read: () => number): void;
}
