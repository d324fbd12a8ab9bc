import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RolloutStore } from '../../../src/features/rollouts/rollout-store.ts';
import type { RolloutPlan } from '../../../src/features/rollouts/rollout-plan.ts';
import type { Db } from '../../../src/store/database.ts';
import { openPostgres } from '../../../src/store/postgres/postgres-database.ts';
import { STORE_KINDS, createPostgresDatabase, type OpenedStore } from '../../store-kinds.ts';

const T0 = Date.parse('2025-06-01T09:00:00Z');
const ALICE = { kind: 'user', id: 'alice' } as const;
const PLAN: RolloutPlan = {
  waves: [
    { name: 'canary', percent: 10 },
    { name: 'rest', percent: 100 },
  ],
  bakeMs: 60_000,
  failureBudget: { kind: 'count', count: 0 },
  timeoutMs: null,
  rollbackOnFailure: false,
};

/** Targets as enrollment leaves them: ids `tgt_<prefix><n>` padded to 20 characters. */
function addTargets(db: Db, prefix: string, count: number): string[] {
  const ids = Array.from({ length: count }, (_, i) => `tgt_${prefix}${String(i).padStart(20 - prefix.length, '0')}`);
  const insert = db.prepare(
    `INSERT INTO targets (id, name, status, public_key, key_id, enrolled_at, last_changed_at, last_changed_by)
     VALUES (?, ?, 'active', 'key', 'kid', ?, ?, 'alice')`,
  );
  db.transaction(() => {
    for (const id of ids) insert.run(id, `site-${id}`, T0, T0);
  })();
  return ids;
}

let rollouts = 0;

describe.each(STORE_KINDS.map((kind) => [kind.name, kind] as const))('the rollout store on %s', (name, kind) => {
  describe.skipIf(!kind.available())('', () => {
    let opened: OpenedStore;
    let db: Db;
    let store: RolloutStore;

    beforeAll(() => {
      opened = kind.open();
      db = opened.db;
      store = new RolloutStore(db);
    });
    afterAll(() => opened?.close());

    /** A running rollout of `release`, recorded as the service does, in a transaction. */
    function createRollout(release = `app-${++rollouts}`): string {
      const id = `ro_${String(++rollouts).padStart(8, '0')}`;
      db.transaction(() => {
        store.insert({
          id,
          seq: store.nextSeq(),
          release_name: release,
          release_version: '1.0.0',
          release_digest: `sha256:${'a'.repeat(64)}`,
          selector: 'region=eu',
          plan: PLAN,
          created_at: T0,
          created_by: ALICE,
        });
      })();
      return id;
    }

    it('records rollouts with their plan and creator, and lists them newest first, by state', () => {
      const older = createRollout('web');
      const newer = createRollout('web');
      expect(store.get(newer)).toMatchObject({
        id: newer,
        release_name: 'web',
        plan: PLAN,
        created_by: ALICE,
        state: 'running',
        current_wave: -1,
        finished_at: null,
      });
      expect(store.get(newer)!.seq).toBe(store.get(older)!.seq + 1);
      db.transaction(() => store.setState(older, 'completed', 'done', T0 + 5, T0 + 5))();
      const listed = store.list(undefined, Number.MAX_SAFE_INTEGER, 1000).map((r) => r.id);
      expect(listed.indexOf(newer)).toBeLessThan(listed.indexOf(older));
      expect(store.list('completed', Number.MAX_SAFE_INTEGER, 1000).map((r) => r.id)).toContain(older);
      expect(store.running().map((r) => r.id)).toContain(newer);
      expect(store.hasRunning()).toBe(true);
      expect(store.activeForRelease('web').map((r) => r.id)).toEqual([newer]);
      expect(store.subject(older)).toEqual({
        author: 'alice',
        releaseDigest: `sha256:${'a'.repeat(64)}`,
        active: false,
      });
      expect(store.get('ro_missing')).toBeUndefined();
    });

    it('records waves as they start, meet their gates, finish and restart', () => {
      const id = createRollout();
      db.transaction(() => {
        store.insertWave(id, 0, 3, T0);
        store.setCurrentWave(id, 0, T0);
        store.setGatesMet(id, 0, T0 + 10);
        store.restartWave(id, 0, T0 + 20);
        store.setGatesMet(id, 0, T0 + 30);
        store.finishWave(id, 0, T0 + 40);
        store.insertWave(id, 1, null, T0 + 40);
        store.touch(id, T0 + 50);
      })();
      expect(store.waves(id)).toEqual([
        { idx: 0, cutoff: 3, started_at: T0 + 20, gates_met_at: T0 + 30, finished_at: T0 + 40 },
        { idx: 1, cutoff: null, started_at: T0 + 40, gates_met_at: null, finished_at: null },
      ]);
      expect(store.get(id)).toMatchObject({ current_wave: 0, updated_at: T0 + 50 });
    });

    it('enlists a large wave in grouped statements, then issues, rolls back and forgets members', () => {
      const id = createRollout();
      const targets = addTargets(db, id.slice(3), 503);
      db.transaction(() =>
        store.enlist(
          id,
          targets.map((targetId, i) => ({ targetId, wave: i < 50 ? 0 : 1 })),
          T0,
        ),
      )();
      expect(store.memberCount(id)).toBe(503);
      expect(store.memberIds(id)).toEqual(new Set(targets));
      expect(store.unissued(id, 2)).toEqual(targets.slice(0, 2));
      expect(store.hasUnissued()).toBe(true);
      const previous = { name: 'web', version: '0.9.0', digest: `sha256:${'b'.repeat(64)}` };
      db.transaction(() => {
        store.setIssued(id, targets[0]!, 4, previous);
        store.setIssued(id, targets[1]!, 5, null);
        store.setRolledBack(id, targets[1]!, 6);
        store.dropMember(id, targets[2]!);
      })();
      const some = store.membersOf(id, targets.slice(0, 3));
      expect(some).toHaveLength(2);
      expect(some.find((m) => m.target_id === targets[0])).toMatchObject({
        target_id: targets[0],
        wave: 0,
        issued: 1,
        generation: 4,
        previous,
        rolled_back_generation: null,
        status: 'active',
        desired_bundles: [],
        observed: null,
      });
      expect(some.find((m) => m.target_id === targets[1])).toMatchObject({ previous: null, rolled_back_generation: 6 });
      expect(store.members(id)).toHaveLength(502);
      expect(db.transaction(() => store.dropUnissued(id))()).toBe(500);
      expect(store.members(id).map((m) => m.target_id)).toEqual(targets.slice(0, 2));
    });

    it('names the other active rollout of a release that already updated a target', () => {
      const release = `shared-${rollouts}`;
      const first = createRollout(release);
      const second = createRollout(release);
      const [target] = addTargets(db, first.slice(3), 1);
      db.transaction(() => store.enlist(first, [{ targetId: target!, wave: 0 }], T0))();
      expect(store.holder(target!, release, second)).toBe(first);
      expect(store.holder(target!, release, first)).toBeUndefined();
      expect(store.holders(release, second)).toEqual(new Map([[target!, first]]));
      db.transaction(() => store.setState(first, 'aborted', null, T0, T0))();
      expect(store.holder(target!, release, second)).toBeUndefined();
    });

    it('records every change to a member or its target for the next pass, and forgets those taken in', () => {
      const id = createRollout();
      const [target] = addTargets(db, id.slice(3), 1);
      const before = store.lastChange();
      db.transaction(() => store.enlist(id, [{ targetId: target!, wave: 0 }], T0))();
      db.prepare('UPDATE targets SET observed_seq = observed_seq + 1 WHERE id = ?').run(target);
      const changes = store.changesSince(before);
      expect(changes.map((c) => c.target_id)).toEqual([target, target]);
      expect(store.lastChange()).toBe(changes.at(-1)!.seq);
      store.pruneChanges(changes.at(-1)!.seq);
      expect(store.changesSince(0)).toEqual([]);
    });

    it('forgets the changes taken in a page at a time, oldest first, and says when none is left', () => {
      const id = createRollout();
      const targets = addTargets(db, id.slice(3), 5);
      const before = store.lastChange();
      db.transaction(() =>
        store.enlist(
          id,
          targets.map((targetId) => ({ targetId, wave: 0 })),
          T0,
        ),
      )();
      const changes = store.changesSince(before);
      expect(changes).toHaveLength(5);
      const last = changes.at(-1)!.seq;
      expect(store.pruneChanges(last, 2)).toBe(false);
      expect(store.changesSince(before)).toEqual(changes.slice(2));
      expect(store.pruneChanges(last, 2)).toBe(false);
      expect(store.pruneChanges(last, 2)).toBe(true);
      expect(store.changesSince(before)).toEqual([]);
    });

    it('moves its change mark when a write commits', () => {
      const mark = store.changeMark();
      createRollout();
      expect(store.changeMark()).not.toEqual(mark);
    });

    it.runIf(name === 'postgres')("moves its change mark when another replica's write commits", () => {
      const database = createPostgresDatabase();
      const mine = openPostgres(database.url);
      const other = openPostgres(database.url);
      try {
        const marks = new RolloutStore(mine);
        const idle = marks.changeMark();
        expect(marks.changeMark()).toEqual(idle);
        other.prepare("INSERT INTO meta (key, value) VALUES ('k', 'v')").run();
        expect(marks.changeMark()).not.toEqual(idle);
      } finally {
        mine.close();
        other.close();
        database.drop();
      }
    });
  });
});
