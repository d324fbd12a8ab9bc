import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedTrustRoot } from '@flotilla/protocol';
import { IdentityStore } from '../../../src/features/identity/identity-store.ts';
import { RetiredKeyStore } from '../../../src/features/identity/retired-key-store.ts';
import { TrustStore } from '../../../src/features/identity/trust-store.ts';
import { isUniqueViolation } from '../../../src/store/sql.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';
import { insertTarget } from '../../store-rows.ts';

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the identity stores', () => {
    let store: OpenedStore;

    beforeAll(() => {
      store = kind.open();
    });

    afterAll(() => {
      store?.close();
    });

    describe('IdentityStore', () => {
      it('finds an API token by its hash until it is revoked, and counts every token', () => {
        const identity = new IdentityStore(store.db);
        const count = identity.apiTokenCount();
        identity.insertApiToken({ id: 'tok-1', name: 'admin', role: 'admin', hash: 'h-1', createdAt: 10 });
        expect(identity.apiTokenByHash('h-1')).toEqual({ id: 'tok-1', name: 'admin', role: 'admin' });
        expect(identity.apiTokenByHash('h-2')).toBeUndefined();
        store.db.prepare('UPDATE api_tokens SET revoked_at = 20 WHERE id = ?').run('tok-1');
        expect(identity.apiTokenByHash('h-1')).toBeUndefined();
        expect(identity.apiTokenCount()).toBe(count + 1);
      });

      it('refuses a second API token with the same hash as a unique violation', () => {
        const identity = new IdentityStore(store.db);
        identity.insertApiToken({ id: 'tok-a', name: 'a', role: 'viewer', hash: 'h-same', createdAt: 10 });
        let failure: unknown;
        try {
          identity.insertApiToken({ id: 'tok-b', name: 'b', role: 'viewer', hash: 'h-same', createdAt: 11 });
        } catch (error) {
          failure = error;
        }
        expect(isUniqueViolation(failure)).toBe(true);
      });

      it('counts an enrollment token’s uses up to its maximum, and revokes it once', () => {
        const identity = new IdentityStore(store.db);
        identity.insertEnrollmentToken({
          id: 'enr-1',
          hash: 'eh-1',
          labels: { env: 'prod', region: 'eu-1' },
          description: null,
          maxUses: 2,
          expiresAt: 5000,
          createdAt: 100,
          createdBy: 'tok-1',
        });
        expect(identity.useEnrollmentToken('enr-1')).toBe(true);
        expect(identity.useEnrollmentToken('enr-1')).toBe(true);
        expect(identity.useEnrollmentToken('enr-1')).toBe(false);
        expect(identity.revokeEnrollmentToken('enr-1', 200)).toBe(true);
        expect(identity.revokeEnrollmentToken('enr-1', 300)).toBe(false);
        expect(identity.enrollmentTokenByHash('eh-1')).toEqual({
          id: 'enr-1',
          labels: { env: 'prod', region: 'eu-1' },
          description: null,
          maxUses: 2,
          uses: 2,
          expiresAt: 5000,
          createdAt: 100,
          createdBy: 'tok-1',
          revokedAt: 200,
        });
        expect(identity.enrollmentTokenById('enr-1')?.uses).toBe(2);
        expect(identity.enrollmentTokenById('enr-none')).toBeUndefined();
      });

      it('lists enrollment tokens newest first, then by id', () => {
        const identity = new IdentityStore(store.db);
        for (const [id, createdAt] of [
          ['enr-old', 150],
          ['enr-new-b', 900],
          ['enr-new-a', 900],
        ] as const)
          identity.insertEnrollmentToken({
            id,
            hash: `hash-${id}`,
            labels: {},
            description: `made at ${createdAt}`,
            maxUses: 1,
            expiresAt: 5000,
            createdAt,
            createdBy: 'tok-1',
          });
        const ids = identity
          .enrollmentTokens()
          .map((t) => t.id)
          .filter((id) => id === 'enr-old' || id.startsWith('enr-new'));
        expect(ids).toEqual(['enr-new-a', 'enr-new-b', 'enr-old']);
      });

      it('answers false for an assertion id seen before, and forgets it once expired', () => {
        const identity = new IdentityStore(store.db);
        expect(identity.useJti('jti-1', 1000)).toBe(true);
        expect(identity.useJti('jti-1', 1000)).toBe(false);
        identity.pruneJtis(999);
        expect(identity.useJti('jti-1', 1000)).toBe(false);
        identity.pruneJtis(1001);
        expect(identity.useJti('jti-1', 2000)).toBe(true);
      });
    });

    describe('TrustStore', () => {
      const root = (version: number) =>
        ({ trustRoot: { version, keys: [] }, signatures: [] }) as unknown as SignedTrustRoot;

      it('keeps the first hub id claimed, answering it to every later claim', () => {
        const trust = new TrustStore(store.db);
        expect(trust.hubId()).toBeUndefined();
        expect(trust.claimHubId('hub-1')).toBe('hub-1');
        expect(trust.claimHubId('hub-2')).toBe('hub-1');
        expect(trust.hubId()).toBe('hub-1');
      });

      it('stores a version only once when asked for the first, answering whether it did', () => {
        const trust = new TrustStore(store.db);
        const first = { ...root(10), signatures: ['first'] } as unknown as SignedTrustRoot;
        expect(trust.insertFirst(first)).toBe(true);
        expect(trust.insertFirst({ ...root(10), signatures: ['second'] } as unknown as SignedTrustRoot)).toBe(false);
        expect(trust.version(10)).toEqual(first);
      });

      it('answers the newest trust root and any version, and refuses a version twice', () => {
        const trust = new TrustStore(store.db);
        trust.insert(root(1));
        trust.insert(root(13));
        trust.insert(root(2));
        expect(trust.latest()).toEqual(root(13));
        expect(trust.version(2)).toEqual(root(2));
        expect(trust.version(4)).toBeUndefined();
        expect(trust.version(11)).toBeUndefined();
        expect(() => trust.insert(root(2))).toThrow(
          expect.objectContaining({ code: kind.name === 'sqlite' ? 'SQLITE_CONSTRAINT_PRIMARYKEY' : '23505' }),
        );
      });
    });

    describe('RetiredKeyStore', () => {
      it('keeps the first record of a retired key, and lists a target’s keys oldest first', () => {
        insertTarget(store.db, { id: 'tgt-keys' });
        const keys = new RetiredKeyStore(store.db);
        keys.retire('tgt-keys', { keyId: 'k2', publicKey: 'pk2', untilSeq: 9, retiredAt: 200 });
        keys.retire('tgt-keys', { keyId: 'k1', publicKey: 'pk1', untilSeq: 4, retiredAt: 100 });
        keys.retire('tgt-keys', { keyId: 'k1', publicKey: 'other', untilSeq: 7, retiredAt: 300 });
        expect(keys.ofTarget('tgt-keys')).toEqual([
          { keyId: 'k1', publicKey: 'pk1', untilSeq: 4, retiredAt: 100 },
          { keyId: 'k2', publicKey: 'pk2', untilSeq: 9, retiredAt: 200 },
        ]);
        expect(keys.ofTarget('tgt-other')).toEqual([]);
      });
    });
  });
});
