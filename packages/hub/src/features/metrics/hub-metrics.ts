import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the HTTP server tells the metrics about each request it answered. */
export interface RequestMetrics {
  /** `route` is the router's pattern (`/v1/targets/:id/envelope`), never the raw path. */
  requestDone(method: string, route: string, status: number, seconds: number): void;
}

/** What the desired-state feature tells the metrics: one call per envelope it signs. */
export interface EnvelopeMetrics {
  envelopeIssued(): void;
}

/** What identity tells the metrics: one call per access token checked by its signature, not from the cache. */
export interface AccessTokenMetrics {
  accessTokenVerified(): void;
}

/** What the report route's outcome tells the metrics. */
export interface ReportMetrics {
  reportAccepted(): void;
  /** `reason` is the refusal's stable error code (`SIGNATURE_INVALID`, `CONFLICT`, …). */
  reportRefused(reason: string): void;
}

/** What report retention tells the metrics: the reports each committed batch of a prune removed. */
export interface ReportPruneMetrics {
  reportsPruned(count: number): void;
}

/** What the audit log tells the metrics. */
export interface AuditMetrics {
  auditAppended(entries: number): void;
}

/** What the store tells the metrics: how long each outermost transaction held the database. */
export interface StoreMetrics {
  transactionDone(seconds: number): void;
}

/** What the turn budget tells the metrics: the time the hub's sliced work took in each turn that had some. */
export interface TurnMetrics {
  turnDone(seconds: number): void;
}

/** Values read when Prometheus scrapes, from the features that own them. */
export interface ScrapeSources {
  /** Agents holding a connection to the hub now, by transport (`long-poll`, `stream`). */
  connectedAgents(): Readonly<Record<string, number>>;
  /** Aggregates the store answers in one cheap query each (see `MetricsStore`). */
  targetsByStatus(): Readonly<Record<string, number>>;
  agentsNotSeen(): number;
  rolloutsByState(): Readonly<Record<string, number>>;
  rolloutWavesByState(): Readonly<Record<string, number>>;
  driftItemsByClass(): Readonly<Record<string, number>>;
  /** Seconds since the newest signed audit checkpoint, and entries appended after it. */
  auditCheckpoint(): { readonly ageSeconds: number | undefined; readonly unsignedEntries: number };
  /** Seconds the fleet query index took to build at start, once built. */
  queryIndexBuildSeconds(): number | undefined;
  /** The time the hub's sliced work may take of one turn of the event loop (`--turn-budget-ms`), in seconds. */
  turnBudgetSeconds(): number;
  /** Bytes of the store's file that no table uses (SQLite's free pages); undefined on PostgreSQL. */
  storeFreeBytes(): number | undefined;
  /** Bytes of the SQLite store's WAL file on disk; undefined on PostgreSQL. */
  storeWalBytes(): number | undefined;
}

/** Every transport an agent can hold; each is always exported, so a 0 is a fact and not a gap. */
export const TRANSPORTS = ['long-poll', 'stream'] as const;

const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const TURN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1];

/**
 * The hub's Prometheus metrics, in a registry of its own (so several hubs in one process, as
 * in tests, never share counters). Features see only the small ports above; nothing else in
 * the hub imports prom-client. Names and units follow Prometheus's conventions: base units,
 * `_total` counters, `_seconds` durations, and only low-cardinality labels (a route pattern,
 * never a path with a target id in it). docs/operations.md lists every metric.
 */
export class HubMetrics
  implements
    RequestMetrics,
    EnvelopeMetrics,
    AccessTokenMetrics,
    ReportMetrics,
    ReportPruneMetrics,
    AuditMetrics,
    StoreMetrics,
    TurnMetrics
{
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly requestSeconds: Histogram<'method' | 'route' | 'status'>;
  private readonly envelopes: Counter;
  private readonly tokenChecks: Counter;
  private readonly accepted: Counter;
  private readonly refused: Counter<'reason'>;
  private readonly pruned: Counter;
  private readonly appends: Counter;
  private readonly transactions: Histogram;
  private readonly turns: Histogram;

  constructor(sources: ScrapeSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges `_total`, which Prometheus reserves for counters
    // (`promtool check metrics` refuses them); the process's handles are not worth a rename.
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
    this.requests = new Counter({
      name: 'flotilla_http_requests_total',
      help: 'HTTP requests the hub answered, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'flotilla_http_request_duration_seconds',
      help: 'Time from a request arriving to its response finishing, by method, route pattern and status code; long-polls include their wait.',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.envelopes = new Counter({
      name: 'flotilla_envelopes_issued_total',
      help: 'Envelopes the hub signed: new generations and re-signatures of expiring ones.',
      registers,
    });
    this.tokenChecks = new Counter({
      name: 'flotilla_access_token_verifications_total',
      help: 'Agent access tokens checked by their signature: ones this hub did not issue or has not seen since it started.',
      registers,
    });
    this.accepted = new Counter({
      name: 'flotilla_reports_accepted_total',
      help: 'Agent reports accepted, resent duplicates included.',
      registers,
    });
    this.refused = new Counter({
      name: 'flotilla_reports_refused_total',
      help: 'Agent reports refused, by the error code they were answered with.',
      labelNames: ['reason'],
      registers,
    });
    this.pruned = new Counter({
      name: 'flotilla_reports_pruned_total',
      help: 'Agent reports removed past the report retention (each target keeps its newest).',
      registers,
    });
    this.appends = new Counter({
      name: 'flotilla_audit_appends_total',
      help: 'Audit entries appended (an entry whose transaction then rolled back is counted too).',
      registers,
    });
    this.transactions = new Histogram({
      name: 'flotilla_store_transaction_duration_seconds',
      help: 'Time each outermost database transaction held the store.',
      buckets: STORE_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'flotilla_connected_agents',
      help: 'Agents holding a connection to the hub now (a long-poll waiting, or a stream), by transport.',
      labelNames: ['transport'],
      registers,
      collect() {
        const counts = sources.connectedAgents();
        for (const transport of new Set([...TRANSPORTS, ...Object.keys(counts)]))
          this.set({ transport }, counts[transport] ?? 0);
      },
    });
    byLabel('flotilla_targets', 'Targets, by status.', 'status', ['active', 'disabled', 'revoked'], () =>
      sources.targetsByStatus(),
    );
    new Gauge({
      name: 'flotilla_agents_not_seen',
      help: 'Active targets whose agent has not checked in for 5 minutes, or never.',
      registers,
      collect() {
        this.set(sources.agentsNotSeen());
      },
    });
    byLabel(
      'flotilla_rollouts',
      'Rollouts, by state.',
      'state',
      ['running', 'paused', 'completed', 'aborted', 'rolled-back'],
      () => sources.rolloutsByState(),
    );
    byLabel(
      'flotilla_rollout_waves',
      'Started rollout waves: finished, or else the state of their rollout (running, paused, aborted, rolled-back).',
      'state',
      ['running', 'paused', 'finished', 'aborted', 'rolled-back'],
      () => sources.rolloutWavesByState(),
    );
    byLabel(
      'flotilla_drift_items',
      "Drift items in targets' latest reports, by class.",
      'class',
      ['acceptable', 'transient', 'suspicious', 'dangerous'],
      () => sources.driftItemsByClass(),
    );
    whenKnown(
      'flotilla_audit_checkpoint_age_seconds',
      'Seconds since the newest signed audit checkpoint; absent before the first.',
      () => sources.auditCheckpoint().ageSeconds,
    );
    new Gauge({
      name: 'flotilla_audit_unsigned_entries',
      help: 'Audit entries appended after the newest signed checkpoint.',
      registers,
      collect() {
        this.set(sources.auditCheckpoint().unsignedEntries);
      },
    });
    this.turns = new Histogram({
      name: 'flotilla_turn_work_seconds',
      help: "Time the hub's sliced work (rollout notices, wave steps, envelope batches, catch-ups, the last-seen flush) took in one turn of the event loop, for each turn that had some.",
      buckets: TURN_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'flotilla_turn_budget_seconds',
      help: "The time the hub's sliced work may take of one turn of the event loop; work that cannot be cut shorter runs over it.",
      registers,
      collect() {
        this.set(sources.turnBudgetSeconds());
      },
    });
    whenKnown(
      'flotilla_store_free_bytes',
      "Bytes of the SQLite store's file that no table uses: what pruning freed and the hub has not yet given back to the file system; absent on PostgreSQL.",
      () => sources.storeFreeBytes(),
    );
    whenKnown(
      'flotilla_store_wal_bytes',
      "Bytes of the SQLite store's write-ahead log file: it keeps the size its largest burst of writes gave it until the hub stops cleanly; absent on PostgreSQL.",
      () => sources.storeWalBytes(),
    );
    whenKnown(
      'flotilla_query_index_build_seconds',
      'Seconds the fleet query index took to build when the hub started.',
      () => sources.queryIndexBuildSeconds(),
    );

    /** A gauge exported only while its value is known: absent, not 0, before (or where) there is none. */
    function whenKnown(name: string, help: string, read: () => number | undefined): void {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.reset();
          const value = read();
          if (value !== undefined) this.set(value);
        },
      });
    }

    function byLabel(
      name: string,
      help: string,
      label: string,
      known: readonly string[],
      read: () => Readonly<Record<string, number>>,
    ): void {
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          const counts = read();
          for (const value of new Set([...known, ...Object.keys(counts)]))
            this.set({ [label]: value }, counts[value] ?? 0);
        },
      });
    }
  }

  requestDone(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.requestSeconds.observe(labels, seconds);
  }

  envelopeIssued(): void {
    this.envelopes.inc();
  }

  accessTokenVerified(): void {
    this.tokenChecks.inc();
  }

  reportAccepted(): void {
    this.accepted.inc();
  }

  reportRefused(reason: string): void {
    this.refused.inc({ reason });
  }

  reportsPruned(count: number): void {
    this.pruned.inc(count);
  }

  auditAppended(entries: number): void {
    this.appends.inc(entries);
  }

  transactionDone(seconds: number): void {
    this.transactions.observe(seconds);
  }

  turnDone(seconds: number): void {
    this.turns.observe(seconds);
  }

  /** The exposition text and its content type, for `GET /metrics`. */
  async scrape(): Promise<{ readonly contentType: string; readonly body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
