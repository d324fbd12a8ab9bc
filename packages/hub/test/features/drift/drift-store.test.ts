import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriftReportSection } from '@flotilla/protocol';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import { DriftStore, type CurrentDrift } from '../../../src/features/drift/drift-store.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';
import { insertTarget } from '../../store-rows.ts';

function current(targetId: string, seq: number): CurrentDrift {
  return {
    targetId,
    seq,
    observedAt: 1000 + seq,
    section: { items: [{ kind: 'ConfigMap', name: `cm-${seq}` }] } as unknown as DriftReportSection,
    signature: `sig-${targetId}-${seq}`,
  };
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the drift store', () => {
    let store: OpenedStore;
    let drift: DriftStore;

    beforeAll(() => {
      store = kind.open();
      drift = new DriftStore(store.db);
      insertTarget(store.db, { id: 'tgt-1', name: 'zulu' });
      insertTarget(store.db, { id: 'tgt-2', name: 'alpha' });
      insertTarget(store.db, { id: 'tgt-3', name: 'mike' });
      insertTarget(store.db, { id: 'tgt-4', name: 'quiet' });
    });

    afterAll(() => {
      store?.close();
    });

    it('replaces a target’s current drift with its newest', () => {
      expect(drift.current('tgt-1')).toBeUndefined();
      drift.setCurrent(current('tgt-1', 1));
      drift.setCurrent(current('tgt-1', 2));
      expect(drift.current('tgt-1')).toEqual(current('tgt-1', 2));
    });

    it('answers the drift of the targets asked for, by target name, skipping targets without drift', () => {
      drift.setCurrent(current('tgt-2', 5));
      drift.setCurrent(current('tgt-3', 6));
      expect(drift.driftOf(['tgt-1', 'tgt-2', 'tgt-4', 'tgt-none'])).toEqual([
        { ...current('tgt-2', 5), name: 'alpha' },
        { ...current('tgt-1', 2), name: 'zulu' },
      ]);
      expect(drift.driftOf([])).toEqual([]);
      expect(drift.driftOf(undefined).map((d) => d.name)).toEqual(['alpha', 'mike', 'zulu']);
    });

    it('keeps the drift policy an operator set until it is cleared', () => {
      expect(drift.policy()).toBeUndefined();
      const stored = {
        policy: defaultDriftPolicy,
        setAt: '2026-01-01T00:00:00.000Z',
        setBy: { kind: 'user', id: 'alice' } as const,
      };
      drift.setPolicy({ ...stored, setAt: '2025-01-01T00:00:00.000Z' });
      drift.setPolicy(stored);
      expect(drift.policy()).toEqual(stored);
      drift.setPolicy(undefined);
      expect(drift.policy()).toBeUndefined();
    });
  });
});
