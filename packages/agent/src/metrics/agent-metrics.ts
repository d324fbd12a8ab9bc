import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DriftReportSection } from '@flotilla/protocol';
import type { SyncMetrics } from '../sync/sync-metrics.ts';

const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];
const DRIFT_CLASSES = ['acceptable', 'transient', 'suspicious', 'dangerous'] as const;
const APPLY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The agent's Prometheus metrics, in a registry of its own. The sync loop sees only the
 * {@link SyncMetrics} port; nothing else in the agent imports prom-client. Names follow
 * Prometheus's conventions (docs/operations.md lists them).
 */
export class AgentMetrics implements SyncMetrics {
  readonly registry = new Registry();
  private readonly passes: Counter<'result'>;
  private readonly applies: Histogram<'outcome'>;
  private readonly lastSuccess: Gauge;
  private readonly drift: Gauge<'class'>;
  private readJournal: () => number = () => 0;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges `_total`, which Prometheus reserves for counters
    // (`promtool check metrics` refuses them); the process's handles are not worth a rename.
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
    this.passes = new Counter({
      name: 'flotilla_agent_sync_passes_total',
      help: 'Turns of the sync loop, by result: success (the hub reached and the work done) or failure (retried with backoff).',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['success', 'failure']) this.passes.inc({ result }, 0);
    this.applies = new Histogram({
      name: 'flotilla_agent_apply_duration_seconds',
      help: 'Time a sync pass for a new envelope took (verify, apply, observe, report), by outcome.',
      labelNames: ['outcome'],
      buckets: APPLY_BUCKETS,
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'flotilla_agent_last_successful_sync_timestamp_seconds',
      help: 'When the sync loop last finished a turn without error, as Unix time; absent before the first.',
      registers,
    });
    this.drift = new Gauge({
      name: 'flotilla_agent_drift_items',
      help: 'Drift items in the latest report, by class.',
      labelNames: ['class'],
      registers,
    });
    for (const cls of DRIFT_CLASSES) this.drift.set({ class: cls }, 0);
    const journal = (): number => this.readJournal();
    new Gauge({
      name: 'flotilla_agent_journal_depth',
      help: 'Signed reports waiting in the journal for the hub to acknowledge them.',
      registers,
      collect() {
        this.set(journal());
      },
    });
  }

  passDone(result: 'success' | 'failure', at: number): void {
    this.passes.inc({ result });
    if (result === 'success') this.lastSuccess.set(at / 1000);
  }

  applyDone(outcome: 'applied' | 'failed' | 'stalled', seconds: number): void {
    this.applies.observe({ outcome }, seconds);
  }

  driftObserved(counts: DriftReportSection['counts']): void {
    for (const cls of DRIFT_CLASSES) this.drift.set({ class: cls }, counts[cls]);
  }

  journalDepth(read: () => number): void {
    this.readJournal = read;
  }

  /** The exposition text and its content type, for `GET /metrics`. */
  async scrape(): Promise<{ readonly contentType: string; readonly body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
