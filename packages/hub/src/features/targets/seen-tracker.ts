import type { Clock } from '../../clock.ts';
import { guarded, type BackgroundFailures } from '../../store/store-health.ts';
import type { TargetStore } from './target-store.ts';

/**
 * When each target last checked in. Check-ins are the hottest path, so they only touch
 * memory; the times reach the store in one transaction every few seconds and on stop.
 */
export class SeenTracker {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly store: TargetStore;
  private readonly clock: Clock;
  private readonly failures: BackgroundFailures;

  constructor(store: TargetStore, clock: Clock, failures: BackgroundFailures) {
    this.store = store;
    this.clock = clock;
    this.failures = failures;
  }

  mark(targetId: string): void {
    this.pending.set(targetId, this.clock());
  }

  /** Writes the pending times; when the store cannot take them, they wait for the next flush. */
  flush(): void {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      this.store.markSeen(batch);
    } catch (error) {
      for (const [id, at] of batch) if (!this.pending.has(id)) this.pending.set(id, at);
      throw error;
    }
  }

  /** Flushes every `everyMs`; the timer does not keep the process alive. */
  start(everyMs = 5_000): void {
    this.stop();
    this.timer = setInterval(
      guarded(this.failures, 'last-seen flush', () => this.flush()),
      everyMs,
    );
    this.timer.unref();
  }

  /** Stops the timer and writes what is pending (when the store can take it). */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    guarded(this.failures, 'last-seen flush', () => this.flush())();
  }
}
