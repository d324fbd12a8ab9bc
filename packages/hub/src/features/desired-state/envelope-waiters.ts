/**
 * The agents' long-polls waiting for their target's envelope to change, by target: woken when
 * a new envelope is committed, or when the hub stops.
 */
export class EnvelopeWaiters {
  private readonly waiters = new Map<string, Set<() => void>>();

  /**
   * Calls `onChange` when {@link notify} names the target, or after `timeoutMs`. Returns a
   * cancel function for when the client goes away first.
   */
  wait(targetId: string, timeoutMs: number, onChange: () => void): () => void {
    let set = this.waiters.get(targetId);
    if (set === undefined) {
      set = new Set();
      this.waiters.set(targetId, set);
    }
    const waiters = set;
    const cancel = (): void => {
      clearTimeout(timer);
      waiters.delete(done);
      if (waiters.size === 0 && this.waiters.get(targetId) === waiters) this.waiters.delete(targetId);
    };
    const done = (): void => {
      cancel();
      onChange();
    };
    const timer = setTimeout(done, timeoutMs);
    waiters.add(done);
    return cancel;
  }

  /** How many targets have at least one waiter. */
  get targets(): number {
    return this.waiters.size;
  }

  notify(targetId: string): void {
    const set = this.waiters.get(targetId);
    if (set === undefined) return;
    for (const waiter of [...set]) waiter();
  }

  /** Wakes every waiter: on shutdown, so long-polls end promptly. */
  wakeAll(): void {
    for (const id of [...this.waiters.keys()]) this.notify(id);
  }
}
