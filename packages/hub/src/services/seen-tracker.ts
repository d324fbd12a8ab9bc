import type { HubStore } from '../store/hub-store.ts';
import type { Clock } from './clock.ts';

/**
 * When each target last checked in. Check-ins are the hottest path, so they only touch
 * memory; the times reach the store in one transaction every few seconds and on close.
 */
export class SeenTracker {
  private pending = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly store: HubStore;
  private readonly clock: Clock;

  constructor(store: HubStore, clock: Clock, flushEveryMs = 5_000) {
    this.store = store;
    this.clock = clock;
    this.timer = setInterval(() => this.flush(), flushEveryMs);
    this.timer.unref();
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

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
