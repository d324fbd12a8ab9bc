import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Target } from '@flotilla/protocol';
import {
  buildQueryFieldCatalog,
  compileMatcher,
  formatQuery,
  parseQuery,
  targetFieldRows,
  validateQuery,
  type Query,
} from '@flotilla/protocol/query';
import { FLEET, NOW as FIXTURE_NOW, SELECTION_CASES, target } from '../../../../protocol/test/query/fleet-fixture.ts';
import {
  absentNegationArbitrary,
  fleetArbitrary,
  NOW,
  queryArbitrary,
} from '../../../../protocol/test/query/query-arbitraries.ts';
import { FleetIndex } from '../../../src/features/targets/fleet-index.ts';
import { buildFleetIndexFromStore } from '../../../src/features/targets/fleet-index-build.ts';
import { compileQuerySql } from '../../../src/features/targets/query-sql-store.ts';
import type { Db } from '../../../src/store/database.ts';
import { dialectOf } from '../../../src/store/sql.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';
import { indexColumns } from './index-columns.ts';
import { loadFleet as load } from './load-fleet.ts';

// The generators come from protocol's tests so that both sides build the very same trees and targets.

function sqlIds(db: Db, query: Query, now = NOW): string[] {
  const { where, params } = compileQuerySql(query, { now, dialect: dialectOf(db) });
  const rows = db.prepare(`SELECT t.id FROM targets t WHERE ${where} ORDER BY t.id`).all(...params) as { id: string }[];
  return rows.map((row) => row.id);
}

/** One churned index per fleet, and the index a clean stop's snapshot restores, built once and queried many times. */
const churned = new WeakMap<readonly Target[], { live: FleetIndex; restored: FleetIndex }>();

function indexIds(fleet: readonly Target[], query: Query, now = NOW): string[] {
  let built = churned.get(fleet);
  if (built === undefined) {
    const live = new FleetIndex();
    // Churn first: each target holds another's fields, every third leaves and comes back, so the
    // answer must come from replacing and removing, not only from building.
    fleet.forEach((target, i) => live.set(indexColumns(target), targetFieldRows(fleet[fleet.length - 1 - i]!)));
    fleet.forEach((target, i) => {
      if (i % 3 === 0) live.remove(target.id);
    });
    for (const target of [...fleet].reverse()) live.set(indexColumns(target), targetFieldRows(target));
    built = { live, restored: FleetIndex.fromSnapshot(live.snapshot())! };
    churned.set(fleet, built);
  }
  const ids = built.live.select(query, now);
  // A restart loads what a clean stop kept, and answers the same.
  expect(built.restored.select(query, now)).toEqual(ids);
  return ids;
}

function memoryIds(fleet: readonly Target[], query: Query, now = NOW): string[] {
  const matches = compileMatcher(query, { now });
  return fleet
    .filter(matches)
    .map((target) => target.id)
    .sort();
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  // A PostgreSQL statement is a round trip to another process: fewer runs there, of the same generators.
  const runs = (sqlite: number): number => (kind.name === 'sqlite' ? sqlite : Math.ceil(sqlite / 2));

  describe.skipIf(!kind.available())('the store', () => {
    describe('SQL selects what the documented examples say', () => {
      let store: OpenedStore;
      let db: Db;
      beforeAll(() => {
        store = kind.open();
        db = store.db;
        load(db, FLEET);
      });
      afterAll(() => {
        store?.close();
      });

      it.each(SELECTION_CASES)('%j: %j', (query, names) => {
        const byId = new Map(FLEET.map((t) => [t.id, t.name]));
        expect(sqlIds(db, parseQuery(query), FIXTURE_NOW).map((id) => byId.get(id))).toEqual(
          [...names].sort((a, b) => FLEET.findIndex((t) => t.name === a) - FLEET.findIndex((t) => t.name === b)),
        );
      });
    });

    describe('SQL and in-memory evaluation agree on cases random fleets rarely reach', () => {
      let store: OpenedStore;
      let db: Db;
      beforeAll(() => {
        store = kind.open();
        db = store.db;
      });
      afterAll(() => {
        store?.close();
      });

      it.each([
        // A number and a string with the same text at one fact path share a row; both kinds of order must still work.
        ['facts.a.b>2.25', { facts: { a: { b: 2.5 }, 'a.b': '2.5' } }, true],
        ['facts.a.b<2.25', { facts: { a: { b: 2.5 }, 'a.b': '2.5' } }, true],
        ['facts.a.b>2.6', { facts: { a: { b: 2.5 }, 'a.b': '2.5' } }, false],
        // The bare key reads the property even when a label of that key also matches.
        ['region=eu-north-1', { labels: { region: 'eu-north-1' }, properties: { region: 'eu-west-1' } }, false],
        ['region=eu-west-1', { labels: { region: 'eu-north-1' }, properties: { region: 'eu-west-1' } }, true],
        // SQLite GLOB would read [ab] as a class; the query language reads it literally.
        ['note="x[ab]*"', { properties: { note: 'x[ab]y' } }, true],
        ['note="x[ab]*"', { properties: { note: 'xay' } }, false],
        // ? is one character, also beyond the BMP; * crosses line breaks.
        ['note=a?c', { properties: { note: 'a😀c' } }, true],
        ['note=a*c', { properties: { note: 'a\nb\nc' } }, true],
        // Build metadata never counts, so a partial version with it is a whole line; leading zeros order as numbers.
        ['running.app=1.28+k3s1', { running: { app: 'v1.28.5+k3s1' } }, true],
        ['running.app=4.2-rc.1', { running: { app: '4.2.1-rc.1' } }, false],
        ['labels.rack>2', { labels: { rack: '03' } }, true],
        ['properties.cost>4.2.1', { properties: { cost: 5 } }, false],
        // Case matters, in equality and in globs.
        ['note=ABC', { properties: { note: 'abc' } }, false],
        ['note=A*', { properties: { note: 'abc' } }, false],
        // PostgreSQL matches globs with LIKE, whose %, _ and \ are plain characters in a query glob.
        ['note="*%"', { properties: { note: 'abc' } }, false],
        ['note="*%"', { properties: { note: '50%' } }, true],
        ['note="?_"', { properties: { note: 'ab' } }, false],
        ['note="?_"', { properties: { note: 'a_' } }, true],
        ['note="*\\\\"', { properties: { note: 'a\\' } }, true],
        ['note="*\\\\"', { properties: { note: 'ab' } }, false],
        ['note="?\\\\?"', { properties: { note: 'a\\b' } }, true],
      ] as const)('%j on %j is %s', (query, spec, expected) => {
        const fleet = [target('probe', spec)];
        load(db, fleet);
        const parsed = parseQuery(query);
        expect(memoryIds(fleet, parsed, FIXTURE_NOW).length === 1).toBe(expected);
        expect(sqlIds(db, parsed, FIXTURE_NOW)).toEqual(memoryIds(fleet, parsed, FIXTURE_NOW));
        expect(indexIds(fleet, parsed, FIXTURE_NOW)).toEqual(memoryIds(fleet, parsed, FIXTURE_NOW));
      });
    });

    describe('SQL and in-memory evaluation agree', () => {
      let store: OpenedStore;
      let db: Db;
      beforeAll(() => {
        store = kind.open();
        db = store.db;
      });
      afterAll(() => {
        store?.close();
      });

      it('select the same targets for every fleet and every query, in SQL, the matcher and the fleet index', () => {
        fc.assert(
          fc.property(fleetArbitrary(), fc.array(queryArbitrary, { minLength: 1, maxLength: 5 }), (fleet, queries) => {
            load(db, fleet);
            // The index as a start without a snapshot builds it, from the store's rows.
            const fromStore = buildFleetIndexFromStore(db);
            for (const query of queries) {
              const expected = memoryIds(fleet, query);
              expect(sqlIds(db, query), formatQuery(query)).toEqual(expected);
              expect(indexIds(fleet, query), formatQuery(query)).toEqual(expected);
              expect(fromStore.select(query, NOW), formatQuery(query)).toEqual(expected);
            }
          }),
          { numRuns: runs(200) },
        );
        // 200 fleets, each indexed three times over (built, churned, restored): about 3 s on 2 idle cores.
      }, 15_000);

      it('accept a negation of a key no target has, and select with it exactly what they select without it', () => {
        fc.assert(
          fc.property(
            fleetArbitrary(),
            queryArbitrary,
            fc.array(absentNegationArbitrary, { minLength: 1, maxLength: 3 }),
            (fleet, query, negations) => {
              expect(negations.flatMap((negation) => validateQuery(negation, buildQueryFieldCatalog(fleet)))).toEqual(
                [],
              );
              load(db, fleet);
              const narrowed: Query = { kind: 'and', items: [query, ...negations] };
              const expected = memoryIds(fleet, query);
              expect(memoryIds(fleet, narrowed), formatQuery(narrowed)).toEqual(expected);
              expect(sqlIds(db, narrowed), formatQuery(narrowed)).toEqual(expected);
              expect(indexIds(fleet, narrowed), formatQuery(narrowed)).toEqual(expected);
            },
          ),
          { numRuns: runs(100) },
        );
      });

      it('read a query back from its text unchanged, and select the same targets with it', () => {
        fc.assert(
          fc.property(fleetArbitrary(6), queryArbitrary, (fleet, query) => {
            const text = formatQuery(query);
            const reparsed = parseQuery(text);
            expect(reparsed, text).toEqual(query);
            load(db, fleet);
            expect(sqlIds(db, reparsed)).toEqual(memoryIds(fleet, query));
          }),
          { numRuns: runs(100) },
        );
      });

      it("runs the largest query the language allows within SQLite's limits", () => {
        const values = (prefix: string) =>
          Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? `${prefix}${i}` : `${prefix}${i}*`)).join(', ');
        const conditions = [
          `region in (${values('eu-')})`,
          `running.app in (${values('4.')})`,
          ...Array.from({ length: 100 }, (_, i) =>
            i % 3 === 0 ? `!k${i}` : i % 3 === 1 ? `cost>${i}` : `labels.l${i} notin (${values('v')})`,
          ),
          ...Array.from({ length: 13 }, (_, i) => `k${i} or owner=atlas`),
        ];
        // Longer than a query string may be, so built as a tree, as a selector document could be.
        const query: Query = { kind: 'and', items: conditions.map((condition) => parseQuery(condition)) };
        fc.assert(
          fc.property(fleetArbitrary(6), (fleet) => {
            load(db, fleet);
            expect(sqlIds(db, query)).toEqual(memoryIds(fleet, query));
            expect(indexIds(fleet, query)).toEqual(memoryIds(fleet, query));
          }),
          { numRuns: runs(10) },
        );
        // Planning a statement of a few thousand parameters takes PostgreSQL a few hundred milliseconds.
      }, 15_000);

      it.each([
        ['region in (eu-*), owner=atlas, running.app=4.2, lastChanged<now-30d'],
        ['tier=production, !labels.frozen, running.app>=4.1'],
        ['not region in (eu-*) or health=degraded'],
        ['facts.kubeletVersions<1.29, status=active'],
      ])('keeps the fragment free of NULL for %s, so NOT (...) is its exact complement', (text) => {
        fc.assert(
          fc.property(fleetArbitrary(8), (fleet) => {
            load(db, fleet);
            const query = parseQuery(text);
            const matched = sqlIds(db, query);
            const unmatched = sqlIds(db, { kind: 'not', item: query });
            expect([...matched, ...unmatched].sort()).toEqual(fleet.map((target) => target.id).sort());
          }),
          { numRuns: runs(30) },
        );
      });
    });
  });
});
