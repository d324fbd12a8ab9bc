import { getHeapStatistics } from 'node:v8';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { collectStartGarbage } from '../src/collect-start-garbage.ts';

const MB = 1024 * 1024;
const silent = pino({ level: 'silent' });
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Objects held while they are made, so they outlive the young generation's collections as what
 * the bundle and the first pass build does; every other one is returned, the rest dropped.
 */
function halfOfMany(): { i: number; name: string }[] {
  const made = Array.from({ length: 400_000 }, (_, i) => ({ i, name: `object-${i}` }));
  return made.filter((_, i) => i % 2 === 0);
}

it('returns the pages of an old generation that the start left half empty', async () => {
  const kept = halfOfMany();
  await nextTurn();
  const before = getHeapStatistics().total_heap_size;

  await collectStartGarbage(silent);

  // A full collection that only frees (what `gc()` does) keeps the half-used pages: a few MB.
  expect((before - getHeapStatistics().total_heap_size) / MB).toBeGreaterThan(10);
  expect(kept).toHaveLength(200_000);
});
