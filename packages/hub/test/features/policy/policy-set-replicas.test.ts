import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  generateKeyPair,
  isFlotillaError,
  keyIdOf,
  signPayload,
  type TrustRoot,
} from '@flotilla/protocol';
import type { SignedPolicySet } from '@flotilla/protocol/policy';
import type { AuditInput } from '../../../src/audit-sink.ts';
import { PolicySetService } from '../../../src/features/policy/policy-set-service.ts';
import { PolicySetStore } from '../../../src/features/policy/policy-set-store.ts';
import type { Db } from '../../../src/store/database.ts';
import { transactions } from '../../../src/store/transaction.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';

const policyKey = generateKeyPair();
const trustRoot = {
  apiVersion: API_VERSION,
  kind: 'TrustRoot',
  hubId: 'hub_test',
  version: 1,
  keys: [{ id: keyIdOf(policyKey.publicKey), publicKey: policyKey.publicKey, roles: ['policy'], name: 'policy' }],
  thresholds: { root: 1, release: 1 },
  issuedAt: '2026-01-01T00:00:00.000Z',
} as TrustRoot;

/** One replica's policy-set service over the shared database, drafting at `now`, with what it audited. */
function replica(db: Db, now: number): { service: PolicySetService; audited: AuditInput[] } {
  const audited: AuditInput[] = [];
  const service = new PolicySetService({
    tx: transactions(db),
    store: new PolicySetStore(db),
    policies: { live: () => [] },
    trust: { trustRoot },
    targets: { target: () => undefined },
    audit: { append: (input) => audited.push(input) },
    clock: () => now,
  });
  return { service, audited };
}

function signed(service: PolicySetService): SignedPolicySet {
  const { policySet } = service.draft();
  return { policySet, signatures: [signPayload('policy-set', policySet, policyKey)] };
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('two replicas publishing policy sets', () => {
    let store: OpenedStore;

    beforeAll(() => {
      store = kind.open();
    });

    afterAll(() => {
      store?.close();
    });

    it('answer CONFLICT for a version the other published meanwhile, record no publication, and catch up', () => {
      const a = replica(store.db, Date.parse('2026-01-01T00:00:00Z'));
      const b = replica(store.db, Date.parse('2026-01-01T00:01:00Z'));
      const published = a.service.publish(signed(a.service), { kind: 'user', id: 'alice' });
      const stale = signed(b.service);
      expect(stale.policySet.version).toBe(1);
      let refusal: unknown;
      try {
        b.service.publish(stale, { kind: 'user', id: 'bob' });
      } catch (error) {
        refusal = error;
      }
      expect(isFlotillaError(refusal) && refusal.code).toBe('CONFLICT');
      expect(b.audited.filter((entry) => entry.outcome === 'success')).toEqual([]);
      expect(b.service.current()).toEqual(published);
      expect(new PolicySetStore(store.db).latest()).toEqual(published);
      const next = b.service.publish(signed(b.service), { kind: 'user', id: 'bob' });
      expect(next.policySet.version).toBe(2);
    });
  });
});
