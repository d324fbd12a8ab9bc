import type { Logger } from 'pino';
import type { OnceOnly } from '../replicas/replica-lease.ts';
import { isFlotillaError, type Actor, type FaultPoints } from '@flotilla/protocol';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { BackgroundFailures } from '../../store/store-health.ts';
import type { LoadedRollout, RolloutLoader, RolloutPolicy } from './rollout-evaluation.ts';
import type { StagedRelease } from '../desired-state/desired-state-service.ts';
import type { ReleaseStaging } from './rollout-controller.ts';
import type { RolloutStore } from './rollout-store.ts';
import { TurnBudget } from '../../turn-budget.ts';

export interface WaveIssuerDeps {
  readonly tx: Transactions;
  readonly rollouts: RolloutStore;
  readonly desired: ReleaseStaging;
  readonly loader: RolloutLoader;
  readonly clock: Clock;
  readonly log: Logger;
  /** The actor the envelopes' desired-state changes are recorded under. */
  readonly actor: Actor;
  /** Test-only crash points: `rollout:issue` after each member's envelope is staged (in a batch or on fetch). */
  readonly faults: FaultPoints;
  readonly failures?: BackgroundFailures;
  readonly policy?: RolloutPolicy;
  /** The most members one batch issues; default {@link DEFAULT_ISSUE_BATCH}. */
  readonly batchSize?: number;
  /** How long one batch may hold the event loop before it commits and yields; default 15 ms. */
  readonly sliceMs?: number;
  /**
   * How long after its wave took it in a member is left to issue on its agent's fetch before a
   * batch issues it; default {@link DEFAULT_ISSUE_DELAY_MS}.
   */
  readonly delayMs?: number;
  /** Issuing is once-only work (see {@link RolloutControllerDeps}): batches run on the lease holder. */
  readonly once: OnceOnly;
  /** The turn's time shared with the hub's other sliced work: a batch takes no more than is left (at least one member). */
  readonly budget?: TurnBudget;
}

/** An agent's fetch waiting for its target's members to be issued. */
interface FetchClaim {
  readonly targetId: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Members per batch by default: a batch also ends when its time slice is used up. */
export const DEFAULT_ISSUE_BATCH = 256;

/**
 * By default a member's agent has this long to fetch its envelope (and so have it issued on
 * demand) after it was told; batches issue the members whose agents did not come by then.
 */
export const DEFAULT_ISSUE_DELAY_MS = 2000;

/**
 * How long fetches wait at most after a step said more of its wave's members are still to be
 * recorded (see {@link WaveIssuer.holdFetches}): each slice extends it, and the last releases it.
 */
const FETCH_HOLD_MS = 1000;

/**
 * Issues the envelopes of the members a wave recorded (`issued = 0`, see migration 040). The
 * agents of those members were told when the wave took them in, and come to fetch: a fetch
 * issues its target's waiting member first ({@link issueOnFetch}), so the agents that are
 * connected set the pace. The members whose agents do not come within
 * {@link WaveIssuerDeps.delayMs} are issued in batches that each commit in one transaction and
 * then yield to the event loop, so that a wave over 18,000 targets never holds the hub for
 * longer than one batch; their long-polls are woken after each commits (their streams were
 * told when the wave recorded them).
 *
 * Either way a member is issued in a write transaction that finds it still waiting, stages the
 * release on its target and marks it issued: write transactions run one at a time (on
 * PostgreSQL under the write lock every replica takes), so the `issued = 0` row is the claim
 * and no member is issued twice, whichever replica or path gets to it. Everything it works from
 * is in the store: a hub killed mid-transaction loses that transaction whole, and issues the
 * same members, once each, when it starts again.
 *
 * Only running rollouts issue: a paused one keeps its waiting members until it resumes, and an
 * aborted or rolled-back one forgets them.
 */
export class WaveIssuer {
  private readonly deps: WaveIssuerDeps;
  private readonly batchSize: number;
  private readonly sliceMs: number;
  private readonly delayMs: number;
  private readonly budget: TurnBudget;
  private scheduled: (() => void) | undefined;
  /** Fetches waiting for their members to be issued, oldest first, and the turn that issues them. */
  private fetches: FetchClaim[] = [];
  private fetchTurn: (() => void) | undefined;
  /** Until when (`performance.now()`) fetches wait for a wave still being recorded, and the timer that ends the wait. */
  private heldUntil = 0;
  private holdTimer: NodeJS.Timeout | undefined;
  private due: NodeJS.Timeout | undefined;
  private stopped = false;
  private issuedCount = 0;
  private onFetchCount = 0;
  private batches = 0;

  constructor(deps: WaveIssuerDeps) {
    this.deps = deps;
    this.batchSize = deps.batchSize ?? DEFAULT_ISSUE_BATCH;
    this.sliceMs = deps.sliceMs ?? 15;
    this.budget = deps.budget ?? new TurnBudget();
    this.delayMs = deps.delayMs ?? DEFAULT_ISSUE_DELAY_MS;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new TypeError(`WaveIssuer: batchSize must be a whole number of at least 1; received ${this.batchSize}`);
    if (!Number.isInteger(this.delayMs) || this.delayMs < 0)
      throw new TypeError(`WaveIssuer: delayMs must be a whole number of at least 0; received ${this.delayMs}`);
  }

  /** Members issued (of them on their agent's fetch) and batches committed since start: what the benchmark and metrics read. */
  get stats(): { readonly issued: number; readonly onFetch: number; readonly batches: number } {
    return { issued: this.issuedCount, onFetch: this.onFetchCount, batches: this.batches };
  }

  /** Whether a running rollout holds an envelope for the target that is not issued yet. */
  holds(targetId: string): boolean {
    return this.deps.rollouts.isWaiting(targetId);
  }

  /**
   * Issues the target's waiting members (of running rollouts) before its agent's fetch is
   * answered. On any replica: the transaction finds the member still waiting or leaves it alone.
   * The fetches of one moment share transactions, each holding the event loop for at most one
   * time slice, as a batch does: 18,000 agents told at once fetch at once.
   */
  issueOnFetch(targetId: string): Promise<void> {
    // Asked outside a transaction first: nearly every fetch has nothing waiting.
    if (!this.holds(targetId)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.fetches.push({ targetId, resolve, reject });
      this.scheduleFetches();
    });
  }

  /**
   * A wave's members are being recorded a slice per turn of the event loop, each slice's agents
   * told as it commits: their fetches wait (for at most {@link FETCH_HOLD_MS} after the last
   * call) so that the slices still to come, and their notices, are not queued behind the
   * signing of the envelopes the first slices' agents ask for. Waiting fetches lose nothing: a
   * fetch's member is issued by its fetch's transaction once the hold ends, or by a batch.
   */
  holdFetches(): void {
    this.heldUntil = performance.now() + FETCH_HOLD_MS;
  }

  /** The wave is recorded: the fetches that waited are issued from the next turn on. */
  releaseFetches(): void {
    if (this.heldUntil === 0) return;
    this.heldUntil = 0;
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    if (this.fetches.length > 0) this.scheduleFetches();
  }

  /**
   * The next turn that issues a slice of the waiting fetches: the next one with room in its
   * budget (none while other work spent it), or the end of a hold.
   */
  private scheduleFetches(): void {
    if (this.fetchTurn !== undefined || this.holdTimer !== undefined) return;
    const wait = this.heldUntil - performance.now();
    if (wait <= 0) {
      this.heldUntil = 0;
      this.fetchTurn = this.budget.whenRoom(0, () => {
        this.fetchTurn = undefined;
        this.budget.time(() => this.issueFetchedSlice());
      });
      return;
    }
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.scheduleFetches();
    }, wait);
    this.holdTimer.unref();
  }

  /**
   * One transaction over the fetches waiting, oldest first, until none is left or the time
   * slice is used up (the rest in the next turn); each fetch's members in a savepoint of their
   * own, so one that fails is refused alone.
   */
  private issueFetchedSlice(): void {
    const started = performance.now();
    const sliceMs = this.slice();
    const done: { readonly claim: FetchClaim; readonly error?: unknown }[] = [];
    const changed: StagedRelease[] = [];
    let issued = 0;
    try {
      this.deps.tx.run(() => {
        while (done.length < this.fetches.length && (done.length === 0 || performance.now() - started < sliceMs)) {
          const claim = this.fetches[done.length]!;
          const mark = changed.length;
          try {
            issued += this.deps.tx.run(() => {
              let count = 0;
              for (const row of this.deps.rollouts.waitingFor(claim.targetId)) {
                if (this.issue(this.deps.loader.load(row), claim.targetId, changed)) count++;
                this.deps.faults.reach('rollout:issue');
              }
              return count;
            });
            done.push({ claim });
          } catch (error) {
            changed.length = mark;
            done.push({ claim, error });
          }
        }
      });
    } catch (error) {
      // The commit failed (or the store cannot write): every fetch of this transaction is refused.
      this.fetches = this.fetches.slice(done.length);
      if (this.fetches.length > 0) this.scheduleFetches();
      for (const { claim } of done) claim.reject(error);
      return;
    }
    this.fetches = this.fetches.slice(done.length);
    if (this.fetches.length > 0) this.scheduleFetches();
    this.issuedCount += issued;
    this.onFetchCount += issued;
    this.deps.desired.announceStaged(changed, true);
    for (const { claim, error } of done)
      if (error === undefined) claim.resolve();
      else claim.reject(error);
  }

  /** How long this batch may take: its own slice, or less when the turn's budget has less left. */
  private slice(): number {
    return Math.min(this.sliceMs, this.budget.left());
  }

  /** Issues in the background from the next turn of the event loop on, batch after batch, until no member waits. */
  kick(): void {
    if (this.scheduled !== undefined || this.stopped) return;
    // A batch of one member is a commit for one envelope: while the turn is spent, the next turn's batch takes it.
    this.scheduled = this.budget.whenRoom(0, () => {
      this.scheduled = undefined;
      try {
        if ((this.deps.once.run(() => this.budget.time(() => this.batch().handled)) ?? 0) > 0) this.kick();
        else this.deps.once.run(() => this.wakeWhenDue());
      } catch (error) {
        // The controller's next pass kicks again: a store that cannot write is retried, not spun on.
        if (this.deps.failures !== undefined) this.deps.failures.report(error, 'rollout envelopes');
        else this.deps.log.error({ err: error }, 'issuing rollout envelopes failed');
      }
    });
  }

  /** Issues every waiting member now, due or not, batch after batch without yielding: for tests and commands that must see the result. */
  drain(): number {
    let total = 0;
    for (let done = this.batch(false, this.sliceMs); done.handled > 0; done = this.batch(false, this.sliceMs))
      total += done.issued;
    return total;
  }

  /** Background issuing resumes at the next {@link kick}. */
  start(): void {
    this.stopped = false;
  }

  stop(): void {
    this.stopped = true;
    this.scheduled?.();
    this.scheduled = undefined;
    if (this.due !== undefined) clearTimeout(this.due);
    this.due = undefined;
    // Fetches already taken are issued as before the stop, not left waiting for a wave that stopped.
    this.releaseFetches();
  }

  /** When no member is due yet but some wait: kicks again when the earliest falls due. */
  private wakeWhenDue(): void {
    if (this.due !== undefined || this.stopped) return;
    const firsts = this.deps.rollouts
      .running()
      .map((row) => this.deps.rollouts.firstUnissuedAt(row.id))
      .filter((at) => at !== undefined);
    if (firsts.length === 0) return;
    const first = Math.min(...firsts);
    // At least a little later: the clock may be one a test holds still.
    const inMs = Math.max(first + this.delayMs - this.deps.clock(), 50);
    this.due = setTimeout(() => {
      this.due = undefined;
      this.kick();
    }, inMs);
    this.due.unref();
  }

  /**
   * One batch in one transaction, oldest rollout first: how many waiting members it handled
   * (0: none waits, or with `dueOnly` none is due) and how many of them it issued (the others
   * were left out).
   */
  private batch(dueOnly = true, sliceMs = this.slice()): { readonly handled: number; readonly issued: number } {
    const changed: StagedRelease[] = [];
    const started = performance.now();
    const joinedBy = dueOnly ? this.deps.clock() - this.delayMs : Number.MAX_SAFE_INTEGER;
    const done = this.deps.tx.run(() => {
      let handled = 0;
      let issued = 0;
      for (const row of this.deps.rollouts.running()) {
        const rollout = this.deps.loader.load(row);
        for (const targetId of this.deps.rollouts.unissued(row.id, this.batchSize - handled, joinedBy)) {
          if (this.issue(rollout, targetId, changed)) issued++;
          handled++;
          this.deps.faults.reach('rollout:issue');
          if (performance.now() - started >= sliceMs) return { handled, issued };
        }
        if (handled >= this.batchSize) break;
      }
      return { handled, issued };
    });
    if (done.handled > 0) {
      this.issuedCount += done.issued;
      this.batches++;
    }
    // Their agents were told when the wave recorded them (or when it resumed): one told again
    // fetches twice, and at 18,000 agents most members outlast the delay, so a wave's notices
    // and fetches doubled. Long-polls are still woken; a stream opened since is greeted with no
    // ETag while its member waits (so its agent fetches), and a new tag after.
    this.deps.desired.announceStaged(changed, true);
    return done;
  }

  /** Stages the release on one member's target and marks it issued; false when it was left out instead. */
  private issue(rollout: LoadedRollout, targetId: string, changed: StagedRelease[]): boolean {
    const { row, release } = rollout;
    const section = this.deps.policy?.section({ id: row.id, author: row.created_by.id, release }, targetId);
    try {
      const staged = this.deps.desired.stageRelease(targetId, release.name, release, this.deps.actor, section);
      // Found waiting in this very transaction, and write transactions run one at a time.
      if (!this.deps.rollouts.setIssued(row.id, targetId, staged.generation, staged.previous))
        throw new Error(`rollout ${row.id}: member ${targetId} was issued by another transaction meanwhile`);
      if (staged.changed) changed.push(staged);
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
