import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { isFlotillaError, messageOf, type FaultPoints, type FlotillaError } from '@flotilla/protocol';
import type { AgentStore, Enrollment } from '../agent-state.ts';
import type { Backoff } from '../backoff.ts';
import { Credentials } from '../credentials.ts';
import type { Driver } from '../drivers/driver.ts';
import type { DriftEngine } from '../drift/drift-engine.ts';
import type { HubClient } from '../hub-client.ts';
import { ReportJournal } from '../journal/report-journal.ts';
import { DesiredStateVerifier } from './desired-state.ts';
import { observePass } from './observe-pass.ts';
import { fingerprint } from './pass-report.ts';
import { runPass, type PassDependencies, type PassOutcome } from './run-pass.ts';
import type { SyncStatus } from './sync-status.ts';

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
  /** How often the loop re-observes between changes. */
  readonly observeIntervalMs: number;
  /** Where syncing stands when the loop begins. */
  readonly status: SyncStatus;
  readonly onApplied: (generation: number) => void;
  readonly onStalled: (error: FlotillaError) => void;
  /** Test-only crash points: `report:after-send`. */
  readonly faults: FaultPoints;
}

/**
 * The pull loop of an enrolled agent. Each turn flushes the report journal, long-polls the hub
 * for a new envelope and runs a sync pass for it (`runPass`), and on the observe interval looks
 * again at what is in place (`observePass`). Failures are sorted: whatever throws (the hub or
 * the substrate away, an apply that failed) is retried with backoff; the etag advances only
 * past an envelope whose pass finished, so a failed one is fetched and tried again.
 */
export class PullLoop {
  private readonly options: PullLoopOptions;
  private current: SyncStatus;
  private etag: string | undefined;
  private lastReported = '';
  private nextObserveAt = 0;

  constructor(options: PullLoopOptions) {
    this.options = options;
    this.current = options.status;
  }

  get status(): SyncStatus {
    return this.current;
  }

  /** Runs until `signal` aborts; a long-poll in flight is aborted, a pass in flight finishes. */
  async run(signal: AbortSignal): Promise<void> {
    const { client, store, enrollment, driver, drift, log, clock, backoff } = this.options;
    const key = await store.keyPair();
    const credentials = new Credentials(client, key, enrollment, clock);
    const journal = new ReportJournal(store.dir, key, enrollment.targetId, () => store.nextReportSeq());
    const deps: PassDependencies = {
      store,
      verifier: new DesiredStateVerifier(client, store, enrollment.targetId),
      driver,
      drift,
      journal,
      facts: async () => ({ ...(await driver.facts()), ...this.options.facts }),
      clock,
      log,
    };

    while (!signal.aborted) {
      try {
        const token = await credentials.accessToken();
        const flush = (): Promise<number> =>
          journal.flush(async (signed) => {
            await client.report(enrollment.targetId, token, signed);
            this.options.faults.reach('report:after-send');
          });
        await flush();
        const untilObserve = Math.max(0, this.nextObserveAt - clock());
        const answer = await client.envelope(
          enrollment.targetId,
          token,
          this.etag,
          Math.min(this.options.waitSeconds, Math.ceil(untilObserve / 1000)),
          signal,
        );
        backoff.reset();
        if (answer.kind === 'envelope')
          this.record(await runPass(deps, { raw: answer.text, token, phase: this.current.phase }));
        this.etag = answer.etag;
        if (clock() >= this.nextObserveAt) {
          this.nextObserveAt = clock() + this.options.observeIntervalMs;
          const observed = await observePass(deps, {
            token,
            phase: this.current.phase,
            lastReported: this.lastReported,
          });
          if (observed !== undefined) {
            this.lastReported = fingerprint(observed.report);
            this.current = { ...this.current, phase: observed.phase };
          }
        }
        await flush();
      } catch (error) {
        if (signal.aborted) break;
        if (isFlotillaError(error) && (error.code === 'TOKEN_EXPIRED' || error.code === 'UNAUTHENTICATED'))
          credentials.invalidate();
        const delay = backoff.next();
        this.current = { ...this.current, lastError: messageOf(error) };
        log.warn(
          { err: messageOf(error), code: isFlotillaError(error) ? error.code : undefined, retryInMs: delay },
          'sync pass failed',
        );
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
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
