import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../../../src/features/incidents/incident-store.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';

const alice = { kind: 'user', id: 'alice' } as const;
const bob = { kind: 'user', id: 'bob' } as const;

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the incident store', () => {
    let store: OpenedStore;
    let incidents: IncidentStore;

    beforeAll(() => {
      store = kind.open();
      incidents = new IncidentStore(store.db);
    });

    afterAll(() => {
      store?.close();
    });

    it('reads an opened incident back', () => {
      incidents.insert({ id: 'inc-1', selector: 'env=prod', reason: 'bad release', at: 100, actor: alice });
      expect(incidents.get('inc-1')).toEqual({
        id: 'inc-1',
        selector: 'env=prod',
        reason: 'bad release',
        state: 'open',
        openedAt: 100,
        openedBy: alice,
        closedAt: null,
        closedBy: null,
        closeReason: null,
      });
      expect(incidents.get('inc-none')).toBeUndefined();
    });

    it('closes an open incident once, with who and why', () => {
      incidents.insert({ id: 'inc-2', selector: '', reason: 'outage', at: 200, actor: alice });
      expect(incidents.close('inc-2', 300, bob, 'fixed')).toBe(true);
      expect(incidents.close('inc-2', 400, alice, null)).toBe(false);
      expect(incidents.close('inc-none', 400, alice, null)).toBe(false);
      expect(incidents.get('inc-2')).toMatchObject({
        state: 'closed',
        closedAt: 300,
        closedBy: bob,
        closeReason: 'fixed',
      });
    });

    it('opens a closed incident again with its new selector and reason, forgetting the close', () => {
      incidents.insert({ id: 'inc-3', selector: 'a=1', reason: 'first', at: 500, actor: alice });
      incidents.close('inc-3', 600, alice, null);
      incidents.insert({ id: 'inc-3', selector: 'a=2', reason: 'again', at: 700, actor: bob });
      expect(incidents.get('inc-3')).toEqual({
        id: 'inc-3',
        selector: 'a=2',
        reason: 'again',
        state: 'open',
        openedAt: 700,
        openedBy: bob,
        closedAt: null,
        closedBy: null,
        closeReason: null,
      });
    });

    it('lists open incidents oldest first, and every incident or one state newest first', () => {
      for (const [id, at] of [
        ['list-b', 1100],
        ['list-a', 1000],
        ['list-c', 1200],
      ] as const)
        incidents.insert({ id, selector: '', reason: id, at, actor: alice });
      incidents.close('list-b', 1300, alice, null);
      const ids = (list: readonly { id: string }[]) => list.map((i) => i.id).filter((id) => id.startsWith('list-'));
      expect(ids(incidents.open())).toEqual(['list-a', 'list-c']);
      expect(ids(incidents.list(undefined))).toEqual(['list-c', 'list-b', 'list-a']);
      expect(ids(incidents.list('closed'))).toEqual(['list-b']);
      expect(ids(incidents.list('open'))).toEqual(['list-c', 'list-a']);
    });
  });
});
