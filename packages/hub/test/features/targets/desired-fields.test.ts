import { beforeEach, describe, expect, it } from 'vitest';
import type { SignedEnvelope } from '@flotilla/protocol';
import { parseQuery, targetFieldRows } from '@flotilla/protocol/query';
import type { Db } from '../../../src/store/database.ts';
import { TargetStore } from '../../../src/features/targets/target-store.ts';
import { STORE_KINDS } from '../../store-kinds.ts';
import { useTargetsStore } from './targets-store-fixture.ts';

const NOW = Date.UTC(2026, 0, 1);
const actor = { kind: 'user' as const, id: 'test' };
const ID = `tgt_${'1'.padStart(20, '0')}`;
const ref = (name: string, version: string) => ({ name, version, digest: `sha256:${'a'.repeat(64)}` });
// The store keeps the envelope as given; its contents do not matter to the query index.
const envelope = {} as SignedEnvelope;

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the desired rows of the query index', () => {
    const database = useTargetsStore(kind);
    let db: Db;

    beforeEach(() => {
      db = database();
    });

    function storedRows(): unknown[] {
      return db
        .prepare(
          'SELECT field, text_value AS text, num_value AS num, version_key AS version, time_value AS time FROM target_fields WHERE target_id = ? ORDER BY field, text_value',
        )
        .all(ID);
    }

    it('rewrites only the desired rows on a change of desired state, leaving the index equal to a full flattening', () => {
      const store = new TargetStore(db);
      store.insert({ id: ID, name: 'site', publicKey: 'A'.repeat(43), keyId: 'k', labels: {}, enrolledAt: NOW, actor });
      // Labels and properties whose keys sort on both sides of `desired.` and start like it.
      store.setLabelsAndProperties(ID, { desire: 'x', env: 'prod' }, { 'desired-zone': 'eu', app: 'shop' }, NOW, actor);
      store.setDesired(ID, 1, [ref('app', '1.2.0'), ref('monitoring', '2.0.0')], envelope, NOW, actor);
      store.setDesired(ID, 2, [ref('app', '1.3.0')], envelope, NOW, actor);

      const expected = targetFieldRows(store.target(ID)!)
        .map((r) => ({ field: r.field, text: r.text, num: r.num, version: r.version, time: r.time }))
        .sort((a, b) => (a.field === b.field ? (a.text < b.text ? -1 : 1) : a.field < b.field ? -1 : 1));
      expect(storedRows()).toEqual(expected);
      expect(storedRows()).toContainEqual(expect.objectContaining({ field: 'desired.app', text: '1.3.0' }));
      expect(storedRows()).not.toContainEqual(expect.objectContaining({ field: 'desired.monitoring' }));
      expect(store.fleetIndex().select(parseQuery('desired.app=1.3.0'), NOW)).toEqual([ID]);
    });
  });
});
