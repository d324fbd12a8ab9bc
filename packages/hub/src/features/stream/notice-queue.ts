import { TurnBudget } from '../../turn-budget.ts';

export interface NoticeQueueOptions {
  /** Tells one target's stream, if it has one open. */
  readonly tell: (targetId: string) => void;
  /** The longest one turn of the event loop spends telling; 0: one share ({@link NOTICES_PER_LOOK}) a turn. */
  readonly sliceMs: number;
  /** The longest a fetch waits behind the notices; default {@link FETCH_WAIT_MAX_MS}. */
  readonly fetchWaitMaxMs?: number;
  /** The turn's time shared with the hub's other sliced work: a slice takes no more than is left (at least {@link NOTICES_PER_LOOK}). */
  readonly budget?: TurnBudget;
}

/** Notices sent between two looks at the clock. */
const NOTICES_PER_LOOK = 32;

/**
 * The longest a fetch waits for the notices queued before it: a wave whose notices outlast it
 * (a machine far too busy) lets the fetches that waited this long through, a share a turn.
 */
const FETCH_WAIT_MAX_MS = 1000;

/**
 * The most waiting fetches let through in one turn: each runs its handler up to its first wait
 * (about 10–20 µs with its agent's token cached; the envelope's issuing comes later, in the
 * wave issuer's slices), so 18,000 fetches let through at once would hold the event loop for
 * a third of a second.
 */
const FETCHES_PER_TURN = 512;

/**
 * The `changed` notices owed to streams, oldest first, sent in time slices over as many turns
 * of the event loop as they need, and the envelope fetches that wait for them: a notice costs
 * a write (10–40 µs), a fetch a few hundred µs of issuing, signing and serving, so the fetches
 * of the agents told first would otherwise run between the slices and hold back the notices
 * still queued, and with them the agents last told. A fetch waits while notices are queued
 * (for at most {@link NoticeQueueOptions.fetchWaitMaxMs}), then goes in its turn, at most
 * {@link FETCHES_PER_TURN} a turn; it is never dropped.
 */
export class NoticeQueue {
  private readonly tell: (targetId: string) => void;
  private readonly sliceMs: number;
  private readonly fetchWaitMaxMs: number;
  private readonly budget: TurnBudget;
  private queued: string[] = [];
  private next = 0;
  private turn: NodeJS.Immediate | undefined;
  private sending = false;
  /**
   * The time spent telling, and in which of the budget's turns: a turn may queue notices many
   * times (a wave recorded in slices, each told as it commits), and all of them share one
   * slice, whole again where the budget is.
   */
  private spentMs = 0;
  private spentInTurn = -1;
  /** Fetches waiting, oldest first from `waitingNext`, with when each came (`performance.now()`). */
  private waiting: { readonly resolve: () => void; readonly since: number }[] = [];
  private waitingNext = 0;
  private releaseTurn: NodeJS.Immediate | undefined;

  constructor(options: NoticeQueueOptions) {
    this.tell = options.tell;
    this.sliceMs = options.sliceMs;
    this.fetchWaitMaxMs = options.fetchWaitMaxMs ?? FETCH_WAIT_MAX_MS;
    this.budget = options.budget ?? new TurnBudget();
    if (!Number.isFinite(this.sliceMs) || this.sliceMs < 0)
      throw new TypeError(`NoticeQueue: sliceMs must be 0 or more, received ${this.sliceMs}`);
    if (!Number.isFinite(this.fetchWaitMaxMs) || this.fetchWaitMaxMs < 0)
      throw new TypeError(`NoticeQueue: fetchWaitMaxMs must be 0 or more, received ${this.fetchWaitMaxMs}`);
  }

  /** Notices still to send. */
  get pending(): number {
    return this.queued.length - this.next;
  }

  /** Queues a notice for each target and sends at once as many as this turn's slice allows. */
  push(targetIds: Iterable<string>): void {
    for (const id of targetIds) this.queued.push(id);
    if (this.turn !== undefined || this.sending) return;
    if (this.spentInTurn === this.budget.turn && this.spentMs >= this.sliceMs)
      this.turn = setImmediate(() => this.send());
    else this.send();
  }

  /**
   * For a fetch about to be served: undefined when it may go now, else a promise that settles
   * when its turn comes (after the queued notices, and the fetches that waited before it).
   */
  turnOfFetch(): Promise<void> | undefined {
    if (this.pending === 0 && this.waiting.length === this.waitingNext) return undefined;
    return new Promise((resolve) => {
      this.waiting.push({ resolve, since: performance.now() });
      if (this.pending === 0) this.scheduleRelease();
    });
  }

  /** Drops the notices still queued and lets every waiting fetch go: the hub is stopping. */
  clear(): void {
    if (this.turn !== undefined) clearImmediate(this.turn);
    if (this.releaseTurn !== undefined) clearImmediate(this.releaseTurn);
    this.turn = undefined;
    this.releaseTurn = undefined;
    this.spentMs = 0;
    this.queued = [];
    this.next = 0;
    const waiting = this.waiting.slice(this.waitingNext);
    this.waiting = [];
    this.waitingNext = 0;
    for (const fetch of waiting) fetch.resolve();
  }

  /** Sends queued notices for what is left of this turn's slice (at least {@link NOTICES_PER_LOOK} of them), and leaves the rest to the next turn. */
  private send(): void {
    this.turn = undefined;
    const started = performance.now();
    const budget = Math.min(this.sliceMs - this.spentThisTurn(), this.budget.left());
    const queued = this.queued;
    let next = this.next;
    this.sending = true;
    try {
      while (next < queued.length) {
        this.tell(queued[next++]!);
        if (next % NOTICES_PER_LOOK === 0 && performance.now() - started >= budget) break;
      }
    } finally {
      this.sending = false;
      const spent = performance.now() - started;
      this.spentMs = this.spentThisTurn() + spent;
      this.spentInTurn = this.budget.turn;
      this.budget.charge(spent);
    }
    if (next < queued.length) {
      this.next = next;
      this.turn = setImmediate(() => this.send());
    } else {
      this.queued = [];
      this.next = 0;
    }
    this.release();
  }

  /** What telling took of the budget's current turn. */
  private spentThisTurn(): number {
    return this.spentInTurn === this.budget.turn ? this.spentMs : 0;
  }

  private scheduleRelease(): void {
    this.releaseTurn ??= setImmediate(() => {
      this.releaseTurn = undefined;
      this.release();
    });
  }

  /**
   * Lets a share of the waiting fetches go, oldest first: any while no notice is queued, else
   * only those that waited their longest. The notices' turns call it while they last, its own
   * turns after.
   */
  private release(): void {
    const oldest = this.pending === 0 ? Number.POSITIVE_INFINITY : performance.now() - this.fetchWaitMaxMs;
    const end = Math.min(this.waiting.length, this.waitingNext + FETCHES_PER_TURN);
    let next = this.waitingNext;
    while (next < end && this.waiting[next]!.since <= oldest) this.waiting[next++]!.resolve();
    if (next === this.waiting.length) {
      this.waiting = [];
      this.waitingNext = 0;
      return;
    }
    this.waitingNext = next;
    if (this.pending === 0) this.scheduleRelease();
  }
}
