import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair, isFlotillaError, keyIdOf, type KeyPair } from '@flotilla/protocol';
import type { AuditInput } from '../../../src/audit-sink.ts';
import { TrustService } from '../../../src/features/identity/trust-service.ts';
import { TrustStore } from '../../../src/features/identity/trust-store.ts';
import type { Db } from '../../../src/store/database.ts';
import { transactions } from '../../../src/store/transaction.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';

const keys = { hub: generateKeyPair(), root: generateKeyPair() };

/** One replica's trust service over the shared database, with the audit entries it appended. */
function replica(db: Db): { service: TrustService; audited: AuditInput[] } {
  const audited: AuditInput[] = [];
  const service = new TrustService({
    tx: transactions(db),
    store: new TrustStore(db),
    keys,
    audit: { append: (input) => audited.push(input) },
    clock: () => Date.parse('2026-01-01T00:00:00Z'),
  });
  return { service, audited };
}

function releaseKey(): KeyPair['publicKey'] {
  return generateKeyPair().publicKey;
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('two replicas of one hub', () => {
    let store: OpenedStore;

    beforeEach(() => {
      store = kind.open();
    });

    afterEach(() => {
      store?.close();
    });

    it('share the hub id and trust root v1 the first to start made', () => {
      const a = replica(store.db).service;
      const b = replica(store.db).service;
      expect(b.hubId).toBe(a.hubId);
      expect(b.signed).toEqual(a.signed);
      expect(a.trustRoot.version).toBe(1);
    });

    it('answer CONFLICT for a trust root version the other published meanwhile, store nothing, and catch up', () => {
      const a = replica(store.db);
      const b = replica(store.db);
      const first = releaseKey();
      const second = releaseKey();
      a.service.addReleaseKey(first, 'ci', { kind: 'user', id: 'alice' });
      let refusal: unknown;
      try {
        b.service.addReleaseKey(second, 'other-ci', { kind: 'user', id: 'bob' });
      } catch (error) {
        refusal = error;
      }
      expect(isFlotillaError(refusal) && refusal.code).toBe('CONFLICT');
      expect(b.audited).toEqual([]);
      expect(b.service.trustRoot).toEqual(a.service.trustRoot);
      const retried = b.service.addReleaseKey(second, 'other-ci', { kind: 'user', id: 'bob' });
      expect(retried.trustRoot.version).toBe(3);
      expect(retried.trustRoot.keys.map((k) => k.id)).toEqual(
        expect.arrayContaining([keyIdOf(first), keyIdOf(second)]),
      );
      expect(new TrustStore(store.db).latest()).toEqual(retried);
    });
  });
});
