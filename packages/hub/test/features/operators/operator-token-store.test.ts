import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorTokenStore, type OperatorTokenRecord } from '../../../src/features/operators/operator-token-store.ts';
import { isUniqueViolation } from '../../../src/store/sql.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';

function token(
  id: string,
  fields: Partial<OperatorTokenRecord> = {},
): Omit<OperatorTokenRecord, 'revokedAt'> & {
  hash: string;
} {
  return {
    id,
    name: 'ci',
    role: 'deployer',
    scope: null,
    createdAt: 100,
    createdBy: 'admin',
    expiresAt: null,
    hash: `hash-${id}`,
    ...fields,
  };
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the operator token store', () => {
    let store: OpenedStore;

    beforeAll(() => {
      store = kind.open();
    });

    afterAll(() => {
      store?.close();
    });

    it('reads a token back by hash and by id, scope and expiry included', () => {
      const tokens = new OperatorTokenStore(store.db);
      tokens.insert(token('op-1', { name: 'alice', scope: 'env=prod', expiresAt: 5000, role: 'approver' }));
      const expected = {
        id: 'op-1',
        name: 'alice',
        role: 'approver',
        scope: 'env=prod',
        createdAt: 100,
        createdBy: 'admin',
        expiresAt: 5000,
        revokedAt: null,
      };
      expect(tokens.byHash('hash-op-1')).toEqual(expected);
      expect(tokens.byId('op-1')).toEqual(expected);
      expect(tokens.byId('op-none')).toBeUndefined();
    });

    it('answers only the live tokens of a name: neither revoked nor expired', () => {
      const tokens = new OperatorTokenStore(store.db);
      tokens.insert(token('live-1', { name: 'bot' }));
      tokens.insert(token('live-2', { name: 'bot', expiresAt: 2000 }));
      tokens.insert(token('expired', { name: 'bot', expiresAt: 1000 }));
      tokens.insert(token('revoked', { name: 'bot' }));
      expect(tokens.revoke('revoked', 1500)).toBe(true);
      expect(tokens.revoke('revoked', 1600)).toBe(false);
      expect(tokens.byId('revoked')?.revokedAt).toBe(1500);
      expect(
        tokens
          .liveByName('bot', 1000)
          .map((t) => t.id)
          .sort(),
      ).toEqual(['live-1', 'live-2']);
    });

    it('lists tokens newest first, then by id', () => {
      const tokens = new OperatorTokenStore(store.db);
      tokens.insert(token('list-b', { createdAt: 7000 }));
      tokens.insert(token('list-a', { createdAt: 7000 }));
      tokens.insert(token('list-c', { createdAt: 8000 }));
      expect(
        tokens
          .list()
          .slice(0, 3)
          .map((t) => t.id),
      ).toEqual(['list-c', 'list-a', 'list-b']);
    });

    it('refuses a token with an id already taken as a unique violation', () => {
      const tokens = new OperatorTokenStore(store.db);
      tokens.insert(token('dup'));
      let failure: unknown;
      try {
        tokens.insert({ ...token('dup'), hash: 'another-hash' });
      } catch (error) {
        failure = error;
      }
      expect(isUniqueViolation(failure)).toBe(true);
    });
  });
});
