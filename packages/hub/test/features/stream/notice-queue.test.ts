import { describe, expect, it } from 'vitest';
import { NoticeQueue } from '../../../src/features/stream/notice-queue.ts';
import { TurnBudget } from '../../../src/turn-budget.ts';

/** A fetch's longest wait far beyond the test's: the fetches go when the notices are sent, not by the clock. */
const LONGER_THAN_THE_TEST = 600_000;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await nextTurn();
}

const ids = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

describe('the notice queue', () => {
  it('tells every queued target once, in order, over as many turns as it takes, with more queued meanwhile', async () => {
    const told: string[] = [];
    // No time for telling in a turn: one share (32) a turn.
    const queue = new NoticeQueue({ tell: (id) => told.push(id), sliceMs: 0 });
    queue.push(ids('a', 100));
    expect(told).toHaveLength(32);
    await nextTurn();
    queue.push(ids('b', 70));
    await until(() => queue.pending === 0);
    expect(told).toEqual([...ids('a', 100), ...ids('b', 70)]);
  });

  it('sends only one share in a turn whose budget other work spent, and the rest in later turns', async () => {
    const told: string[] = [];
    const budget = new TurnBudget(50);
    // A notice's own slice has time for all of them; the turn has none left.
    const queue = new NoticeQueue({ tell: (id) => told.push(id), sliceMs: 600_000, budget });
    budget.charge(50);
    queue.push(ids('a', 100));
    expect(told).toHaveLength(32);
    await until(() => queue.pending === 0);
    expect(told).toEqual(ids('a', 100));
    budget.close();
  });

  it('spends one slice a turn however many times notices are queued in it', async () => {
    const told: string[] = [];
    const queue = new NoticeQueue({ tell: (id) => told.push(id), sliceMs: 0 });
    queue.push(ids('a', 32));
    queue.push(ids('b', 32));
    queue.push(ids('c', 32));
    expect(told).toEqual(ids('a', 32));
    await nextTurn();
    expect(told).toEqual([...ids('a', 32), ...ids('b', 32)]);
    await until(() => queue.pending === 0);
    expect(told).toEqual([...ids('a', 32), ...ids('b', 32), ...ids('c', 32)]);
  });

  it("keeps a turn's share spent until the budget's turn is over, past the immediates", async () => {
    const told: string[] = [];
    const budget = new TurnBudget(600_000);
    const queue = new NoticeQueue({ tell: (id) => told.push(id), sliceMs: 0, budget });
    queue.push(ids('a', 32));
    await nextTurn();
    queue.push(ids('b', 32));
    expect(told).toEqual(ids('a', 32));
    await until(() => queue.pending === 0);
    await budget.nextTurn();
    await budget.nextTurn();
    queue.push(ids('c', 32));
    expect(told).toEqual([...ids('a', 32), ...ids('b', 32), ...ids('c', 32)]);
    budget.close();
  });

  it('lets a fetch go at once when no notice is queued', () => {
    const queue = new NoticeQueue({ tell: () => undefined, sliceMs: 0 });
    expect(queue.turnOfFetch()).toBeUndefined();
  });

  it('holds a fetch that comes while notices are queued until they are all sent', async () => {
    const queue = new NoticeQueue({ tell: () => undefined, sliceMs: 0, fetchWaitMaxMs: LONGER_THAN_THE_TEST });
    queue.push(ids('a', 320));
    let pendingWhenLetGo: number | undefined;
    const turn = queue.turnOfFetch();
    expect(turn).toBeInstanceOf(Promise);
    await turn!.then(() => {
      pendingWhenLetGo = queue.pending;
    });
    expect(pendingWhenLetGo).toBe(0);
  });

  it('lets a fetch go after fetchWaitMaxMs behind notices that do not end', async () => {
    // Every notice sent queues another: the queue never drains.
    const queue: NoticeQueue = new NoticeQueue({
      tell: (id) => queue.push([`${id}+`]),
      sliceMs: 0,
      fetchWaitMaxMs: 20,
    });
    queue.push(ids('a', 64));
    const started = performance.now();
    await queue.turnOfFetch();
    expect(performance.now() - started).toBeGreaterThanOrEqual(20);
    expect(queue.pending).toBeGreaterThan(0);
    queue.clear();
  });

  it('lets waiting fetches go oldest first, at most 512 a turn', async () => {
    const queue = new NoticeQueue({ tell: () => undefined, sliceMs: 0, fetchWaitMaxMs: LONGER_THAN_THE_TEST });
    queue.push(ids('a', 32 * 3));
    const order: number[] = [];
    const turns = Array.from({ length: 1200 }, (_, i) => queue.turnOfFetch()!.then(() => order.push(i)));
    const perTurn: number[] = [];
    while (order.length < 1200) {
      const before = order.length;
      await nextTurn();
      if (order.length > before) perTurn.push(order.length - before);
    }
    await Promise.all(turns);
    expect(order).toEqual(order.toSorted((a, b) => a - b));
    expect(perTurn).toEqual([512, 512, 176]);
  });

  it('queues a fetch behind the fetches still waiting for their turn, even once the notices are sent', async () => {
    const queue = new NoticeQueue({ tell: () => undefined, sliceMs: 0, fetchWaitMaxMs: LONGER_THAN_THE_TEST });
    queue.push(ids('a', 64));
    const early = Array.from({ length: 600 }, () => queue.turnOfFetch()!);
    await until(() => queue.pending === 0);
    const late = queue.turnOfFetch();
    expect(late).toBeInstanceOf(Promise);
    await Promise.all([...early, late]);
  });

  it('lets every waiting fetch go when cleared (the hub stopping)', async () => {
    const queue = new NoticeQueue({ tell: () => undefined, sliceMs: 0 });
    queue.push(ids('a', 6400));
    const waiting = Array.from({ length: 1000 }, () => queue.turnOfFetch()!);
    queue.clear();
    expect(queue.pending).toBe(0);
    await Promise.all(waiting);
  });
});
