import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Target } from '@flotilla/protocol';
import { compileMatcher, formatQuery, targetFieldRows, type Query } from '@flotilla/protocol/query';
import { target } from '../../../../protocol/test/query/fleet-fixture.ts';
import { fleetArbitrary, NOW, queryArbitrary } from '../../../../protocol/test/query/query-arbitraries.ts';
import { FleetIndex } from '../../../src/features/targets/fleet-index.ts';
import { indexColumns } from './index-columns.ts';

// A hundred targets with no labels, properties or releases after the random ones: every condition
// on a field the random targets have is then narrow, so the index answers it from the holders of
// the matching values (its postings) rather than by scanning the field.
const FILLERS: readonly Target[] = Array.from({ length: 100 }, (_, i) => ({
  ...target(`filler-${i}`),
  id: `tgt_${(0xf0000 + i).toString(16).padStart(20, '0')}`,
}));

function memoryIds(fleet: readonly Target[], query: Query): string[] {
  const matches = compileMatcher(query, { now: NOW });
  return fleet
    .filter(matches)
    .map((t) => t.id)
    .sort();
}

describe('the fleet index', () => {
  it('selects through the holders of narrow values what the matcher selects, ids and slots in id order, also after targets change', () => {
    fc.assert(
      fc.property(
        fleetArbitrary(),
        fleetArbitrary(),
        fc.array(queryArbitrary, { minLength: 1, maxLength: 5 }),
        (before, after, queries) => {
          const expectAll = (fleet: readonly Target[], answer: FleetIndex): void => {
            for (const query of queries) {
              const ids = memoryIds(fleet, query);
              expect(answer.select(query, NOW), formatQuery(query)).toEqual(ids);
              const slots = [...answer.selectSlots(query, NOW)].map((slot) => answer.idAt(slot));
              expect(slots, formatQuery(query)).toEqual(ids);
            }
            const every = [...answer.selectSlots(undefined, NOW)].map((slot) => answer.idAt(slot));
            expect(every).toEqual(fleet.map((t) => t.id).sort());
          };
          // Slots in id order, and (targets indexed in reverse) not: answers are in id order either way.
          for (const first of [[...before, ...FILLERS], [...before, ...FILLERS].reverse()]) {
            const index = new FleetIndex();
            for (const t of first) index.set(indexColumns(t), targetFieldRows(t));
            expectAll(first, index);
            // The same ids with other fields (the postings the queries made must go), some gone, some new.
            for (const t of after) index.set(indexColumns(t), targetFieldRows(t));
            expectAll([...new Map([...first, ...after].map((t) => [t.id, t])).values()], index);
            for (const t of before.slice(after.length)) index.remove(t.id);
            const now = [...after, ...FILLERS];
            expectAll(now, index);
            expectAll(now, FleetIndex.fromSnapshot(index.snapshot())!);
            // New targets take the slots the removed ones left.
            const late = before
              .slice(after.length)
              .map((t, i) => ({ ...t, id: `${t.id.slice(0, -4)}${(9000 + i).toString(16)}` }));
            for (const t of late) index.set(indexColumns(t), targetFieldRows(t));
            expectAll([...now, ...late], index);
          }
        },
      ),
      { numRuns: 150 },
    );
    // About 1 s on 2 idle cores; each run indexes a hundred and some targets three times over.
  }, 15_000);
});
