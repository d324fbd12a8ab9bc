import type { Clock } from '../../clock.ts';
import { guarded, type BackgroundFailures } from '../../store/store-health.ts';
import { TurnBudget } from '../../turn-budget.ts';
import type { TargetStore } from './target-store.ts';

/**
 * At most this many check-in times in one transaction: after a rollout's notices 18,000 agents
 * fetch within seconds, and their times written at once held the event loop for about 200 ms.
 * Most of a slice's time is its commit writing the pages its rows sit on (nearly one page a
 * target): a slice of 2,000 still took 50–100 ms, which the rollout's own slices of work in the
 * same turn pushed past 100 ms.
 */
const FLUSH_SLICE = 500;

/**
 * When each target last checked in. Check-ins are the hottest path, so they only touch
 * memory; the times reach the store every few seconds, in slices of {@link FLUSH_SLICE} a turn,
 * and all at once on stop. The store keeps the later of two times, so slices may land in any order.
 */
export class SeenTracker {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Cancels the next slice while one waits for room in a turn. */
  private slice: (() => void) | undefined;
  private readonly store: TargetStore;
  private readonly clock: Clock;
  private readonly failures: BackgroundFailures;
  private readonly budget: TurnBudget;

  /** `budget`: the turn's time shared with the hub's other sliced work; a slice waits while it is spent. */
  constructor(store: TargetStore, clock: Clock, failures: BackgroundFailures, budget = new TurnBudget()) {
    this.store = store;
    this.clock = clock;
    this.failures = failures;
    this.budget = budget;
  }

  mark(targetId: string): void {
    this.pending.set(targetId, this.clock());
  }

  /** Writes every pending time now; when the store cannot take them, they wait for the next flush. */
  flush(): void {
    this.write(this.pending.size);
  }

  /** Flushes every `everyMs`, a slice a turn; the timer does not keep the process alive. */
  start(everyMs = 5_000): void {
    this.stop();
    this.timer = setInterval(() => this.flushInSlices(), everyMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is pending (when the store can take it). */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.slice?.();
    this.slice = undefined;
    guarded(this.failures, 'last-seen flush', () => this.flush())();
  }

  /** Writes the times pending now, a slice a turn; times marked meanwhile wait for the next flush. */
  private flushInSlices(): void {
    if (this.slice !== undefined) return;
    let owed = this.pending.size;
    const next = guarded(this.failures, 'last-seen flush', () => {
      this.slice = undefined;
      const count = Math.min(FLUSH_SLICE, owed);
      owed -= count;
      this.budget.time(() => this.write(count));
      if (owed > 0 && this.pending.size > 0) this.slice = this.budget.whenRoom(0, next);
    });
    this.slice = this.budget.whenRoom(0, next);
  }

  /** Writes the `count` oldest pending times; on failure they are pending again. */
  private write(count: number): void {
    if (count <= 0 || this.pending.size === 0) return;
    const batch = new Map<string, number>();
    for (const [id, at] of this.pending) {
      if (batch.size >= count) break;
      batch.set(id, at);
    }
    for (const id of batch.keys()) this.pending.delete(id);
    try {
      this.store.markSeen(batch);
    } catch (error) {
      for (const [id, at] of batch) if (!this.pending.has(id)) this.pending.set(id, at);
      throw error;
    }
  }
}
