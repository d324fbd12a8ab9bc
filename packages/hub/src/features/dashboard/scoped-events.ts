import type { Target } from '@flotilla/protocol';
import { compileMatcher, type Query } from '@flotilla/protocol/query';
import type { LiveEvent } from './live-events.ts';

/** Reads one target's record (the targets feature's store). */
export interface EventTargets {
  target(id: string): Target | undefined;
}

/**
 * Which live events a stream may carry. An unscoped token's stream carries every event; a
 * scoped token's carries only reports of targets in its scope (matched when each event is
 * sent, so a target moving out of scope stops showing at once). Audit, rollout and drift
 * events name things across the fleet, and the routes a scoped page would reload on them
 * answer within the scope themselves, so they are withheld.
 */
export function liveEventFilter(
  within: Query | undefined,
  targets: EventTargets,
  clock: () => number,
): (event: LiveEvent) => boolean {
  if (within === undefined) return () => true;
  // Compiled once a second: the scope may read times relative to now (lastSeen>now-1h).
  let compiled: { second: number; matches: (target: Target) => boolean } | undefined;
  return (event) => {
    if (event.type !== 'report') return false;
    const id = event.data['targetId'];
    const target = typeof id === 'string' ? targets.target(id) : undefined;
    if (target === undefined) return false;
    const now = clock();
    const second = Math.floor(now / 1000);
    if (compiled?.second !== second) compiled = { second, matches: compileMatcher(within, { now }) };
    return compiled.matches(target);
  };
}
