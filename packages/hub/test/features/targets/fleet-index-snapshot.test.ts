import { beforeEach, describe, expect, it } from 'vitest';
import { parseQuery } from '@flotilla/protocol/query';
import type { Db } from '../../../src/store/database.ts';
import { TargetStore } from '../../../src/features/targets/target-store.ts';
import { STORE_KINDS } from '../../store-kinds.ts';
import { useTargetsStore } from './targets-store-fixture.ts';

const NOW = Date.UTC(2026, 0, 1);
const actor = { kind: 'user' as const, id: 'test' };

function enroll(store: TargetStore, n: number, region: string): void {
  const id = `tgt_${n.toString(16).padStart(20, '0')}`;
  store.insert({
    id,
    name: `site-${n}`,
    publicKey: 'A'.repeat(43),
    keyId: id.slice(4, 20),
    labels: {},
    enrolledAt: NOW,
    actor,
  });
  store.setLabelsAndProperties(id, { env: 'prod' }, { region }, NOW, actor);
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the fleet index across a restart', () => {
    const database = useTargetsStore(kind);
    let db: Db;

    beforeEach(() => {
      db = database();
      const store = new TargetStore(db);
      for (let n = 1; n <= 30; n++) enroll(store, n, n % 3 === 0 ? 'eu-west-1' : 'us-east-1');
    });

    const euSites = (store: TargetStore): string[] =>
      store
        .fleetIndex()
        .select(parseQuery('region=eu-*'), NOW)
        .map((id) => store.target(id)!.name);

    it('is built from the store on a first start, and loaded from what a clean stop kept on the next', () => {
      const first = new TargetStore(db);
      expect(first.loadFleetIndex().source).toBe('store');
      const before = euSites(first);
      expect(before).toHaveLength(10);
      first.saveFleetIndexSnapshot(NOW);

      const next = new TargetStore(db);
      expect(next.loadFleetIndex().source).toBe('snapshot');
      expect(euSites(next)).toEqual(before);
    });

    it('is rebuilt when anything wrote a target after the snapshot was kept', () => {
      const first = new TargetStore(db);
      first.loadFleetIndex();
      first.saveFleetIndexSnapshot(NOW);
      // Another writer, with the hub stopped: a relabel and a new target.
      const other = new TargetStore(db);
      other.setLabelsAndProperties('tgt_00000000000000000001', {}, { region: 'eu-north-1' }, NOW, actor);
      enroll(other, 31, 'eu-central-1');

      const next = new TargetStore(db);
      expect(next.loadFleetIndex().source).toBe('store');
      expect(euSites(next)).toHaveLength(12);
    });

    it('is rebuilt after a hub that loaded the snapshot wrote anything and was killed', () => {
      const first = new TargetStore(db);
      first.loadFleetIndex();
      first.saveFleetIndexSnapshot(NOW);
      const killed = new TargetStore(db);
      expect(killed.loadFleetIndex().source).toBe('snapshot');
      expect(new TargetStore(db).loadFleetIndex().source).toBe('snapshot');
      // A heartbeat, and then no clean stop (SIGKILL).
      killed.markSeen(new Map([['tgt_00000000000000000002', NOW]]));
      expect(new TargetStore(db).loadFleetIndex().source).toBe('store');
    });

    it('is kept through a check-in no later than the last contact, which writes nothing', () => {
      const first = new TargetStore(db);
      first.markSeen(new Map([['tgt_00000000000000000002', NOW + 60_000]]));
      first.loadFleetIndex();
      first.saveFleetIndexSnapshot(NOW);
      const next = new TargetStore(db);
      expect(next.loadFleetIndex().source).toBe('snapshot');
      // A fetch's check-in flushed after the report that came later already moved the contact.
      next.markSeen(new Map([['tgt_00000000000000000002', NOW]]));
      next.markSeen(new Map([['tgt_00000000000000000002', NOW + 60_000]]));
      expect(new TargetStore(db).loadFleetIndex().source).toBe('snapshot');
      expect(next.target('tgt_00000000000000000002')!.lastSeenAt).toBe(new Date(NOW + 60_000).toISOString());
    });

    it('answers heartbeats and writes made after loading the snapshot', () => {
      const first = new TargetStore(db);
      first.loadFleetIndex();
      first.saveFleetIndexSnapshot(NOW);
      const next = new TargetStore(db);
      next.loadFleetIndex();
      next.markSeen(new Map([['tgt_00000000000000000003', NOW]]));
      next.setLabelsAndProperties('tgt_00000000000000000006', {}, { region: 'us-west-2' }, NOW, actor);
      enroll(next, 40, 'eu-south-1');
      expect(euSites(next)).toHaveLength(10);
      expect(next.fleetIndex().select(parseQuery('lastSeen>now-1m'), NOW)).toEqual(['tgt_00000000000000000003']);
    });
  });
});
