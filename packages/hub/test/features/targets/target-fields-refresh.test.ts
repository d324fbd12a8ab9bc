import { beforeEach, describe, expect, it } from 'vitest';
import { targetFieldRows } from '@flotilla/protocol/query';
import type { Db } from '../../../src/store/database.ts';
import { TargetStore } from '../../../src/features/targets/target-store.ts';
import { STORE_KINDS } from '../../store-kinds.ts';
import { useTargetsStore } from './targets-store-fixture.ts';

const NOW = Date.UTC(2026, 0, 1);
const actor = { kind: 'user' as const, id: 'test' };
const ID = 'tgt_00000000000000000001';

type Row = [string, string, number | null, string | null, number | null];

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the query index rows of a target, written only where they changed', () => {
    const database = useTargetsStore(kind);
    let db: Db;
    let store: TargetStore;

    const stored = (): Row[] =>
      (
        db
          .prepare(
            'SELECT field, text_value, num_value, version_key, time_value FROM target_fields WHERE target_id = ? ORDER BY field, text_value',
          )
          .raw()
          .all(ID) as Row[]
      ).map((row) => [...row]);
    const expected = (): Row[] =>
      targetFieldRows(store.target(ID)!)
        .map((r): Row => [r.field, r.text, r.num, r.version, r.time])
        .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));

    beforeEach(() => {
      db = database();
      store = new TargetStore(db);
      store.insert({
        id: ID,
        name: 'site',
        publicKey: 'A'.repeat(43),
        keyId: 'k',
        labels: { env: 'prod' },
        enrolledAt: NOW,
        actor,
      });
    });

    it('match the rows computed from the record after every kind of write', () => {
      expect(stored()).toEqual(expected());
      store.setLabelsAndProperties(ID, { env: 'prod', zone: 'a' }, { region: 'eu-west-1', cores: 8 }, NOW, actor);
      expect(stored()).toEqual(expected());
      const observed = {
        seq: 1,
        generation: 1,
        phase: 'applied' as const,
        health: 'healthy' as const,
        bundles: [{ name: 'app', version: '1.2.0', digest: `sha256:${'a'.repeat(64)}` }],
        reportedAt: new Date(NOW).toISOString(),
      };
      store.setObserved(ID, observed, { driver: 'kubernetes', kubernetesVersion: 'v1.30.1' }, NOW);
      expect(stored()).toEqual(expected());
      store.setObserved(
        ID,
        { ...observed, seq: 2, health: 'degraded', bundles: [{ ...observed.bundles[0]!, version: '1.3.0' }] },
        { driver: 'kubernetes', kubernetesVersion: 'v1.31.0', nodes: 3 },
        NOW,
      );
      expect(stored()).toEqual(expected());
      store.setDriftSummary(ID, {
        counts: { acceptable: 0, transient: 0, suspicious: 1, dangerous: 0 },
        intentional: 0,
        seq: 2,
        reportedAt: new Date(NOW).toISOString(),
      });
      expect(stored()).toEqual(expected());
      store.setDriftSummary(ID, null);
      expect(stored()).toEqual(expected());
      store.setLabelsAndProperties(ID, {}, {}, NOW, actor);
      expect(stored()).toEqual(expected());
    });

    it('take a value of the same text but another type, the number 2 after the string "2"', () => {
      store.setLabelsAndProperties(ID, {}, { replicas: '2' }, NOW, actor);
      const replicas = (): Row | undefined => stored().find((row) => row[0] === 'properties.replicas');
      expect(replicas()?.[2]).toBeNull();
      const asText = stored();
      store.setLabelsAndProperties(ID, {}, { replicas: 2 }, NOW, actor);
      expect(stored()).toEqual(expected());
      expect(stored()).not.toEqual(asText);
      expect(replicas()?.[2]).toBe(2);
    });
  });
});
