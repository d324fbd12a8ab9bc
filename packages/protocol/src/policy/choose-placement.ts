import type { Target } from '../documents/target.ts';
import type { PolicyDecision } from './block-reason.ts';
import { compileRequirements } from './check-requirements.ts';
import type { PlacementRequest } from './placement-request.ts';
import { targetRegion } from './target-traits.ts';

/** Why one target was or was not chosen. */
export interface PlacementExplanation {
  readonly targetId: string;
  readonly name: string;
  readonly region?: string;
  readonly chosen: boolean;
  readonly reason: string;
}

export interface PlacementChoice {
  /** Ids of the chosen targets, by region then in choice order. */
  readonly chosen: readonly string[];
  /** One line per target, in the order the targets were given. */
  readonly explanations: readonly PlacementExplanation[];
}

export interface PlacementOptions {
  /**
   * The policy decision for a target (see `createPolicyEvaluator`): a target it blocks for
   * placement is not eligible; other blocks (a closed window, a missing approval) are noted,
   * since they pass with time.
   */
  readonly decide?: (target: Target) => PolicyDecision;
}

const HEALTH_RANK: Readonly<Record<string, number>> = {
  healthy: 0,
  progressing: 1,
  unknown: 2,
  degraded: 3,
  missing: 4,
};

function order(a: Target, b: Target): number {
  const health =
    (HEALTH_RANK[a.observed?.health ?? 'unknown'] ?? 2) - (HEALTH_RANK[b.observed?.health ?? 'unknown'] ?? 2);
  if (health !== 0) return health;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Chooses targets for a placement request, deterministically: eligible targets (active,
 * satisfying the requirements from their properties and facts, allowed by placement policy)
 * grouped by region, each region ordered healthy first then by name, at most `perRegion` from
 * each, and at most `count` in all, taken round-robin across regions in name order.
 * Every target gets an explanation.
 */
export function choosePlacement(
  request: PlacementRequest,
  targets: readonly Target[],
  options: PlacementOptions = {},
): PlacementChoice {
  const requirements = compileRequirements(request.requirements);
  const why = new Map<string, string>();
  const later = new Map<string, string>();
  const groups = new Map<string, Target[]>();
  for (const target of targets) {
    if (target.status !== 'active') {
      why.set(target.id, `not chosen: the target is ${target.status}`);
      continue;
    }
    const unmet = requirements.check(target);
    const decision = options.decide?.(target);
    const blocks = decision === undefined || decision.included ? [] : decision.reasons;
    const placement = [...unmet, ...blocks.filter((reason) => reason.kind === 'placement' || reason.kind === 'target')];
    if (placement.length > 0) {
      why.set(
        target.id,
        `not chosen: ${placement.map((reason) => (reason.policy === undefined ? reason.message : `${reason.message} (policy ${reason.policy})`)).join('; ')}`,
      );
      continue;
    }
    const waiting = blocks.filter((reason) => reason.kind !== 'placement' && reason.kind !== 'target');
    if (waiting.length > 0)
      later.set(target.id, `; it will wait: ${waiting.map((reason) => reason.message).join('; ')}`);
    const region = targetRegion(target);
    if (region === undefined && request.perRegion !== undefined) {
      why.set(target.id, 'not chosen: the target has no region, and per-region spreads by region');
      continue;
    }
    const key = region ?? '';
    groups.set(key, [...(groups.get(key) ?? []), target]);
  }
  const regions = [...groups.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a < b ? -1 : a > b ? 1 : 0));
  const queues = regions.map((region) => {
    const members = (groups.get(region) as Target[]).sort(order);
    const kept = request.perRegion === undefined ? members : members.slice(0, request.perRegion);
    for (const dropped of members.slice(kept.length))
      why.set(
        dropped.id,
        `not chosen: eligible, but ${region} already has ${request.perRegion} (per-region=${request.perRegion})`,
      );
    return { region, kept };
  });
  const chosen: Target[] = [];
  const limit = request.count ?? Number.POSITIVE_INFINITY;
  for (let round = 0; chosen.length < limit; round++) {
    let any = false;
    for (const queue of queues) {
      const next = queue.kept[round];
      if (next === undefined || chosen.length >= limit) continue;
      any = true;
      chosen.push(next);
      const rank = round + 1;
      why.set(
        next.id,
        `chosen: ${rank === 1 ? '1st' : rank === 2 ? '2nd' : rank === 3 ? '3rd' : `${rank}th`} in ${queue.region === '' ? 'no region' : queue.region}${later.get(next.id) ?? ''}`,
      );
    }
    if (!any) break;
  }
  const picked = new Set(chosen.map((target) => target.id));
  for (const queue of queues) {
    for (const target of queue.kept)
      if (!picked.has(target.id)) why.set(target.id, `not chosen: eligible, but count=${request.count} was reached`);
  }
  const byRegion = [...chosen].sort(
    (a, b) => regions.indexOf(targetRegion(a) ?? '') - regions.indexOf(targetRegion(b) ?? '') || order(a, b),
  );
  return {
    chosen: byRegion.map((target) => target.id),
    explanations: targets.map((target) => {
      const region = targetRegion(target);
      return {
        targetId: target.id,
        name: target.name,
        ...(region === undefined ? {} : { region }),
        chosen: picked.has(target.id),
        reason: why.get(target.id) as string,
      };
    }),
  };
}
