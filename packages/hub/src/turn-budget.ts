/** What the hub's background work may take of one turn of the event loop, by default. */
export const TURN_BUDGET_MS = 50;

/**
 * The time one turn of the event loop may spend on the hub's work in slices, shared by all of
 * it: a rollout's notices, the steps recording its waves, envelope batches, catch-ups, the
 * last-seen flush. Each was sliced on its own, but several slices queued for the same turn ran
 * back to back, and the turn took their sum: 100–120 ms at 18,000 agents, while a request
 * waited behind it. Each now takes what is left of the turn (at least its smallest unit, so it
 * moves on), and work that cannot be cut short starts only while some is left.
 *
 * A turn ends where the event loop's delay is measured, at its timers: a timer due in a
 * millisecond, armed by the first charge, starts the next turn's budget afresh. Nothing is
 * armed while nothing is charged.
 *
 * Work that has to wait for room ({@link whenRoom}) waits here, in one queue: while the turn
 * is spent it is looked at again only when the turn is over, where each waiting piece had
 * re-armed an immediate of its own, and the event loop spun on them until the turn's timer.
 */
export class TurnBudget {
  readonly limitMs: number;
  private readonly onTurn: ((spentMs: number) => void) | undefined;
  private spentMs = 0;
  private turnNo = 0;
  private turnEnd: NodeJS.Timeout | undefined;
  /** Work timed inside work already timed is the outer's time: charged once, by the outer. */
  private timing = false;
  /** Work waiting for room, oldest first. */
  private readonly waiting = new Set<Waiting>();
  private look: NodeJS.Immediate | undefined;

  /** `onTurn` hears, when a turn that was charged is over, what its work took all together (the hub's metrics). */
  constructor(limitMs = TURN_BUDGET_MS, onTurn?: (spentMs: number) => void) {
    if (!Number.isFinite(limitMs) || limitMs < 0)
      throw new TypeError(`TurnBudget: limitMs must be 0 or more, received ${limitMs}`);
    this.limitMs = limitMs;
    this.onTurn = onTurn;
  }

  /**
   * Which turn this is, as the budget counts them: it moves on where the budget is whole again.
   * Work that keeps its own share of a turn compares it to know when that share is whole again.
   */
  get turn(): number {
    return this.turnNo;
  }

  /** Milliseconds this turn may still spend; 0 once it is spent. */
  left(): number {
    return Math.max(0, this.limitMs - this.spentMs);
  }

  /**
   * Whether work expected to take `ms` fits in what is left of this turn: work that cannot be
   * cut short starts when it fits, or first in a turn (so it always gets to run). Work of no
   * stated length (0) fits while the turn is not spent.
   */
  fits(ms: number): boolean {
    return this.spentMs === 0 || (this.spentMs < this.limitMs && this.spentMs + ms <= this.limitMs);
  }

  /**
   * Runs `work` at the first check of the event loop (after its I/O, as an immediate would)
   * where what it is expected to take fits this turn (see {@link fits}); `ms` is read at each
   * look, so work that times itself can say what it took last. The work charges its own time
   * ({@link time}). Returns what cancels it.
   */
  whenRoom(ms: number | (() => number), work: () => void): () => void {
    const waiting: Waiting = { ms, work };
    this.waiting.add(waiting);
    this.lookSoon();
    return () => {
      this.waiting.delete(waiting);
    };
  }

  /** Counts `ms` as spent in this turn. */
  charge(ms: number): void {
    this.spentMs += ms;
    if (this.turnEnd !== undefined) return;
    this.turnEnd = setTimeout(() => {
      const spent = this.spentMs;
      this.turnEnd = undefined;
      this.spentMs = 0;
      this.turnNo++;
      this.lookSoon();
      this.onTurn?.(spent);
    }, 1);
    this.turnEnd.unref();
  }

  /** Runs `work` and charges this turn with its time (once, however deeply timed work nests). */
  time<T>(work: () => T): T {
    return this.timed(work).value;
  }

  /**
   * As {@link time}, and gives the work's time too: what the next start of the same work
   * expects it to take (see {@link fits}). Timed inside timed work, it is measured but charged
   * with the outer.
   */
  timed<T>(work: () => T): { readonly value: T; readonly ms: number } {
    const outer = !this.timing;
    const started = performance.now();
    this.timing = true;
    try {
      const value = work();
      return { value, ms: performance.now() - started };
    } finally {
      if (outer) {
        this.timing = false;
        this.charge(performance.now() - started);
      }
    }
  }

  /**
   * Resolves in the next turn of the event loop, at its timers (before its I/O), after this
   * turn's budget was forgotten: work awaited there is charged to the turn it runs in.
   */
  nextTurn(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, 0));
  }

  /** Forgets what this turn spent and the work waiting for room, and disarms its timers: the hub is stopping. */
  close(): void {
    if (this.turnEnd !== undefined) clearTimeout(this.turnEnd);
    this.turnEnd = undefined;
    if (this.look !== undefined) clearImmediate(this.look);
    this.look = undefined;
    this.waiting.clear();
    this.spentMs = 0;
    this.turnNo++;
  }

  /**
   * A look at the waiting work at the next check, when some of it fits this turn; else the
   * turn's end looks again (a turn that does not fit has been charged, so its timer is armed).
   */
  private lookSoon(): void {
    if (this.look !== undefined || this.waiting.size === 0) return;
    if (this.spentMs > 0 && ![...this.waiting].some((waiting) => this.fits(expected(waiting)))) return;
    this.look = setImmediate(() => this.runWaiting());
  }

  /** Runs the waiting work that fits, oldest first; work asked for meanwhile waits for a later look. */
  private runWaiting(): void {
    this.look = undefined;
    try {
      for (const waiting of [...this.waiting]) {
        // Cancelled by work that ran before it in this look.
        if (!this.waiting.has(waiting) || !this.fits(expected(waiting))) continue;
        this.waiting.delete(waiting);
        waiting.work();
      }
    } finally {
      this.lookSoon();
    }
  }
}

interface Waiting {
  readonly ms: number | (() => number);
  readonly work: () => void;
}

function expected(waiting: Waiting): number {
  return typeof waiting.ms === 'number' ? waiting.ms : waiting.ms();
}
