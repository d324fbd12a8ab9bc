import { beforeEach, describe, expect, it } from 'vitest';
import type { SignedEnvelope } from '@flotilla/protocol';
import { parseQuery } from '@flotilla/protocol/query';
import { buildFleetIndexFromStore } from '../../../src/features/targets/fleet-index-build.ts';
import { FleetQueryStore } from '../../../src/features/targets/fleet-query-store.ts';
import { TargetBrowseStore } from '../../../src/features/targets/target-browse-store.ts';
import { TargetStore } from '../../../src/features/targets/target-store.ts';
import { STORE_KINDS } from '../../store-kinds.ts';
import { useTargetsStore } from './targets-store-fixture.ts';

const NOW = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const actor = { kind: 'user' as const, id: 'test' };
const id = (n: number): string => `tgt_${n.toString(16).padStart(20, '0')}`;

/** An envelope as the store keeps it: only its holds matter here. */
function envelopeHolding(...holds: string[]): SignedEnvelope {
  return {
    envelope: { holds: holds.map((hold) => ({ id: hold, reason: 'test', since: new Date(NOW).toISOString() })) },
  } as unknown as SignedEnvelope;
}

const observed = (seq: number) => ({
  seq,
  generation: 0,
  phase: 'applied' as const,
  health: 'healthy' as const,
  bundles: [],
  reportedAt: new Date(NOW).toISOString(),
});

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the targets stores', () => {
    const database = useTargetsStore(kind);
    let targets: TargetStore;

    beforeEach(() => {
      targets = new TargetStore(database());
      const sites: [string, Record<string, string>][] = [
        ['web-1', { region: 'eu-west-1', tier: 'production' }],
        ['web-2', { region: 'eu-north-1', tier: 'production' }],
        ['web_3', { region: 'us-east-1', tier: 'staging' }],
        ['db-1', { region: 'eu-west-1', tier: 'staging' }],
      ];
      sites.forEach(([name, labels], i) => {
        targets.insert({ id: id(i + 1), name, publicKey: `key-${i}`, keyId: `k${i}`, labels, enrolledAt: NOW, actor });
      });
    });

    it('moves the last contact only forward, and leaves it for a report carried in a file', () => {
      const lastSeen = (): string | null => targets.target(id(1))!.lastSeenAt;
      expect(lastSeen()).toBeNull();
      targets.setObserved(id(1), observed(1), {}, null);
      expect(lastSeen()).toBeNull();
      targets.markSeen(new Map([[id(1), NOW + 2 * MINUTE]]));
      targets.setObserved(id(1), observed(2), {}, NOW + MINUTE);
      expect(lastSeen()).toBe(new Date(NOW + 2 * MINUTE).toISOString());
      targets.setObserved(id(1), observed(3), {}, null);
      targets.markSeen(new Map([[id(1), NOW]]));
      expect(lastSeen()).toBe(new Date(NOW + 2 * MINUTE).toISOString());
      targets.setObserved(id(1), observed(4), {}, NOW + 3 * MINUTE);
      expect(lastSeen()).toBe(new Date(NOW + 3 * MINUTE).toISOString());
    });

    it('finds the targets whose current envelope carries a hold, and only those', () => {
      targets.setDesired(id(1), 1, [], envelopeHolding('inc-1'), NOW, actor);
      targets.setDesired(id(2), 1, [], envelopeHolding('inc-2', 'inc-1'), NOW, actor);
      targets.setDesired(id(3), 1, [], envelopeHolding(), NOW, actor);
      targets.setEnvelope(id(1), envelopeHolding('inc-2'));
      expect(targets.idsHolding('inc-1')).toEqual([id(2)]);
      expect(targets.idsHolding('inc-2')).toEqual([id(1), id(2)]);
      expect(targets.idsHolding('inc-3')).toEqual([]);
      expect(targets.idsWithEnvelope()).toEqual([id(1), id(2), id(3)]);
    });

    it('keeps the last snapshot of the fleet index saved', () => {
      targets.loadFleetIndex();
      targets.saveFleetIndexSnapshot(NOW);
      targets.saveFleetIndexSnapshot(NOW + MINUTE);
      const rows = database().prepare('SELECT taken_at FROM fleet_index_snapshot').all();
      expect(rows).toEqual([{ taken_at: NOW + MINUTE }]);
      expect(new TargetStore(database()).loadFleetIndex().source).toBe('snapshot');
    });

    it.skipIf(kind.name !== 'postgres')(
      "builds the fleet index inside a caller's transaction without changing how the rest of it is planned",
      () => {
        const db = database();
        const setting = db.transaction(() => {
          const index = buildFleetIndexFromStore(db);
          expect(index.select(parseQuery('region=eu-*'), NOW)).toEqual([id(1), id(2), id(4)]);
          return db.prepare('SHOW enable_indexscan').get();
        })();
        expect(setting).toEqual({ enable_indexscan: 'on' });
      },
    );

    it('builds the fleet index from the store whatever shape its target ids have', () => {
      // Ids of TargetId's shape are found by their digits; any other sends every id through a map.
      const standard = buildFleetIndexFromStore(database());
      expect(standard.select(parseQuery('region=eu-*'), NOW)).toEqual([id(1), id(2), id(4)]);
      targets.insert({
        id: 'tgt_legacy',
        name: 'old-1',
        publicKey: 'key-x',
        keyId: 'kx',
        labels: {},
        enrolledAt: NOW,
        actor,
      });
      targets.setLabelsAndProperties('tgt_legacy', { region: 'eu-south-1' }, {}, NOW, actor);
      const mixed = buildFleetIndexFromStore(database());
      expect(mixed.select(parseQuery('region=eu-*'), NOW)).toEqual([id(1), id(2), id(4), 'tgt_legacy']);
      expect(mixed.select(parseQuery('tier=staging'), NOW)).toEqual([id(3), id(4)]);
    });

    it('reads targets by id, in id order, and pages through all of them', () => {
      const store = new FleetQueryStore(database());
      expect(store.targets([id(3), id(1), 'tgt_missing']).map((t) => t.name)).toEqual(['web-1', 'web_3']);
      expect(store.pageJson(id(1), 2).map((t) => t.id)).toEqual([id(2), id(3)]);
      expect(store.count()).toBe(4);
      expect(store.allIds()).toEqual([id(1), id(2), id(3), id(4)]);
    });

    it('reads a page of targets whole, exactly as it reads each one', () => {
      targets.setObserved(id(1), observed(3), { kubernetesVersion: 'v1.30.2', nodes: 3 }, NOW);
      targets.setDriftSummary(id(1), {
        counts: { acceptable: 1, transient: 0, suspicious: 2, dangerous: 0 },
        intentional: 1,
        seq: 3,
        reportedAt: new Date(NOW).toISOString(),
      });
      targets.setDesired(id(2), 4, [], envelopeHolding('hold-1'), NOW + MINUTE, { kind: 'system', id: 'rollouts' });
      targets.setLabelsAndProperties(id(3), { 'a "quoted" label': 'é\n' }, { cost: 4.5, spot: true }, NOW, actor);
      const store = new FleetQueryStore(database());
      const all = [id(1), id(2), id(3), id(4)];
      const each = all.map((one) => targets.target(one)!);
      // As JSON too: the API sends what it reads, keys in the same order.
      expect(JSON.stringify(store.targets(all))).toBe(JSON.stringify(each));
      expect(store.targets(all)).toEqual(each);
      // The text a page is answered with, without a parse: what JSON.stringify writes of each.
      expect(store.targetsJson(all)).toEqual(each.map((t) => ({ id: t.id, json: JSON.stringify(t) })));
      expect(store.pageJson('', 10)).toEqual(each.map((t) => ({ id: t.id, json: JSON.stringify(t) })));
    });

    it('counts facets over the targets a query selects, with globs matched as the query language does', () => {
      targets.markSeen(new Map([[id(1), NOW - MINUTE]]));
      const store = new FleetQueryStore(database());
      const facets = store.facets(parseQuery('name=web?*'), NOW);
      expect(facets.total).toBe(3);
      expect(facets.region).toEqual({ 'eu-north-1': 1, 'eu-west-1': 1, 'us-east-1': 1 });
      expect(facets.lastSeen).toEqual({ '5m': 1, '1h': 0, '24h': 0, older: 0, never: 2 });
      // `_` is a character in a query glob, not LIKE's any character.
      expect(store.facets(parseQuery('name=*_*'), NOW).total).toBe(1);
      expect(store.facets(undefined, NOW).tier).toEqual({ production: 2, staging: 2 });
    });

    it('offers the common values and names that start with a prefix, among given targets when asked', () => {
      const browse = new TargetBrowseStore(database());
      expect(browse.values('key.region', 'eu-', 10)).toEqual([
        { value: 'eu-west-1', n: 2 },
        { value: 'eu-north-1', n: 1 },
      ]);
      expect(browse.values('key.region', 'eu-', 10, [id(2), id(4)])).toEqual([
        { value: 'eu-north-1', n: 1 },
        { value: 'eu-west-1', n: 1 },
      ]);
      expect(browse.names('web', 2)).toEqual(['web-1', 'web-2']);
      expect(browse.names('web', 10, [id(3), id(4)])).toEqual(['web_3']);
      expect(
        browse
          .targets([id(4), id(2)])
          .map((t) => t.name)
          .sort(),
      ).toEqual(['db-1', 'web-2']);
      expect(browse.fieldKeys('key.tier').sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual([
        { id: id(1), key: 'production' },
        { id: id(2), key: 'production' },
        { id: id(3), key: 'staging' },
        { id: id(4), key: 'staging' },
      ]);
    });
  });
});
