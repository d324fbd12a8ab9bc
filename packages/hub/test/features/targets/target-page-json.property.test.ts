import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Target } from '@flotilla/protocol';
import { fleetArbitrary } from '../../../../protocol/test/query/query-arbitraries.ts';
import { FleetQueryStore } from '../../../src/features/targets/fleet-query-store.ts';
import { TargetStore } from '../../../src/features/targets/target-store.ts';
import { STORE_KINDS } from '../../store-kinds.ts';
import { useTargetsStore } from './targets-store-fixture.ts';

// Keys JSON.parse puts first (array indices), one that is an accessor on plain objects, and
// ones that need escapes; values (and key ids, which the database quotes) with escapes, astral
// characters and numbers whose spelling a careless writer would change.
const awkwardKey = fc.constantFrom('10', '2', '0', 'a', '__proto__', 'é', 'a "quoted" key', 'line\nbreak', '𝄞');
const awkwardText = fc.string({ unit: 'binary', maxLength: 8 }).map((text) => text.replaceAll('\u0000', ''));
const awkwardNumber = fc.oneof(
  fc.constantFrom(0.1, 1e21, 1e-7, -0, 2 ** 53, 4.5),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const awkward = fc.record({
  keyId: awkwardText,
  labels: fc.dictionary(awkwardKey, awkwardText, { maxKeys: 4 }),
  properties: fc.dictionary(awkwardKey, fc.oneof(awkwardText, awkwardNumber, fc.boolean()), { maxKeys: 4 }),
});

/** Writes the fleet through the store's own writers, as enrollment, edits, reports and rollouts do. */
function write(store: TargetStore, fleet: readonly Target[]): void {
  for (const target of fleet) {
    const actor = target.lastChangedBy;
    store.insert({
      id: target.id,
      name: target.name,
      publicKey: `pk-${target.id}`,
      keyId: target.keyId,
      labels: {},
      enrolledAt: Date.parse(target.enrolledAt),
      actor,
    });
    const changed = Date.parse(target.lastChangedAt);
    store.setLabelsAndProperties(target.id, target.labels, target.properties, changed, actor);
    if (target.observed !== null)
      store.setObserved(
        target.id,
        target.observed,
        target.facts,
        target.lastSeenAt === null ? null : Date.parse(target.lastSeenAt),
      );
    if (target.drift !== undefined) store.setDriftSummary(target.id, target.drift);
    if (target.status !== 'active') store.setStatus(target.id, target.status, changed, actor);
  }
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('a page of targets as JSON text', () => {
    const database = useTargetsStore(kind);

    it('is byte for byte what JSON.stringify writes of the documents the store reads, on a random fleet', () => {
      fc.assert(
        fc.property(fleetArbitrary(8), fc.array(awkward, { maxLength: 8 }), (fleet, metadata) => {
          database().exec('DELETE FROM target_fields; DELETE FROM targets;');
          const awkwardFleet = fleet.map((target, i) => ({ ...target, ...(metadata[i] ?? {}) }));
          const store = new TargetStore(database());
          write(store, awkwardFleet);
          const ids = awkwardFleet.map((target) => target.id);
          const documents = ids.map((id) => store.target(id)!);
          const expected = documents.map((target) => ({ id: target.id, json: JSON.stringify(target) }));
          const pages = new FleetQueryStore(database());
          expect(pages.targetsJson(ids)).toEqual(expected);
          expect(pages.pageJson('', ids.length + 1)).toEqual(expected);
        }),
        { numRuns: kind.name === 'sqlite' ? 100 : 15 },
      );
    }, 30_000);
  });
});
