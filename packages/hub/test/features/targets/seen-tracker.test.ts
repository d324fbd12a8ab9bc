import { describe, expect, it, vi } from 'vitest';
import { SeenTracker } from '../../../src/features/targets/seen-tracker.ts';
import type { TargetStore } from '../../../src/features/targets/target-store.ts';

/** A store that keeps each batch of check-in times it is given. */
function recordingStore(): { store: TargetStore; batches: Map<string, number>[] } {
  const batches: Map<string, number>[] = [];
  const store = { markSeen: (seen: ReadonlyMap<string, number>) => batches.push(new Map(seen)) };
  return { store: store as unknown as TargetStore, batches };
}

const failures = {
  report: (error: unknown) => {
    throw error;
  },
};

describe('the last-seen tracker', () => {
  it('writes a large flush in slices, every time once', async () => {
    const { store, batches } = recordingStore();
    const tracker = new SeenTracker(store, () => 1_000, failures);
    tracker.start(10);
    for (let i = 0; i < 5_000; i++) tracker.mark(`tgt_${i}`);
    try {
      await vi.waitFor(() => expect(batches.reduce((n, b) => n + b.size, 0)).toBe(5_000), {
        timeout: 20_000,
        interval: 10,
      });
    } finally {
      tracker.stop();
    }
    expect(Math.max(...batches.map((b) => b.size))).toBeLessThanOrEqual(500);
    const written = batches.flatMap((b) => [...b.keys()]);
    expect(new Set(written).size).toBe(5_000);
    expect(written).toHaveLength(5_000);
  });

  it('writes everything pending when stopped, in one go', () => {
    const { store, batches } = recordingStore();
    const tracker = new SeenTracker(store, () => 1_000, failures);
    for (let i = 0; i < 5_000; i++) tracker.mark(`tgt_${i}`);
    tracker.stop();
    expect(batches.reduce((n, b) => n + b.size, 0)).toBe(5_000);
  });
});
