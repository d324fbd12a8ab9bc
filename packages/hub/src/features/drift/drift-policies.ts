import { canonicalize, sha256, type Actor, type DriftPolicy } from '@flotilla/protocol';
import type { DriftPolicyState } from '@flotilla/protocol/api';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import type { DriftStore } from './drift-store.ts';

/**
 * The drift policy in force: the one an operator set, or the default. Read once and kept until
 * it is replaced, because every envelope signed carries it.
 */
export class DriftPolicies {
  private readonly store: DriftStore;
  private cached: DriftPolicyState | undefined;

  constructor(store: DriftStore) {
    this.store = store;
  }

  current(): DriftPolicyState {
    if (this.cached === undefined) {
      const stored = this.store.policy();
      this.cached =
        stored !== undefined
          ? {
              policy: stored.policy,
              source: 'custom',
              digest: sha256(canonicalize(stored.policy)),
              setAt: stored.setAt,
              setBy: stored.setBy,
            }
          : { policy: defaultDriftPolicy, source: 'default', digest: sha256(canonicalize(defaultDriftPolicy)) };
    }
    return this.cached;
  }

  /**
   * Stores the policy (undefined: back to the default), inside the caller's transaction;
   * {@link current} reads it from then on, and again once the transaction is over, whichever
   * way it ended.
   */
  replace(policy: DriftPolicy | undefined, at: string, actor: Actor): void {
    this.store.setPolicy(policy === undefined ? undefined : { policy, setAt: at, setBy: actor });
    this.cached = undefined;
  }

  /** Forgets what was read: after a transaction that replaced the policy ended. */
  forget(): void {
    this.cached = undefined;
  }
}
