import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { canonicalize, isFlotillaError, resourceKey, type DriftReportSection, type Envelope, type ReleaseRef, type Resource, type ResourceStatus, type SignedEnvelope } from '@flotilla/protocol';
import { FileAgentStore, type AgentStore, type Enrollment } from './agent-state.ts';
import { Backoff } from './backoff.ts';
import { Credentials } from './credentials.ts';
import { DesiredStateVerifier, type VerifiedDesiredState } from './desired-state.ts';
import type { AppliedResource, Driver, ObservedResource } from './drivers/driver.ts';
import { DriftEngine } from './drift/drift-engine.ts';
import { ensureEnrolled } from './enroll.ts';
import { healthVerdict } from './health-verdict.ts';
import { HubClient, isRetryable } from './hub-client.ts';
import { ReportJournal, type ReportBody } from './report-journal.ts';

/**
 * Builds the driver once the agent knows who it is, for drivers that need the target id (the
 * kubernetes driver labels what it applies with it).
 */
export type DriverFactory = (enrollment: Enrollment) => Driver | Promise<Driver>;

export interface AgentOptions {
  readonly hubUrl: string;
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
  /** How often the agent re-observes its resources between changes. */
  readonly observeIntervalMs?: number;
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  readonly clock?: () => number;
}

export interface AgentStatus {
  readonly targetId: string | undefined;
  readonly appliedGeneration: number;
  readonly phase: 'starting' | 'applied' | 'failed' | 'stalled' | 'idle';
  readonly lastError: string | undefined;
}

/**
 * The agent: enrolls once, then loops. Each pass long-polls the hub for a new envelope,
 * verifies and applies it through the driver, observes, and reports. Failures are sorted:
 * the hub being away is retried with backoff; a refused envelope stalls that generation,
 * keeps the last good state, and waits for a newer one.
 */
export class Agent extends EventEmitter {
  private readonly client: HubClient;
  private readonly state: AgentStore;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly backoff: Backoff;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private starting: Promise<Enrollment> | undefined;
  private driver: Driver | undefined;
  private drift: DriftEngine | undefined;
  private enrollment: Enrollment | undefined;
  private etag: string | undefined;
  private lastReported = '';
  private nextObserveAt = 0;
  private status: AgentStatus = { targetId: undefined, appliedGeneration: 0, phase: 'starting', lastError: undefined };
  private readonly options: AgentOptions;

  constructor(options: AgentOptions) {
    super();
    this.options = options;
    const wait = options.waitSeconds ?? 30;
    if (!Number.isInteger(wait) || wait < 0 || wait > 60) throw new TypeError(`waitSeconds must be a whole number from 0 to 60, received ${wait}`);
    if (options.store === undefined && (typeof options.stateDir !== 'string' || options.stateDir === '')) {
      throw new TypeError(`Agent: give a stateDir (a directory) or a store, received stateDir ${JSON.stringify(options.stateDir)}`);
    }
    this.client = new HubClient(options.hubUrl, { maxWaitSeconds: wait });
    this.state = options.store ?? new FileAgentStore(options.stateDir as string);
    if (typeof options.driver !== 'function') this.driver = options.driver;
    this.log = options.log.child({ component: 'agent' });
    this.clock = options.clock ?? Date.now;
    this.backoff = new Backoff(options.backoff?.baseMs ?? 1000, options.backoff?.maxMs ?? 60_000);
  }

  get current(): AgentStatus {
    return this.status;
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
    for (;;) {
      try {
        enrollment = await ensureEnrolled(this.client, this.state, { enrollToken: this.options.enrollToken, name: this.options.name, trustRootPin: this.options.trustRootPin, now: this.clock });
        break;
      } catch (error) {
        if (!isRetryable(error) || this.abort.signal.aborted) throw error;
        const delay = this.backoff.next();
        this.status = { ...this.status, lastError: (error as Error).message };
        this.log.warn({ err: (error as Error).message, retryInMs: delay }, 'hub unreachable during enrollment');
        await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => undefined);
      }
    }
    this.enrollment = enrollment;
    this.backoff.reset();
    const factory = this.options.driver;
    if (typeof factory === 'function') this.driver = await factory(enrollment);
    if (this.driver !== undefined) this.drift = new DriftEngine({ driver: this.driver, log: this.log, clock: this.clock, dir: this.state.dir });
    if (this.abort.signal.aborted) throw new Error('the agent was stopped while starting');
    const sync = await this.state.sync();
    this.status = { ...this.status, targetId: enrollment.targetId, appliedGeneration: sync.appliedGeneration };
    this.log.info({ target: enrollment.targetId, name: enrollment.name, generation: sync.appliedGeneration }, 'agent started');
    this.loop = this.run(enrollment);
    return enrollment;
  }

  /** Stops the loop (a long-poll in flight is aborted; an apply in flight finishes) and closes the driver. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.starting?.catch(() => undefined);
    await this.loop;
    await this.client.close();
    await this.driver?.close();
  }

  private get activeDriver(): Driver {
    if (this.driver === undefined) throw new Error('the agent has no driver before it started');
    return this.driver;
  }

  private async run(enrollment: Enrollment): Promise<void> {
    const key = await this.state.keyPair();
    const credentials = new Credentials(this.client, key, enrollment, this.clock);
    const journal = new ReportJournal(this.state.dir, key, enrollment.targetId, () => this.state.nextReportSeq());
    const verifier = new DesiredStateVerifier(this.client, this.state, enrollment.targetId);
    const signal = this.abort.signal;
    const wait = this.options.waitSeconds ?? 30;
    const observeEvery = this.options.observeIntervalMs ?? 30_000;

    while (!signal.aborted) {
      try {
        const token = await credentials.accessToken();
        await journal.flush((signed) => this.client.report(enrollment.targetId, token, signed));
        const untilObserve = Math.max(0, this.nextObserveAt - this.clock());
        const answer = await this.client.envelope(enrollment.targetId, token, this.etag, Math.min(wait, Math.ceil(untilObserve / 1000)), signal);
        this.backoff.reset();
        if (answer.kind === 'envelope') {
          await this.handleEnvelope(answer.raw, answer.etag, token, verifier, journal);
        } else {
          this.etag = answer.etag;
        }
        if (this.clock() >= this.nextObserveAt) {
          this.nextObserveAt = this.clock() + observeEvery;
          await this.observeAndReport(journal, verifier, token);
        }
        await journal.flush((signed) => this.client.report(enrollment.targetId, token, signed));
      } catch (error) {
        if (signal.aborted) break;
        if (isFlotillaError(error) && (error.code === 'TOKEN_EXPIRED' || error.code === 'UNAUTHENTICATED')) credentials.invalidate();
        const delay = this.backoff.next();
        this.status = { ...this.status, lastError: (error as Error).message };
        this.log.warn({ err: (error as Error).message, code: isFlotillaError(error) ? error.code : undefined, retryInMs: delay }, 'sync pass failed');
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  private async handleEnvelope(raw: unknown, etag: string, token: string, verifier: DesiredStateVerifier, journal: ReportJournal): Promise<void> {
    const sync = await this.state.sync();
    let desired: VerifiedDesiredState;
    try {
      desired = await verifier.verify(raw, sync.appliedGeneration, token, new Date(this.clock()));
    } catch (error) {
      if (isRetryable(error) || !isFlotillaError(error)) throw error;
      // Refused: keep the last good state, report why, and wait for a newer envelope.
      this.etag = etag;
      this.status = { ...this.status, phase: 'stalled', lastError: error.message };
      this.log.error({ code: error.code, err: error.message }, 'envelope refused');
      await journal.append(await this.reportBody('stalled', sync.appliedGeneration, sync.appliedReleases, [], { code: error.code, message: error.message }));
      this.emit('stalled', error);
      return;
    }
    const log = this.log.child({ generation: desired.envelope.generation });
    if (sync.appliedEnvelope !== null && sameDesiredState(sync.appliedEnvelope, desired.signed) && this.status.phase === 'applied') {
      // A re-signed envelope for the same state: keep it (its expiry is newer), apply nothing.
      await this.state.saveSync({ ...sync, appliedEnvelope: desired.signed });
      this.etag = etag;
      return;
    }
    if (sync.appliedEnvelope !== null && this.status.phase !== 'failed' && canonicalize(sync.appliedEnvelope.envelope.bundles) === canonicalize(desired.envelope.bundles)) {
      // A new generation of the same releases: holds, the drift policy or revert requests
      // changed. Nothing to apply; the drift step looks again under the new rules.
      await this.state.saveSync({ ...sync, appliedGeneration: desired.envelope.generation, appliedEnvelope: desired.signed, appliedReleases: desired.envelope.bundles });
      this.etag = etag;
      this.status = { ...this.status, phase: 'applied', appliedGeneration: desired.envelope.generation, lastError: undefined };
      const pass = await this.activeDrift.pass(desired.resources, desired.envelope);
      const body = await this.reportBody('applied', desired.envelope.generation, desired.envelope.bundles, mergeStatus(desired.resources.map((r) => ({ key: resourceKey(r), status: 'applied' as const })), pass.observed), undefined, pass.section);
      await journal.append(body);
      this.lastReported = fingerprint(body);
      log.info({ holds: desired.envelope.holds.length, reverts: desired.envelope.revert?.length ?? 0 }, 'new generation of the applied releases');
      this.emit('applied', desired.envelope.generation);
      return;
    }
    const prepared = await this.activeDrift.prepareApply(desired.resources, await this.previousState(sync.appliedEnvelope, token, verifier));
    const applied = await this.activeDriver.apply(prepared.resources, { force: prepared.force });
    this.activeDrift.markApplied(desired.resources);
    const observed = await this.activeDriver.observe(desired.resources);
    const resources = mergeStatus(applied, observed);
    const failed = applied.filter((r) => r.status === 'failed');
    if (failed.length > 0) {
      this.status = { ...this.status, phase: 'failed', lastError: failed[0]!.message };
      log.warn({ failed: failed.length }, 'apply failed; will retry');
      await journal.append(await this.reportBody('failed', desired.envelope.generation, desired.envelope.bundles, resources, { code: 'DRIVER_FAILED', message: `${failed.length} resources failed to apply: ${failed[0]!.message ?? failed[0]!.key}` }));
      // Leave the etag unchanged so the next pass fetches and applies this envelope again.
      throw new Error(`apply of generation ${desired.envelope.generation} failed`);
    }
    await this.state.saveSync({ ...sync, appliedGeneration: desired.envelope.generation, appliedEnvelope: desired.signed, appliedReleases: desired.envelope.bundles });
    this.etag = etag;
    this.status = { ...this.status, phase: 'applied', appliedGeneration: desired.envelope.generation, lastError: undefined };
    log.info({ resources: desired.resources.length }, 'desired state applied');
    const pass = await this.activeDrift.pass(desired.resources, desired.envelope, observed);
    const body = await this.reportBody('applied', desired.envelope.generation, desired.envelope.bundles, mergeStatus(applied, pass.observed), undefined, pass.section);
    await journal.append(body);
    this.lastReported = fingerprint(body);
    this.emit('applied', desired.envelope.generation);
  }

  /** Re-reads the applied resources and reports when anything changed since the last report. */
  private async observeAndReport(journal: ReportJournal, verifier: DesiredStateVerifier, token: string): Promise<void> {
    const sync = await this.state.sync();
    const resources = await verifier.resourcesOf(sync.appliedReleases, token);
    let observed = await this.activeDriver.observe(resources);
    const phase = this.status.phase === 'starting' ? (sync.appliedGeneration === 0 ? 'idle' : 'applied') : this.status.phase;
    // While a newer generation failed to apply, live state may be half of it: look, but only after it applies.
    let drift: DriftReportSection | undefined;
    if (sync.appliedEnvelope !== null && phase !== 'failed') {
      const pass = await this.activeDrift.pass(resources, sync.appliedEnvelope.envelope, observed);
      observed = [...pass.observed];
      drift = pass.section;
    }
    const statuses = mergeStatus(resources.map((r) => ({ key: resourceKey(r), status: 'applied' as const })), observed);
    const body = await this.reportBody(phase, sync.appliedGeneration, sync.appliedReleases, statuses, undefined, drift);
    const print = fingerprint(body);
    if (print === this.lastReported) return;
    this.lastReported = print;
    this.status = { ...this.status, phase };
    await journal.append(body);
  }

  private get activeDrift(): DriftEngine {
    if (this.drift === undefined) throw new Error('the agent has no drift engine before it started');
    return this.drift;
  }

  /**
   * What is applied now, for the drift step to keep its kept changes across a new apply; undefined
   * (apply as is) when its bundles cannot be read back (a fresh leader without the cache).
   */
  private async previousState(applied: SignedEnvelope | null, token: string, verifier: DesiredStateVerifier): Promise<{ resources: Resource[]; envelope: Envelope } | undefined> {
    if (applied === null) return undefined;
    try {
      return { resources: await verifier.resourcesOf(applied.envelope.bundles, token), envelope: applied.envelope };
    } catch (error) {
      if (isRetryable(error)) throw error;
      this.log.warn({ err: (error as Error).message }, 'cannot read the applied releases back; applying without keeping drift');
      return undefined;
    }
  }

  private async reportBody(phase: ReportBody['phase'], generation: number, bundles: readonly ReleaseRef[], resources: ResourceStatus[], error?: { code: string; message: string }, drift?: DriftReportSection): Promise<ReportBody> {
    return {
      generation,
      phase,
      health: phase === 'stalled' ? 'unknown' : healthVerdict(resources),
      bundles: [...bundles],
      resources,
      ...(error === undefined ? {} : { error: { code: error.code, message: error.message.slice(0, 2000) } }),
      facts: { ...(await this.activeDriver.facts()), ...this.options.facts },
      ...(drift === undefined ? {} : { drift }),
      observedAt: new Date(this.clock()).toISOString(),
    };
  }
}

function sameDesiredState(a: SignedEnvelope, b: SignedEnvelope): boolean {
  return a.envelope.generation === b.envelope.generation && canonicalize(a.envelope.bundles) === canonicalize(b.envelope.bundles) && canonicalize(a.envelope.holds) === canonicalize(b.envelope.holds);
}

function mergeStatus(applied: readonly AppliedResource[], observed: readonly ObservedResource[]): ResourceStatus[] {
  const health = new Map(observed.map((o) => [o.key, o]));
  return applied.map((a) => {
    const seen = health.get(a.key);
    const message = a.message ?? seen?.message;
    return { key: a.key, status: a.status, health: a.status === 'pruned' ? 'healthy' : (seen?.health ?? 'unknown'), ...(message === undefined ? {} : { message: message.slice(0, 2000) }) };
  });
}

/** What makes two reports different for a person: everything but the time of observation. */
function fingerprint(body: ReportBody): string {
  const { observedAt: _observedAt, facts: _facts, ...rest } = body;
  return canonicalize(rest);
}
