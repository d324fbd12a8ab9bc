import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Target } from '@flotilla/protocol';
import { formatQuery, type Query } from '@flotilla/protocol/query';
import { fleetArbitrary, NOW, queryArbitrary } from '../../../../protocol/test/query/query-arbitraries.ts';
import {
  evaluateRollout,
  MemberCache,
  RolloutLoader,
  type RolloutEvaluation,
} from '../../../src/features/rollouts/rollout-evaluation.ts';
import type { RolloutPlan, WaveSpec } from '../../../src/features/rollouts/rollout-plan.ts';
import {
  IndexedSelection,
  StoreSelection,
  type RolloutSelection,
} from '../../../src/features/rollouts/rollout-selection.ts';
import { RolloutStore, type RolloutRow } from '../../../src/features/rollouts/rollout-store.ts';
import { PositionCache } from '../../../src/features/rollouts/wave-planner.ts';
import { TargetStore } from '../../../src/features/targets/target-store.ts';
import type { Db } from '../../../src/store/database.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';
import { loadFleet } from '../targets/load-fleet.ts';

/** Replaces the store's targets, their index rows and every rollout with the fleet's. */
function load(db: Db, fleet: readonly Target[]): void {
  db.transaction(() => {
    db.exec('DELETE FROM rollout_members; DELETE FROM rollout_waves; DELETE FROM rollouts;');
    loadFleet(db, fleet);
  })();
}

/** A plan of up to four waves: percentages rising to (or short of) 100, and selector waves among them. */
const planArbitrary: fc.Arbitrary<WaveSpec[]> = fc
  .array(fc.oneof(fc.integer({ min: 1, max: 100 }), queryArbitrary), { minLength: 1, maxLength: 4 })
  .map((specs) => {
    let floor = 0;
    return specs.map((spec, i): WaveSpec => {
      if (typeof spec !== 'number') return { name: `w${i}`, selector: formatQuery(spec) };
      floor = Math.max(floor, spec);
      return { name: `w${i}`, percent: floor };
    });
  });

function rolloutRow(selector: Query, waves: readonly WaveSpec[], currentWave: number): RolloutRow {
  const plan: RolloutPlan = {
    waves,
    bakeMs: 0,
    failureBudget: { kind: 'count', count: 0 },
    timeoutMs: null,
    rollbackOnFailure: false,
  };
  return {
    id: 'ro_00000000000000a1',
    seq: 1,
    release_name: 'app',
    release_version: '1.0.0',
    release_digest: `sha256:${'a'.repeat(64)}`,
    selector: formatQuery(selector),
    plan,
    state: 'running',
    current_wave: currentWave,
    state_reason: null,
    created_at: NOW,
    created_by: { kind: 'user', id: 'alice' },
    updated_at: NOW,
    finished_at: null,
  };
}

/** What decides a rollout's members: who is selected, who is a candidate in which wave, and the cut-offs. */
function choice(evaluation: RolloutEvaluation): unknown {
  return {
    selected: evaluation.selected,
    outside: evaluation.outside,
    cutoffs: evaluation.cutoffs,
    members: evaluation.members.map((m) => [m.targetId, m.wave]),
    candidates: evaluation.candidates
      .map((c) => [c.targetId, c.name, c.status, c.wave] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
  };
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  const runs = (sqlite: number): number => (kind.name === 'sqlite' ? sqlite : Math.ceil(sqlite / 3));

  describe.skipIf(!kind.available())('a rollout selection', () => {
    let store: OpenedStore;
    let db: Db;
    beforeAll(() => {
      store = kind.open();
      db = store.db;
    });
    afterAll(() => {
      store?.close();
    });

    it('chooses the same members through the fleet index as through the store, at a wave start and in a pass after it (property)', () => {
      fc.assert(
        fc.property(
          fleetArbitrary(),
          queryArbitrary,
          planArbitrary,
          fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
          (fleet, selector, waves, enlisted) => {
            load(db, fleet);
            const rollouts = new RolloutStore(db);
            const paths: readonly RolloutSelection[] = [
              new StoreSelection(rollouts),
              new IndexedSelection(new TargetStore(db)),
            ];
            const evaluate = (row: RolloutRow, selection: RolloutSelection, scope: 'full' | 'reached') =>
              evaluateRollout(
                { rollouts, positions: new PositionCache(), members: new MemberCache(), selection },
                new RolloutLoader().load(row),
                NOW,
                scope,
              );

            // Before the first wave: every selected target and the cut-offs of the waves to come.
            const before = rolloutRow(selector, waves, -1);
            rollouts.insert(before);
            const [fromStore, fromIndex] = paths.map((path) => evaluate(before, path, 'full'));
            expect(choice(fromIndex!), formatQuery(selector)).toEqual(choice(fromStore!));

            // The first wave started with some of its candidates recorded: the rest are found again.
            rollouts.insertWave(before.id, 0, fromStore!.cutoffs[0] ?? null, NOW);
            rollouts.setCurrentWave(before.id, 0, NOW);
            const first = fromStore!.candidates.filter((c, i) => c.wave === 0 && enlisted[i % enlisted.length]);
            rollouts.enlist(before.id, first, NOW);
            const started = rolloutRow(selector, waves, 0);
            for (const scope of ['reached', 'full'] as const) {
              const [store, index] = paths.map((path) => evaluate(started, path, scope));
              expect(choice(index!), `${scope}: ${formatQuery(selector)}`).toEqual(choice(store!));
            }
          },
        ),
        { numRuns: runs(150) },
      );
    }, 30_000);
  });
});
