import type { Logger } from 'pino';
import type { OnceOnly } from '../replicas/replica-lease.ts';
import { isFlotillaError, type Actor, type FaultPoints } from '@flotilla/protocol';
import type { Transactions } from '../../store/transaction.ts';
import type { BackgroundFailures } from '../../store/store-health.ts';
import type { LoadedRollout, RolloutLoader, RolloutPolicy } from './rollout-evaluation.ts';
import type { ReleaseStaging } from './rollout-controller.ts';
import type { RolloutStore } from './rollout-store.ts';

export interface WaveIssuerDeps {
  readonly tx: Transactions;
  readonly rollouts: RolloutStore;
  readonly desired: ReleaseStaging;
  readonly loader: RolloutLoader;
  readonly log: Logger;
  /** The actor the envelopes' desired-state changes are recorded under. */
  readonly actor: Actor;
  /** Test-only crash points: `rollout:issue` after each member's envelope is staged. */
  readonly faults: FaultPoints;
  readonly failures?: BackgroundFailures;
  readonly policy?: RolloutPolicy;
  /** The most members one batch issues; default {@link DEFAULT_ISSUE_BATCH}. */
  readonly batchSize?: number;
  /** How long one batch may hold the event loop before it commits and yields; default 15 ms. */
  readonly sliceMs?: number;
  /** Issuing is once-only work (see {@link RolloutControllerDeps}): batches run on the lease holder. */
  readonly once: OnceOnly;
}

/** Members per batch by default: a batch also ends when its time slice is used up. */
export const DEFAULT_ISSUE_BATCH = 256;

/**
 * Issues the envelopes of the members a wave recorded (`issued = 0`, see migration 036), in
 * batches that each commit in one transaction and then yield to the event loop, so that a wave
 * over 18,000 targets never holds the hub for longer than one batch. Each batch stages the
 * release on its members' targets, marks them issued and tells their agents after it commits.
 * Everything it works from is in the store: a hub killed mid-batch loses that batch's
 * transaction whole, and issues the same members, once each, when it starts again.
 *
 * Only running rollouts issue: a paused one keeps its waiting members until it resumes, and an
 * aborted or rolled-back one forgets them.
 */
export class WaveIssuer {
  private readonly deps: WaveIssuerDeps;
  private readonly batchSize: number;
  private readonly sliceMs: number;
  private scheduled: NodeJS.Immediate | undefined;
  private stopped = false;
  private issuedCount = 0;
  private batches = 0;

  constructor(deps: WaveIssuerDeps) {
    this.deps = deps;
    this.batchSize = deps.batchSize ?? DEFAULT_ISSUE_BATCH;
    this.sliceMs = deps.sliceMs ?? 15;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new TypeError(`WaveIssuer: batchSize must be a whole number of at least 1; received ${this.batchSize}`);
  }

  /** Members issued and batches committed since start: what the benchmark and metrics read. */
  get stats(): { readonly issued: number; readonly batches: number } {
    return { issued: this.issuedCount, batches: this.batches };
  }

  /** Issues in the background from the next turn of the event loop on, batch after batch, until no member waits. */
  kick(): void {
    if (this.scheduled !== undefined || this.stopped) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      try {
        if ((this.deps.once.run(() => this.batch().handled) ?? 0) > 0) this.kick();
      } catch (error) {
        // The controller's next pass kicks again: a store that cannot write is retried, not spun on.
        if (this.deps.failures !== undefined) this.deps.failures.report(error, 'rollout envelopes');
        else this.deps.log.error({ err: error }, 'issuing rollout envelopes failed');
      }
    });
  }

  /** Issues every waiting member now, batch after batch without yielding: for tests and commands that must see the result. */
  drain(): number {
    let total = 0;
    for (let done = this.batch(); done.handled > 0; done = this.batch()) total += done.issued;
    return total;
  }

  /** Background issuing resumes at the next {@link kick}. */
  start(): void {
    this.stopped = false;
  }

  stop(): void {
    this.stopped = true;
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
  }

  /**
   * One batch in one transaction, oldest rollout first: how many waiting members it handled
   * (0: none waits) and how many of them it issued (the others were left out).
   */
  private batch(): { readonly handled: number; readonly issued: number } {
    const changed: string[] = [];
    const started = performance.now();
    const done = this.deps.tx.run(() => {
      let handled = 0;
      let issued = 0;
      for (const row of this.deps.rollouts.running()) {
        const rollout = this.deps.loader.load(row);
        for (const targetId of this.deps.rollouts.unissued(row.id, this.batchSize - handled)) {
          if (this.issue(rollout, targetId, changed)) issued++;
          handled++;
          this.deps.faults.reach('rollout:issue');
          if (performance.now() - started >= this.sliceMs) return { handled, issued };
        }
        if (handled >= this.batchSize) break;
      }
      return { handled, issued };
    });
    if (done.handled > 0) {
      this.issuedCount += done.issued;
      this.batches++;
    }
    this.deps.desired.announce(changed);
    return done;
  }

  /** Stages the release on one member's target and marks it issued; false when it was left out instead. */
  private issue(rollout: LoadedRollout, targetId: string, changed: string[]): boolean {
    const { row, release } = rollout;
    const section = this.deps.policy?.section({ id: row.id, author: row.created_by.id, release }, targetId);
    try {
      const staged = this.deps.desired.stageRelease(targetId, release.name, release, this.deps.actor, section);
      this.deps.rollouts.setIssued(row.id, targetId, staged.generation, staged.previous);
      if (staged.changed) changed.push(targetId);
      return true;
    } catch (error) {
      // Revoked since its wave started: it never fetches desired state again, so it is no member.
      if (!isFlotillaError(error, 'CONFLICT')) throw error;
      this.deps.rollouts.dropMember(row.id, targetId);
      this.deps.log.info({ rollout: row.id, target: targetId, reason: error.message }, 'rollout member left out');
      return false;
    }
  }
}
