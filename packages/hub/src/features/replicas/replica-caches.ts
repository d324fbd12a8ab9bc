import type { TargetStatus } from '@flotilla/protocol';
import type { ReplicaChanges } from './replica-changes.ts';

/** The hub's caches of rows any replica may change, each as the small part this feature calls. */
export interface ReplicaCaches {
  /** Served target states (targets feature): the check-in's answers, keys and statuses. */
  readonly served: { invalidate(id: string): void; get(id: string): { readonly status: TargetStatus } | undefined };
  /** The fleet query's in-memory index (targets feature). */
  readonly fleetIndex: { reindex(id: string): void };
  /** Long-polls waiting for a target's envelope, and the target's push stream (desired-state feature). */
  readonly envelopes: { announce(targetIds: Iterable<string>): void };
  /** Agents' push streams, closed when their target is disabled or revoked. */
  readonly streams: { statusChanged(targetId: string, status: TargetStatus): void };
  /** Open incidents' holds (incidents feature). */
  readonly holds: { invalidate(): void };
  /** The drift policy every envelope names (drift feature). */
  readonly driftPolicies: { forget(): void };
  /** Operators' tokens known from earlier requests (operators feature). */
  readonly operatorTokens: { forget(tokenId: string): void };
  /** The trust root envelopes and tokens are checked against (identity feature). */
  readonly trust: { reload(): void };
  /** The newest signed policy set, carried by every envelope (policy feature). */
  readonly policySets: { reload(): void };
  /** Memos of a rollout's plan, positions and members (rollouts feature). */
  readonly rollouts: { forget(id: string): void };
}

/**
 * Keeps this replica's caches in step with what other replicas commit (topics: the triggers of
 * PostgreSQL migration 005). What a change makes stale is dropped at once; who waits on it
 * (long-polls, streams) is woken after. docs/scale-out.md lists each cache.
 */
export function keepCachesInStep(changes: ReplicaChanges, caches: ReplicaCaches): void {
  changes.on('target', {
    stale: (ids) => {
      for (const id of ids) {
        caches.served.invalidate(id);
        caches.fleetIndex.reindex(id);
      }
    },
  });
  changes.on('target-envelope', { wake: (ids) => caches.envelopes.announce(ids) });
  changes.on('target-status', {
    wake: (ids) => {
      for (const id of ids) {
        const status = caches.served.get(id)?.status;
        if (status !== undefined) caches.streams.statusChanged(id, status);
      }
    },
  });
  changes.on('incident', { stale: () => caches.holds.invalidate() });
  changes.on('api-token', { stale: (ids) => ids.forEach((id) => caches.operatorTokens.forget(id)) });
  changes.on('trust-root', { stale: () => caches.trust.reload() });
  changes.on('policy-set', { stale: () => caches.policySets.reload() });
  changes.on('rollout', { stale: (ids) => ids.forEach((id) => caches.rollouts.forget(id)) });
  // The drift policy and the trust store's settings are kept under `meta` keys.
  changes.on('meta', {
    stale: () => {
      caches.driftPolicies.forget();
      caches.trust.reload();
    },
  });
}
