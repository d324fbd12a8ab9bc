import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { FileAgentStore, type AgentStore, type Enrollment } from './agent-state.ts';
import { Backoff } from './backoff.ts';
import type { Driver } from './drivers/driver.ts';
import { DriftEngine } from './drift/drift-engine.ts';
import { ensureEnrolled } from './enroll.ts';
import { HubClient, HubUnavailableError, isRetryable } from './hub-client.ts';
import { HubEndpoints } from './hub-endpoints.ts';
import { HubOutage } from './sync/hub-outage.ts';
import { waitToRetry } from './sync/retry-wait.ts';
import { KeyRotation, rotationIntervalMs } from './key-rotation.ts';
import { OfflineInbox } from './offline/offline-inbox.ts';
import { ReportsOutbox } from './offline/reports-outbox.ts';
import type { SiteRegistry } from './offline/offline-site.ts';
import { PassLock } from './sync/pass-lock.ts';
import { PullLoop, type Transport } from './sync/pull-loop.ts';
import type { SyncMetrics } from './sync/sync-metrics.ts';
import type { HubStream } from './stream/hub-stream.ts';
import type { SyncStatus } from './sync/sync-status.ts';
import { messageOf, NO_FAULTS, type FaultPoints } from '@flotilla/protocol';

/**
 * Builds the driver once the agent knows who it is, for drivers that need the target id (the
 * kubernetes driver labels what it applies with it).
 */
export type DriverFactory = (enrollment: Enrollment) => Driver | Promise<Driver>;

export interface AgentOptions {
  /**
   * The hub: one URL (a replica, or a load-balanced name), or several replicas' in order of
   * preference (a list, or comma-separated). The agent uses one at a time and moves to the
   * next when it stops answering (`HubEndpoints`).
   */
  readonly hubUrl: string | readonly string[];
  /** The state directory: key pair, enrollment, trust root, sync state, journal, bundle cache. */
  readonly stateDir?: string;
  /** Where the identity and sync state live instead of `stateDir`, such as a `SecretAgentStore`. */
  readonly store?: AgentStore;
  /** A driver, or a factory called with the enrollment once the agent is enrolled. */
  readonly driver: Driver | DriverFactory;
  readonly log: Logger;
  readonly enrollToken?: string | undefined;
  readonly name?: string | undefined;
  /** A root key id the trust root must contain at enrollment (see `ensureEnrolled`). */
  readonly trustRootPin?: string | undefined;
  /** Facts added to the driver's in every report, such as the pod and node the agent runs on. */
  readonly facts?: Readonly<Record<string, string>>;
  /** How long one long-poll waits for a change at the hub. */
  readonly waitSeconds?: number;
  /** `auto` (default): a push stream, long-polls when its upgrade is refused; `long-poll`: never the stream. */
  readonly transport?: Transport;
  /** After a hub restart, the stream reconnects at a random moment within this; default 30 s. */
  readonly reconnectWindowMs?: number;
  /** How often the agent re-observes its resources (and acts on drift), whether the hub answers or not. */
  readonly observeIntervalMs?: number;
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  /**
   * While backing off from a hub that could not be reached, how often to look (with a cheap
   * `GET /v1/health`) whether it is back, so the agent returns within about this long of the
   * hub. Default 2 s.
   */
  readonly probeMs?: number;
  readonly clock?: () => number;
  /** Test-only crash points (`FLOTILLA_FAULT`, docs/operations.md); default none. */
  readonly faults?: FaultPoints;
  /** Rotate the agent's key once it is this many days old (default 90); 0 only on demand. */
  readonly keyRotationDays?: number;
  /** A directory the agent watches for transfer files and receipts (docs/air-gap.md). */
  readonly inboxDir?: string | undefined;
  /** How often the inbox is scanned; default 5 s. */
  readonly inboxIntervalMs?: number;
  /** The site registry that images from transfer files are pushed into. */
  readonly registry?: SiteRegistry | undefined;
  /** A directory the agent writes reports files into, for a data diode to carry (docs/air-gap.md). */
  readonly outboxDir?: string | undefined;
  /** How often the outbox gets a new reports file when the journal moved on; default 5 minutes. */
  readonly outboxIntervalMs?: number;
  /** Told how the sync loop runs (an `AgentMetrics`, with `--metrics-port`). */
  readonly metrics?: SyncMetrics;
  /**
   * Called once, when the first observe pass has ended and its report was handed to the hub:
   * the start's work is behind the agent, which waits for its next pass.
   */
  readonly onFirstObserved?: () => void;
}

export interface AgentStatus extends SyncStatus {
  readonly targetId: string | undefined;
  /** The hub replica the agent talks to now (one of its `hubUrl` list). */
  readonly hub: string;
}

/**
 * The agent: enrolls once, then runs the pull loop (`PullLoop`). Each pass long-polls the hub
 * for a new envelope, verifies and applies it through the driver, observes, and reports.
 * Failures are sorted: the hub being away is retried with backoff; a refused envelope stalls
 * that generation, keeps the last good state, and waits for a newer one.
 *
 * Events: `applied` (the generation) after a pass put a generation in place, `stalled` (the
 * FlotillaError) after an envelope was refused.
 */
export class Agent extends EventEmitter {
  private readonly client: HubClient;
  private readonly state: AgentStore;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly backoff: Backoff;
  private readonly probeMs: number;
  private readonly abort = new AbortController();
  private starting: Promise<Enrollment> | undefined;
  private driver: Driver | undefined;
  private syncing: { readonly targetId: string; readonly loop: PullLoop; readonly running: Promise<void> } | undefined;
  /** The generation the inbox last applied from a transfer file. */
  private inboxGeneration = 0;
  /** Why enrollment was last retried, until the loop runs. */
  private enrollError: string | undefined;
  private readonly options: AgentOptions;

  constructor(options: AgentOptions) {
    super();
    this.options = options;
    const wait = options.waitSeconds ?? 30;
    if (!Number.isInteger(wait) || wait < 0 || wait > 60)
      throw new TypeError(`waitSeconds must be a whole number from 0 to 60, received ${wait}`);
    if (options.store === undefined && (typeof options.stateDir !== 'string' || options.stateDir === '')) {
      throw new TypeError(
        `Agent: give a stateDir (a directory) or a store, received stateDir ${JSON.stringify(options.stateDir)}`,
      );
    }
    this.log = options.log.child({ component: 'agent' });
    this.client = new HubClient(new HubEndpoints(options.hubUrl, this.log), { maxWaitSeconds: wait });
    this.state = options.store ?? new FileAgentStore(options.stateDir as string);
    if (typeof options.driver !== 'function') this.driver = options.driver;
    this.clock = options.clock ?? Date.now;
    this.backoff = new Backoff(options.backoff?.baseMs ?? 1000, options.backoff?.maxMs ?? 60_000);
    this.probeMs = options.probeMs ?? 2000;
    if (!Number.isFinite(this.probeMs) || this.probeMs < 10)
      throw new TypeError(`probeMs must be at least 10 milliseconds, received ${this.probeMs}`);
  }

  /** The push stream once the loop runs with transport `auto`: its state and notice count. */
  get stream(): HubStream | undefined {
    return this.syncing?.loop.hubStream;
  }

  get current(): AgentStatus {
    const hub = this.client.url;
    if (this.syncing === undefined)
      return { targetId: undefined, hub, appliedGeneration: 0, phase: 'starting', lastError: this.enrollError };
    const status = this.syncing.loop.status;
    // A transfer file from the inbox may have put a newer generation in place than the loop saw.
    return {
      targetId: this.syncing.targetId,
      hub,
      ...status,
      appliedGeneration: Math.max(status.appliedGeneration, this.inboxGeneration),
    };
  }

  /**
   * Enrolls if needed (retrying while the hub is away), builds the driver, and starts the sync
   * loop. Throws when enrollment is refused, or when `stop` was called meanwhile.
   */
  start(): Promise<Enrollment> {
    this.starting ??= this.begin();
    return this.starting;
  }

  private async begin(): Promise<Enrollment> {
    await this.state.keyPair();
    let enrollment: Enrollment;
    const outage = new HubOutage(this.log, this.clock);
    for (;;) {
      try {
        enrollment = await ensureEnrolled(this.client, this.state, {
          enrollToken: this.options.enrollToken,
          name: this.options.name,
          trustRootPin: this.options.trustRootPin,
          now: this.clock,
        });
        break;
      } catch (error) {
        if (!isRetryable(error) || this.abort.signal.aborted) throw error;
        const delay = this.backoff.next();
        this.enrollError = messageOf(error);
        outage.failed(error, delay);
        const back = await waitToRetry(delay, {
          signal: this.abort.signal,
          probeMs: this.probeMs,
          ...(error instanceof HubUnavailableError && !error.reachable
            ? { probe: () => this.client.alive(this.abort.signal) }
            : {}),
        });
        if (back) outage.reached();
      }
    }
    outage.reached();
    this.backoff.reset();
    const factory = this.options.driver;
    const driver = typeof factory === 'function' ? await factory(enrollment) : factory;
    this.driver = driver;
    if (this.abort.signal.aborted) throw new Error('the agent was stopped while starting');
    const { appliedGeneration, applying } = await this.state.sync();
    const interrupted =
      applying === undefined
        ? undefined
        : `the apply of generation ${applying.generation} was cut short (started ${applying.startedAt}); the desired state is applied again in full`;
    if (interrupted !== undefined)
      this.log.warn({ generation: applying?.generation }, 'resuming after an interrupted apply');
    const drift = new DriftEngine({ driver, log: this.log, clock: this.clock, dir: this.state.dir });
    const lock = new PassLock();
    const loop = new PullLoop({
      client: this.client,
      store: this.state,
      enrollment,
      driver,
      drift,
      lock,
      facts: this.options.facts ?? {},
      log: this.log,
      clock: this.clock,
      backoff: this.backoff,
      waitSeconds: this.options.waitSeconds ?? 30,
      transport: this.options.transport ?? 'auto',
      ...(this.options.reconnectWindowMs === undefined ? {} : { reconnectWindowMs: this.options.reconnectWindowMs }),
      observeIntervalMs: this.options.observeIntervalMs ?? 30_000,
      probeMs: this.probeMs,
      status: {
        appliedGeneration,
        phase: interrupted === undefined ? 'starting' : 'failed',
        lastError: interrupted ?? this.enrollError,
      },
      onApplied: (generation) => this.emit('applied', generation),
      onStalled: (error) => this.emit('stalled', error),
      faults: this.options.faults ?? NO_FAULTS,
      keyRotation: new KeyRotation({
        client: this.client,
        store: this.state,
        targetId: enrollment.targetId,
        intervalMs: rotationIntervalMs(this.options.keyRotationDays ?? 90),
        clock: this.clock,
        log: this.log,
      }),
      ...(this.options.metrics === undefined ? {} : { metrics: this.options.metrics }),
      ...(this.options.onFirstObserved === undefined ? {} : { onFirstObserved: this.options.onFirstObserved }),
    });
    this.log.info(
      { target: enrollment.targetId, name: enrollment.name, generation: appliedGeneration },
      'agent started',
    );
    const running = [loop.run(this.abort.signal)];
    const { inboxDir, outboxDir } = this.options;
    if (inboxDir !== undefined || outboxDir !== undefined) {
      // Loaded only for an air-gapped site: transfer files, OCI layouts and registry pushes
      // are code (and schemas) an online agent would otherwise hold for nothing.
      const { OfflineSite } = await import('./offline/offline-site.ts');
      const site = new OfflineSite({
        store: this.state,
        enrollment,
        driver,
        drift,
        lock,
        facts: this.options.facts ?? {},
        registry: this.options.registry,
        log: this.log,
        clock: this.clock,
      });
      if (inboxDir !== undefined) {
        const inbox = new OfflineInbox({
          dir: inboxDir,
          site,
          stateDir: this.state.dir,
          log: this.log,
          ...(this.options.inboxIntervalMs === undefined ? {} : { intervalMs: this.options.inboxIntervalMs }),
          onImported: (result) => {
            if (result.outcome !== 'applied') return;
            this.inboxGeneration = Math.max(this.inboxGeneration, result.generation);
            this.emit('applied', result.generation);
          },
        });
        running.push(inbox.run(this.abort.signal));
      }
      if (outboxDir !== undefined) {
        const outbox = new ReportsOutbox({
          dir: outboxDir,
          site,
          log: this.log,
          ...(this.options.outboxIntervalMs === undefined ? {} : { intervalMs: this.options.outboxIntervalMs }),
        });
        running.push(outbox.run(this.abort.signal));
      }
    }
    this.syncing = {
      targetId: enrollment.targetId,
      loop,
      running: Promise.all(running).then(() => undefined),
    };
    return enrollment;
  }

  /** Stops the loop (a long-poll in flight is aborted; an apply in flight finishes) and closes the driver. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.starting?.catch(() => undefined);
    await this.syncing?.running;
    await this.client.close();
    await this.driver?.close();
  }
}
