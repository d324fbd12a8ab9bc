import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import {
  isFlotillaError,
  messageOf,
  READS_DRIFT_POLICY_DIGEST,
  type FaultPoints,
  type FlotillaError,
} from '@flotilla/protocol';
import type { AgentStore, Enrollment } from '../agent-state.ts';
import type { Backoff } from '../backoff.ts';
import { Credentials } from '../credentials.ts';
import type { Driver } from '../drivers/driver.ts';
import type { DriftEngine } from '../drift/drift-engine.ts';
import { HubUnavailableError, isRetryable, type HubClient } from '../hub-client.ts';
import { ReportJournal } from '../journal/report-journal.ts';
import type { KeyRotation } from '../key-rotation.ts';
import { HubStream } from '../stream/hub-stream.ts';
import { DesiredStateVerifier } from './desired-state.ts';
import { HubOutage } from './hub-outage.ts';
import { observePass } from './observe-pass.ts';
import { PassLock } from './pass-lock.ts';
import { fingerprint } from './pass-report.ts';
import { waitToRetry } from './retry-wait.ts';
import { runPass, type PassDependencies, type PassOutcome } from './run-pass.ts';
import type { SyncMetrics } from './sync-metrics.ts';
import type { SyncStatus } from './sync-status.ts';
import { clockBehindSeconds } from './time-floor.ts';

/** How the pull loop hears of changes (docs/cli.md, `--transport`). */
export type Transport = 'auto' | 'long-poll';

/** On the stream, the envelope is fetched this often even without a notice: a net under a lost one. */
const STREAM_RECHECK_MS = 5 * 60_000;

interface PullLoopOptions {
  readonly client: HubClient;
  readonly store: AgentStore;
  readonly enrollment: Enrollment;
  readonly driver: Driver;
  readonly drift: DriftEngine;
  /** Facts added to the driver's in every report. */
  readonly facts: Readonly<Record<string, string>>;
  readonly log: Logger;
  readonly clock: () => number;
  readonly backoff: Backoff;
  /** How long one long-poll waits for a change at the hub. */
  readonly waitSeconds: number;
  /**
   * How changes reach the agent: `auto` holds a push stream and long-polls only when the
   * stream's upgrade is refused on the way; `long-poll` never tries the stream.
   */
  readonly transport: Transport;
  /** After a hub restart, the stream reconnects at a random moment within this (ms). */
  readonly reconnectWindowMs?: number;
  /** How often the loop re-observes, whether the hub answers or not. */
  readonly observeIntervalMs: number;
  /** How often to look whether the hub is back while backing off after it was unreachable. */
  readonly probeMs: number;
  /** Where syncing stands when the loop begins. */
  readonly status: SyncStatus;
  readonly onApplied: (generation: number) => void;
  readonly onStalled: (error: FlotillaError) => void;
  /** Test-only crash points: `report:after-send`. */
  readonly faults: FaultPoints;
  /** Rotates the agent's key when due (key-rotation.ts); without it the key never changes. */
  readonly keyRotation?: KeyRotation | undefined;
  /** Taken for each pass; shared with the offline inbox, which applies envelopes too. */
  readonly lock?: PassLock;
  readonly metrics?: SyncMetrics;
  /**
   * Called once, after the first observe pass has ended and what it had to report was handed
   * to the hub (or left in the journal): the start's work is behind the agent.
   */
  readonly onFirstObserved?: () => void;
}

/**
 * The pull loop of an enrolled agent, two loops sharing one pass at a time:
 *
 * - the sync loop waits for a change — a notice on the push stream (`HubStream`), or a
 *   long-poll when the stream's upgrade is refused on the way — sends the report journal,
 *   fetches the envelope and runs a sync pass for it (`runPass`). Whatever throws (the hub or the substrate away, an apply that
 *   failed) is retried with backoff; while the hub is unreachable the backoff is cut short as
 *   soon as it answers again, and the outage is logged once. The etag advances only past an
 *   envelope whose pass finished, so a failed one is fetched and tried again. A report the hub
 *   refuses never stops it (see `ReportJournal`).
 * - the observe loop looks at what is in place on its own interval (`observePass`): drift is
 *   classified and acted on whether the hub answers or not, and its reports wait in the journal.
 */
export class PullLoop {
  private readonly options: PullLoopOptions;
  private current: SyncStatus;
  private etag: string | undefined;
  private lastReported = '';
  /**
   * One pass at a time: a sync pass and an observe pass both read and write the substrate, and
   * so does the offline inbox, which shares this lock.
   */
  private readonly lock: PassLock;
  private firstTurn: () => void = () => undefined;
  private caughtUp = false;
  private stream: HubStream | undefined;

  constructor(options: PullLoopOptions) {
    this.options = options;
    this.current = options.status;
    this.lock = options.lock ?? new PassLock();
  }

  get status(): SyncStatus {
    return this.current;
  }

  /** The push stream while the loop runs with transport `auto`. */
  get hubStream(): HubStream | undefined {
    return this.stream;
  }

  /** Runs until `signal` aborts; a long-poll in flight is aborted, a pass in flight finishes. */
  async run(signal: AbortSignal): Promise<void> {
    const { client, store, enrollment, driver, drift, log, clock } = this.options;
    const key = await store.keyPair();
    const credentials = new Credentials(client, key, enrollment, clock);
    const journal = new ReportJournal(store.dir, key, enrollment.targetId, store, { log });
    this.options.metrics?.journalDepth(() => journal.pending().length);
    const deps: PassDependencies = {
      store,
      verifier: new DesiredStateVerifier(client, store, enrollment.targetId, this.options.faults),
      driver,
      drift,
      journal,
      facts: async () => {
        const behind = clockBehindSeconds(clock(), await store.sync());
        return {
          ...(await driver.facts()),
          ...this.options.facts,
          // A hub choosing each agent's envelope form (--envelope-drift-policy auto) names the policy by digest to this one.
          envelopeFeatures: [READS_DRIFT_POLICY_DIGEST],
          ...(behind === undefined ? {} : { clockBehindSeconds: behind }),
        };
      },
      clock,
      log,
    };
    const flush = async (): Promise<void> => {
      try {
        const token = await credentials.accessToken();
        await journal.flush(async (signed) => {
          const receipt = await client.report(enrollment.targetId, token, signed);
          this.options.faults.reach('report:after-send');
          return receipt;
        });
      } catch (error) {
        // The reports wait in the journal for the next turn; the loop goes on either way.
        if (isAuthFailure(error)) credentials.invalidate();
        log.debug({ err: messageOf(error) }, 'reports not sent yet');
      }
    };
    const firstTurn = new Promise<void>((resolve) => {
      this.firstTurn = resolve;
    });
    const observing = this.observeLoop(signal, deps, credentials, flush, firstTurn);
    this.stream =
      this.options.transport === 'auto'
        ? new HubStream({
            endpoints: this.options.client.endpoints,
            targetId: enrollment.targetId,
            token: () => credentials.accessToken(),
            invalidateToken: () => credentials.invalidate(),
            etag: () => this.etag,
            log,
            ...(this.options.reconnectWindowMs === undefined
              ? {}
              : { reconnectWindowMs: this.options.reconnectWindowMs }),
          })
        : undefined;
    const streaming = this.stream?.run(signal);
    await this.syncLoop(signal, deps, credentials, flush);
    this.firstTurn();
    await Promise.all([observing, streaming]);
  }

  private async syncLoop(
    signal: AbortSignal,
    deps: PassDependencies,
    credentials: Credentials,
    flush: () => Promise<void>,
  ): Promise<void> {
    const { client, enrollment, log, clock, backoff, metrics } = this.options;
    const outage = new HubOutage(log, clock);
    const stream = this.stream;
    // The stream's notice count when the envelope was last fetched; -1 fetches at once.
    let seen = -1;
    while (!signal.aborted) {
      try {
        if (stream !== undefined && !stream.refused && seen === stream.changes) {
          await stream.next(seen, STREAM_RECHECK_MS, signal);
          if (signal.aborted) break;
          if (stream.refused) continue;
        }
        await this.rotateKeyIfDue(deps, credentials);
        const token = await credentials.accessToken();
        if (!this.caughtUp) await this.catchUp(token, deps);
        await flush();
        const onStream = stream !== undefined && !stream.refused;
        if (onStream) seen = stream.changes;
        const wait = onStream ? 0 : this.options.waitSeconds;
        const answer = await client.envelope(enrollment.targetId, token, this.etag, wait, signal);
        outage.reached();
        backoff.reset();
        if (answer.kind === 'envelope') {
          const text = answer.text;
          const started = performance.now();
          const outcome = await this.exclusive(() =>
            runPass(deps, { raw: text, token: () => credentials.accessToken(), phase: this.current.phase }),
          );
          if (outcome.kind !== 're-signed') metrics?.applyDone(outcome.kind, (performance.now() - started) / 1000);
          if (outcome.kind === 'applied' && outcome.report.drift !== undefined)
            metrics?.driftObserved(outcome.report.drift.counts);
          this.record(outcome);
        }
        this.etag = answer.etag;
        this.firstTurn();
        await flush();
        metrics?.passDone('success', clock());
      } catch (error) {
        if (signal.aborted) break;
        metrics?.passDone('failure', clock());
        // Whatever failed is fetched again after the backoff, notice or not.
        seen = -1;
        if (isAuthFailure(error)) credentials.invalidate();
        const unreachable = error instanceof HubUnavailableError && !error.reachable;
        const delay = Math.max(backoff.next(), error instanceof HubUnavailableError ? (error.retryAfterMs ?? 0) : 0);
        this.current = { ...this.current, lastError: messageOf(error) };
        if (isRetryable(error)) outage.failed(error, delay);
        else
          log.warn(
            { err: messageOf(error), code: isFlotillaError(error) ? error.code : undefined, retryInMs: delay },
            'sync pass failed',
          );
        const back = await waitToRetry(delay, {
          signal,
          probeMs: this.options.probeMs,
          ...(unreachable ? { probe: () => client.alive(signal) } : {}),
        });
        // The next request may be a long-poll that answers only when something changes.
        if (back) outage.reached();
      }
    }
  }

  /**
   * Between passes (no observe pass runs meanwhile) and with no report waiting to be sent (none
   * signed by the old key is left for a hub that no longer takes it), rotates the agent's key
   * when due, and signs with the new one from then on.
   */
  private async rotateKeyIfDue(deps: PassDependencies, credentials: Credentials): Promise<void> {
    const { keyRotation, store } = this.options;
    if (keyRotation === undefined) return;
    await this.exclusive(async () => {
      if (deps.journal.pending().length > 0 || !(await keyRotation.rotateIfDue())) return;
      const key = await store.keyPair();
      credentials.rekey(key);
      deps.journal.rekey(key);
    });
  }

  /**
   * Once per start, before anything else reaches the hub: compares what the hub last heard from
   * this target with the agent's own state. The hub holding a seq the agent's numbering has not
   * passed, or a generation above the one the agent says it applied, means the state went back
   * in time (restored from a backup or a snapshot, or writes lost with the power): numbering
   * continues past the hub's (the next report flagged), and the agent treats what is in place as
   * unknown, as after an interrupted apply of the releases it last reported, so the next
   * envelope is applied in full and nothing Flotilla itself wrote is kept as drift.
   */
  private async catchUp(token: string, deps: PassDependencies): Promise<void> {
    const { client, enrollment, store, log, clock } = this.options;
    const { last } = await client.lastReport(enrollment.targetId, token);
    this.caughtUp = true;
    if (last === null) return;
    if (await store.advanceReportSeq(last.seq)) {
      deps.journal.flagGap(last.seq);
      log.warn(
        { lastSeq: last.seq },
        'the hub holds reports this agent numbered again: its state went back in time; numbering continues past them',
      );
    }
    await this.exclusive(async () => {
      const sync = await store.sync();
      if (last.generation <= sync.appliedGeneration || sync.applying !== undefined) return;
      await store.saveSync({
        ...sync,
        applying: { generation: last.generation, releases: last.bundles, startedAt: new Date(clock()).toISOString() },
      });
      const message = `the hub last heard of generation ${last.generation}, newer than the ${sync.appliedGeneration} this agent's state says it applied; the desired state is applied again in full`;
      this.current = { ...this.current, phase: 'failed', lastError: message };
      log.warn(
        { generation: last.generation, appliedGeneration: sync.appliedGeneration },
        'state older than the hub knows it',
      );
    });
  }

  /**
   * Looks at what is in place every `observeIntervalMs`, first right after the first sync turn
   * (or one interval after start, when the hub does not answer), whatever the hub's state.
   */
  private async observeLoop(
    signal: AbortSignal,
    deps: PassDependencies,
    credentials: Credentials,
    flush: () => Promise<void>,
    firstTurn: Promise<void>,
  ): Promise<void> {
    const { log, observeIntervalMs } = this.options;
    const wait = (): Promise<void> => sleep(observeIntervalMs, undefined, { signal }).catch(() => undefined);
    await Promise.race([firstTurn, wait()]);
    let failure: string | undefined;
    let firstObserved = this.options.onFirstObserved;
    while (!signal.aborted) {
      let sent: Promise<void> = Promise.resolve();
      try {
        const observed = await this.exclusive(() =>
          observePass(deps, {
            token: () => credentials.accessToken(),
            phase: this.current.phase,
            lastReported: this.lastReported,
          }),
        );
        if (observed !== undefined) {
          if (observed.report.drift !== undefined) this.options.metrics?.driftObserved(observed.report.drift.counts);
          this.lastReported = fingerprint(observed.report);
          this.current = { ...this.current, phase: observed.phase };
          sent = flush();
        }
        if (failure !== undefined) log.info({ err: failure }, 'observing works again');
        failure = undefined;
      } catch (error) {
        if (signal.aborted) break;
        // Once per kind of failure: a substrate or a bundle cache that stays away is not news every interval.
        if (messageOf(error) !== failure) log.warn({ err: messageOf(error) }, 'observe pass failed');
        failure = messageOf(error);
      }
      if (firstObserved !== undefined) {
        void sent.then(firstObserved);
        firstObserved = undefined;
      }
      await wait();
    }
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.lock.run(work);
  }

  /** Records how a pass ended: the status, the last report, the events; throws when it must be retried. */
  private record(outcome: PassOutcome): void {
    switch (outcome.kind) {
      case 're-signed':
        return;
      case 'stalled':
        this.current = { ...this.current, phase: 'stalled', lastError: outcome.error.message };
        this.options.onStalled(outcome.error);
        return;
      case 'failed':
        this.current = { ...this.current, phase: 'failed' };
        throw new Error(`apply of generation ${outcome.generation} failed`);
      case 'applied':
        this.current = {
          ...this.current,
          phase: 'applied',
          appliedGeneration: outcome.generation,
          lastError: undefined,
        };
        this.lastReported = fingerprint(outcome.report);
        this.options.onApplied(outcome.generation);
        return;
    }
  }
}

function isAuthFailure(error: unknown): boolean {
  return isFlotillaError(error) && (error.code === 'TOKEN_EXPIRED' || error.code === 'UNAUTHENTICATED');
}
