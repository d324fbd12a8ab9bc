import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedApproval, SignedPolicySet } from '@flotilla/protocol/policy';
import { ApprovalStore, type ApprovalRecord } from '../../../src/features/policy/approval-store.ts';
import { PolicySetStore } from '../../../src/features/policy/policy-set-store.ts';
import { PolicyStore, type PolicyRecord } from '../../../src/features/policy/policy-store.ts';
import { isUniqueViolation } from '../../../src/store/sql.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';

function policy(name: string, version: number, deleted = false): PolicyRecord {
  return {
    name,
    version,
    document: JSON.stringify({ metadata: { name, version } }),
    digest: `sha256:${name}-${version}`,
    deleted,
    changedAt: 100 * version,
    changedBy: { kind: 'user', id: 'alice' },
  };
}

function approval(rolloutId: string, approver: string): ApprovalRecord {
  return {
    rolloutId,
    action: 'approve',
    approver,
    keyId: `key-${approver}`,
    signed: { approval: { rollout: rolloutId, approver }, signature: 'sig' } as unknown as SignedApproval,
    recordedAt: 500,
    recordedBy: 'hub',
  };
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the policy stores', () => {
    let store: OpenedStore;

    beforeAll(() => {
      store = kind.open();
    });

    afterAll(() => {
      store?.close();
    });

    describe('PolicyStore', () => {
      it('answers the latest version, any version and the history newest first', () => {
        const policies = new PolicyStore(store.db);
        policies.insert(policy('freeze', 1));
        policies.insert(policy('freeze', 2));
        expect(policies.latest('freeze')).toEqual(policy('freeze', 2));
        expect(policies.version('freeze', 1)).toEqual(policy('freeze', 1));
        expect(policies.version('freeze', 3)).toBeUndefined();
        expect(policies.history('freeze').map((p) => p.version)).toEqual([2, 1]);
        expect(policies.latest('none')).toBeUndefined();
      });

      it('lists the live version of each policy by name, leaving out deleted ones', () => {
        const policies = new PolicyStore(store.db);
        policies.insert(policy('live-b', 1));
        policies.insert(policy('live-a', 1));
        policies.insert(policy('live-a', 2));
        policies.insert(policy('live-gone', 1));
        policies.insert(policy('live-gone', 2, true));
        expect(
          policies
            .live()
            .filter((p) => p.name.startsWith('live-'))
            .map((p) => `${p.name}@${p.version}`),
        ).toEqual(['live-a@2', 'live-b@1']);
        expect(policies.latest('live-gone')?.deleted).toBe(true);
      });

      it('changes its stamp with every version added, a deletion included', () => {
        const policies = new PolicyStore(store.db);
        const before = policies.stamp();
        expect(policies.stamp()).toBe(before);
        policies.insert(policy('stamped', 1));
        const after = policies.stamp();
        expect(after).not.toBe(before);
        policies.insert(policy('stamped', 2, true));
        expect(policies.stamp()).not.toBe(after);
      });

      it('refuses a version of a name twice as a unique violation', () => {
        const policies = new PolicyStore(store.db);
        policies.insert(policy('once', 1));
        let failure: unknown;
        try {
          policies.insert({ ...policy('once', 1), digest: 'sha256:other' });
        } catch (error) {
          failure = error;
        }
        expect(isUniqueViolation(failure)).toBe(true);
      });
    });

    describe('PolicySetStore', () => {
      it('answers the newest published set, and refuses a version twice', () => {
        const sets = new PolicySetStore(store.db);
        const set = (version: number) =>
          ({ policySet: { version, policies: [] }, signatures: [] }) as unknown as SignedPolicySet;
        expect(sets.latest()).toBeUndefined();
        sets.insert(set(1), 100, 'alice');
        sets.insert(set(2), 200, 'alice');
        expect(sets.latest()).toEqual(set(2));
        let failure: unknown;
        try {
          sets.insert(set(2), 300, 'bob');
        } catch (error) {
          failure = error;
        }
        expect(isUniqueViolation(failure)).toBe(true);
      });
    });

    describe('ApprovalStore', () => {
      it('numbers each rollout’s approvals from 1 in the order they arrive, and counts them', () => {
        const approvals = new ApprovalStore(store.db);
        approvals.insert(approval('ro-1', 'alice'));
        approvals.insert(approval('ro-2', 'carol'));
        approvals.insert(approval('ro-1', 'bob'));
        expect(approvals.list('ro-1')).toEqual([approval('ro-1', 'alice'), approval('ro-1', 'bob')]);
        expect(
          store.db
            .prepare<[string], { seq: number }>('SELECT seq FROM rollout_approvals WHERE rollout_id = ? ORDER BY seq')
            .all('ro-1'),
        ).toEqual([{ seq: 1 }, { seq: 2 }]);
        expect(approvals.count('ro-1')).toBe(2);
        expect(approvals.count('ro-2')).toBe(1);
        expect(approvals.count('ro-none')).toBe(0);
      });
    });
  });
});
