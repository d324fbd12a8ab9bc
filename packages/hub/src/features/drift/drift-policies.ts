import { canonicalize, driftPolicyDigest, type Actor, type DriftPolicy } from '@flotilla/protocol';
import type { DriftPolicyState } from '@flotilla/protocol/api';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import type { DriftStore } from './drift-store.ts';

/** The policy in force, with the canonical JSON `GET /v1/drift-policies/{digest}` serves for it. */
interface InForce {
  readonly state: DriftPolicyState;
  readonly json: string;
}

/**
 * The drift policy in force: the one an operator set, or the default. Read once and kept until
 * it is replaced, because every envelope signed names it. Every policy that was ever in force
 * is kept in the store under its digest, for agents whose envelopes still name it.
 */
export class DriftPolicies {
  private readonly store: DriftStore;
  private cached: InForce | undefined;

  constructor(store: DriftStore) {
    this.store = store;
  }

  current(): DriftPolicyState {
    return this.inForce().state;
  }

  /**
   * The canonical JSON of the policy with this digest, as envelopes name it: the policy in force
   * from memory, an earlier one from the store; undefined for a digest no envelope could name.
   */
  json(digest: string): string | undefined {
    const now = this.inForce();
    return now.state.digest === digest ? now.json : this.store.version(digest);
  }

  /**
   * Keeps the policy in force under its digest, if it is not yet: at start, so that the default
   * of this hub's version, which no operator stored, stays retrievable after an upgrade changes it.
   */
  keepCurrent(at: number): void {
    const { state, json } = this.inForce();
    if (this.store.version(state.digest) === undefined) this.store.keepVersion(state.digest, json, at);
  }

  /**
   * Stores the policy (undefined: back to the default), and keeps it under its digest, inside the
   * caller's transaction; {@link current} reads it from then on, and again once the transaction
   * is over, whichever way it ended.
   */
  replace(policy: DriftPolicy | undefined, at: string, actor: Actor): void {
    this.store.setPolicy(policy === undefined ? undefined : { policy, setAt: at, setBy: actor });
    this.cached = undefined;
    this.keepCurrent(Date.parse(at));
  }

  /** Forgets what was read: after a transaction that replaced the policy ended. */
  forget(): void {
    this.cached = undefined;
  }

  private inForce(): InForce {
    if (this.cached === undefined) {
      const stored = this.store.policy();
      const policy = stored?.policy ?? defaultDriftPolicy;
      const digest = driftPolicyDigest(policy);
      this.cached = {
        state:
          stored !== undefined
            ? { policy, source: 'custom', digest, setAt: stored.setAt, setBy: stored.setBy }
            : { policy, source: 'default', digest },
        json: canonicalize(policy),
      };
    }
    return this.cached;
  }
}
