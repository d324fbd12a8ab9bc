import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRUNE_START, ReportStore, type PruneCursor } from '../../../src/features/reports/report-store.ts';
import { isUniqueViolation } from '../../../src/store/sql.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';
import { insertTarget } from '../../store-rows.ts';

function signed(targetId: string, seq: number, generation: number): string {
  return JSON.stringify({ report: { targetId, seq, generation }, signature: `sig-${seq}` });
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the report store', () => {
    let store: OpenedStore;
    let reports: ReportStore;

    beforeAll(() => {
      store = kind.open();
      reports = new ReportStore(store.db);
    });

    afterAll(() => {
      store?.close();
    });

    it('answers nothing for a target before its first report', () => {
      insertTarget(store.db, { id: 'fresh' });
      expect(reports.lastSeq('fresh')).toBe(0);
      expect(reports.last('fresh')).toBeUndefined();
      expect(reports.highest('fresh')).toEqual({ seq: 0, generation: null });
      expect(reports.heldSeqs('fresh', 1, 10)).toEqual([]);
      expect(reports.json('fresh', 1)).toBeUndefined();
    });

    it('stores a report once per target and seq, keeping the first', () => {
      insertTarget(store.db, { id: 'once' });
      expect(reports.insert('once', 1, 3, 100, signed('once', 1, 3))).toBe(true);
      expect(reports.insert('once', 1, 4, 200, signed('once', 1, 4))).toBe(false);
      expect(reports.json('once', 1)).toBe(signed('once', 1, 3));
    });

    it('answers the highest seq held, its report and its generation, and the seqs held in a range', () => {
      insertTarget(store.db, { id: 'many' });
      for (const [seq, generation] of [
        [2, 1],
        [10, 2],
        [5, 1],
        [7, 2],
      ] as const)
        reports.insert('many', seq, generation, 100 + seq, signed('many', seq, generation));
      expect(reports.lastSeq('many')).toBe(10);
      expect(reports.highest('many')).toEqual({ seq: 10, generation: 2 });
      expect(reports.last('many')).toEqual({ targetId: 'many', seq: 10, generation: 2 });
      expect(reports.heldSeqs('many', 3, 7)).toEqual([5, 7]);
      expect(reports.heldSeqs('many', 1, 100)).toEqual([2, 5, 7, 10]);
    });

    it("prunes the reports received before the cutoff, oldest first, but never a target's newest", () => {
      insertTarget(store.db, { id: 'old-a' });
      insertTarget(store.db, { id: 'old-b' });
      for (const seq of [1, 2, 3]) reports.insert('old-a', seq, 1, 1_000 + seq, signed('old-a', seq, 1));
      reports.insert('old-a', 4, 2, 9_000, signed('old-a', 4, 2));
      // Every report of this one is old: its newest stays all the same.
      for (const seq of [1, 2]) reports.insert('old-b', seq, 1, 1_100 + seq, signed('old-b', seq, 1));
      store.db.transaction(() => reports.pruneBatch(5_000, PRUNE_START, 100))();
      expect(reports.heldSeqs('old-a', 1, 10)).toEqual([4]);
      expect(reports.heldSeqs('old-b', 1, 10)).toEqual([2]);
      expect(reports.highest('old-b')).toEqual({ seq: 2, generation: 1 });
      expect(reports.last('old-b')).toEqual({ targetId: 'old-b', seq: 2, generation: 1 });
    });

    it("raises each target's floor to the highest seq it pruned, and tallies what it removed once", () => {
      insertTarget(store.db, { id: 'floor' });
      for (const seq of [5, 6, 7]) reports.insert('floor', seq, 1, 2_000 + seq, signed('floor', seq, 1));
      expect(reports.prunedThrough('floor')).toBe(0);
      reports.takeTally();
      store.db.transaction(() => reports.pruneBatch(3_000, PRUNE_START, 100))();
      expect(reports.prunedThrough('floor')).toBe(6);
      expect(reports.lastSeq('floor')).toBe(7);
      expect(reports.takeTally()).toBe(2);
      expect(reports.takeTally()).toBe(0);
    });

    it('stops at the first report received since the cutoff in seq order, though a later seq arrived earlier', () => {
      insertTarget(store.db, { id: 'late' });
      for (const [seq, receivedAt] of [
        [1, 3_000],
        [2, 9_000],
        [3, 4_000],
        [4, 9_500],
      ] as const)
        reports.insert('late', seq, 1, receivedAt, signed('late', seq, 1));
      store.db.transaction(() => reports.pruneBatch(5_000, { at: 'late' }, 1))();
      expect(reports.heldSeqs('late', 1, 10)).toEqual([2, 3, 4]);
    });

    it('prunes in batches of at most the limit, going on at the target whose reports a batch left', () => {
      insertTarget(store.db, { id: 'batched' });
      for (let seq = 1; seq <= 6; seq++) reports.insert('batched', seq, 1, 10_000 + seq, signed('batched', seq, 1));
      const prune = (cursor: PruneCursor) => store.db.transaction(() => reports.pruneBatch(20_000, cursor, 2))();
      const first = prune(PRUNE_START);
      expect(first).toEqual({ removed: 2, cursor: { at: 'batched' } });
      const second = prune(first.cursor!);
      expect(second).toEqual({ removed: 2, cursor: { at: 'batched' } });
      // The store's other targets are looked at too, two a batch at most.
      for (let cursor = second.cursor; cursor !== undefined;) {
        const batch = prune(cursor);
        expect(batch.removed).toBeLessThanOrEqual(2);
        cursor = batch.cursor;
      }
      expect(reports.heldSeqs('batched', 1, 10)).toEqual([6]);
      expect(reports.prunedThrough('batched')).toBe(5);
    });

    it('refuses a report of a target the hub does not hold, which is no duplicate', () => {
      let failure: unknown;
      try {
        reports.insert('unknown', 1, 1, 100, signed('unknown', 1, 1));
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(Error);
      expect(isUniqueViolation(failure)).toBe(false);
    });
  });
});
