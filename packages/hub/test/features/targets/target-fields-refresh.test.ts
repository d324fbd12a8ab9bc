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

/** The database with the text of every statement run or read through it recorded in `ran`. */
function recording(db: Db): { readonly db: Db; readonly ran: string[] } {
  const ran: string[] = [];
  const prepare = (source: string): unknown => {
    const statement = db.prepare(source) as object;
    return new Proxy(statement, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        const method = value as (...a: unknown[]) => unknown;
        if (key === 'raw')
          return (...params: unknown[]) => {
            method.apply(target, params);
            return receiver;
          };
        return (...params: unknown[]) => {
          if (key === 'run' || key === 'get' || key === 'all' || key === 'iterate') ran.push(source);
          return method.apply(target, params);
        };
      },
    });
  };
  return { db: new Proxy(db, { get: (target, key) => (key === 'prepare' ? prepare : Reflect.get(target, key)) }), ran };
}

const OBSERVED = {
  seq: 1,
  generation: 1,
  phase: 'applied' as const,
  health: 'healthy' as const,
  bundles: [{ name: 'app', version: '1.2.0', digest: `sha256:${'a'.repeat(64)}` }],
  reportedAt: new Date(NOW).toISOString(),
};

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
      store.setObserved(ID, OBSERVED, { driver: 'kubernetes', kubernetesVersion: 'v1.30.1' }, NOW);
      expect(stored()).toEqual(expected());
      store.setObserved(
        ID,
        { ...OBSERVED, seq: 2, health: 'degraded', bundles: [{ ...OBSERVED.bundles[0]!, version: '1.3.0' }] },
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

    it('are neither read nor written for a report that repeats the last one: same facts, releases, health and phase', () => {
      const recorded = recording(db);
      store = new TargetStore(recorded.db);
      store.setObserved(ID, OBSERVED, { driver: 'kubernetes', kubernetesVersion: 'v1.30.1' }, NOW);
      recorded.ran.length = 0;
      store.setObserved(
        ID,
        { ...OBSERVED, seq: 2, reportedAt: new Date(NOW + 1000).toISOString() },
        { driver: 'kubernetes', kubernetesVersion: 'v1.30.1' },
        NOW + 1000,
      );
      expect(recorded.ran.filter((sql) => sql.includes('target_fields'))).toEqual([]);
      expect(store.observedSeq(ID)).toBe(2);
      expect(store.target(ID)?.lastSeenAt).toBe(new Date(NOW + 1000).toISOString());
      expect(stored()).toEqual(expected());
    });

    it.each([
      ['the facts', { ...OBSERVED, seq: 2 }, { driver: 'kubernetes', kubernetesVersion: 'v1.31.0' }],
      ['a release', { ...OBSERVED, seq: 2, bundles: [{ ...OBSERVED.bundles[0]!, version: '1.3.0' }] }, undefined],
      ['the health', { ...OBSERVED, seq: 2, health: 'degraded' as const }, undefined],
      ['the phase', { ...OBSERVED, seq: 2, phase: 'failed' as const }, undefined],
    ])('follow a report that changes %s', (_, observed, facts) => {
      const before = { driver: 'kubernetes', kubernetesVersion: 'v1.30.1' };
      store.setObserved(ID, OBSERVED, before, NOW);
      const rows = stored();
      store.setObserved(ID, observed, facts ?? before, NOW);
      expect(stored()).toEqual(expected());
      expect(stored()).not.toEqual(rows);
    });

    it('are read and written only where a report feeds them when a report changes something', () => {
      store.setLabelsAndProperties(ID, { env: 'prod' }, { region: 'eu-west-1' }, NOW, actor);
      const recorded = recording(db);
      store = new TargetStore(recorded.db);
      store.setObserved(ID, OBSERVED, { driver: 'kubernetes', kubernetesVersion: 'v1.30.1' }, NOW);
      store.setObserved(
        ID,
        { ...OBSERVED, seq: 2, bundles: [{ ...OBSERVED.bundles[0]!, version: '1.3.0' }] },
        { driver: 'kubernetes', kubernetesVersion: 'v1.31.0' },
        NOW,
      );
      // Neither the whole record nor all of the target's rows: labels, properties and the rest stay as they are.
      expect(recorded.ran).not.toContain('SELECT * FROM targets WHERE id = ?');
      expect(recorded.ran).not.toContain(
        'SELECT field, text_value, num_value, version_key, time_value FROM target_fields WHERE target_id = ?',
      );
      expect(stored()).toEqual(expected());
    });

    it("keep the fleet index's last contact for a report that changed none of them", () => {
      store.setObserved(ID, OBSERVED, {}, NOW);
      expect(store.fleetIndex().columnsOf(ID)?.lastSeen).toBe(NOW);
      store.setObserved(ID, { ...OBSERVED, seq: 2 }, {}, NOW + 5000);
      expect(store.fleetIndex().columnsOf(ID)?.lastSeen).toBe(NOW + 5000);
    });

    it('leave the fleet index alone for a drift summary whose classes did not change', () => {
      const drift = (seq: number) => ({
        counts: { acceptable: 1, transient: 0, suspicious: 0, dangerous: 0 },
        intentional: 0,
        seq,
        reportedAt: new Date(NOW + seq).toISOString(),
      });
      const recorded = recording(db);
      store = new TargetStore(recorded.db);
      store.setDriftSummary(ID, drift(1));
      store.fleetIndex();
      recorded.ran.length = 0;
      store.setDriftSummary(ID, drift(2));
      store.fleetIndex();
      expect(recorded.ran).not.toContain('SELECT * FROM targets WHERE id = ?');
      expect(store.target(ID)?.drift).toEqual(drift(2));
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
