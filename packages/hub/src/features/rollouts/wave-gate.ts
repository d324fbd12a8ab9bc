/**
 * Where the members counted by a gate stand. `applied` here is applied but not yet healthy
 * (progressing, unknown); members that failed, or applied and went degraded, are `failed`.
 */
export interface GateCounts {
  readonly size: number;
  readonly healthy: number;
  readonly applied: number;
  readonly failed: number;
  readonly pending: number;
}

export interface GateInput {
  /** The members of the current wave and every earlier one (waves are cumulative); blocked targets are not counted. */
  readonly counts: GateCounts;
  /** How many failed members the wave tolerates (see `allowedFailures`). */
  readonly allowedFailures: number;
  readonly bakeMs: number;
  readonly timeoutMs: number | null;
  /** When the wave started, or was last resumed: the timeout runs from here. */
  readonly startedAt: number;
  /** When the gates were first seen met, uninterrupted since: the bake runs from here. */
  readonly gatesMetAt: number | null;
  readonly now: number;
}

/**
 * - `over-budget`: more members failed than the budget allows: pause (or roll back).
 * - `timed-out`: the gates were not met within the timeout: pause (or roll back).
 * - `waiting`: members are still pending or applying; any bake restarts when they are done.
 * - `baking`: the gates hold; the wave advances at `until` if they still do.
 * - `passed`: the gates held for the whole bake: the next wave may start.
 */
export type GateDecision =
  | { readonly kind: 'over-budget'; readonly failed: number; readonly allowed: number }
  | { readonly kind: 'timed-out'; readonly waitedMs: number; readonly timeoutMs: number }
  | { readonly kind: 'waiting' }
  | { readonly kind: 'baking'; readonly since: number; readonly until: number }
  | { readonly kind: 'passed' };

/**
 * A wave's gates, decided from the current counts and clocks alone (level-based: the same
 * input always gives the same answer, whatever happened before). The gates are met when
 * every counted member reported the release applied and healthy, except failures within
 * the budget; the wave passes once they have held for the bake time.
 */
export function evaluateGate(input: GateInput): GateDecision {
  const { counts, now } = input;
  if (counts.failed > input.allowedFailures)
    return { kind: 'over-budget', failed: counts.failed, allowed: input.allowedFailures };
  const met = counts.pending === 0 && counts.applied === 0 && counts.healthy + counts.failed === counts.size;
  if (!met) {
    const waitedMs = now - input.startedAt;
    if (input.timeoutMs !== null && waitedMs >= input.timeoutMs)
      return { kind: 'timed-out', waitedMs, timeoutMs: input.timeoutMs };
    return { kind: 'waiting' };
  }
  const since = input.gatesMetAt ?? now;
  const until = since + input.bakeMs;
  return now >= until ? { kind: 'passed' } : { kind: 'baking', since, until };
}
