import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportStore } from '../../../src/features/reports/report-store.ts';
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
