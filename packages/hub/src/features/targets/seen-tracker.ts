import type { Clock } from '../../clock.ts';
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

  constructor(store: TargetStore, clock: Clock) {
    this.store = store;
    this.clock = clock;
  }

  mark(targetId: string): void {
    this.pending.set(targetId, this.clock());
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.store.markSeen(batch);
  }

  /** Flushes every `everyMs`; the timer does not keep the process alive. */
  start(everyMs = 5_000): void {
    this.stop();
    this.timer = setInterval(() => this.flush(), everyMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is pending. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
