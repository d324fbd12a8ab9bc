import { hash } from 'node:crypto';

/** Positions are 52-bit integers: exact in a JS number and in an SQLite INTEGER. */
export const POSITION_SPACE = 2 ** 52;

/**
 * Where a target stands in a rollout's order: the first 52 bits of
 * sha256(rollout id, target id). The order is fixed for the rollout's life and independent
 * of every other target, so a target that enrolls later slots in without moving anyone, and
 * two rollouts order the fleet differently (the same clusters are not always first).
 */
export function wavePosition(rolloutId: string, targetId: string): number {
  // The one-shot hash: half the cost of a Hash object per target, over an 18,000-target selection.
  return Number.parseInt(hash('sha256', `${rolloutId}\n${targetId}`, 'hex').slice(0, 13), 16);
}

/**
 * The cut-off of a percentage wave over the selected targets' positions: a target belongs to
 * the wave when its position is at most the cut-off. Taken when the wave starts, it makes the
 * wave exactly the first ⌈percent × N⌉ targets in rollout order (at least one when N > 0);
 * kept from then on, it places targets that appear later by their own position, so each wave
 * keeps about its share of a growing fleet and nobody moves between waves.
 *
 * 100% is everything, always. An empty fleet gets the proportional cut-off.
 */
export function percentCutoff(positions: readonly number[], percent: number): number {
  if (percent >= 100) return POSITION_SPACE;
  const basisPoints = Math.round(percent * 100);
  const n = positions.length;
  // Integer arithmetic: ceil(bp × n / 10000) without floating-point surprises.
  const k = Math.floor((basisPoints * n + 9999) / 10000);
  if (k === 0) return Math.floor((basisPoints * POSITION_SPACE) / 10000) - 1;
  return kthSmallest(positions, k);
}

/** The k-th smallest value (1-based). */
function kthSmallest(values: readonly number[], k: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[k - 1]!;
}

/** What decides membership of one wave. */
export type WaveCriterion =
  | { readonly kind: 'percent'; readonly cutoff: number }
  | { readonly kind: 'selector'; readonly matches: ReadonlySet<string> };

/**
 * The first wave (index) whose criterion includes the target, or undefined when no wave
 * does. Waves are cumulative: a target in wave 2 is also in every later wave's set.
 */
export function firstWave(targetId: string, position: number, criteria: readonly WaveCriterion[]): number | undefined {
  for (let i = 0; i < criteria.length; i++) {
    const criterion = criteria[i]!;
    if (criterion.kind === 'percent' ? position <= criterion.cutoff : criterion.matches.has(targetId)) return i;
  }
  return undefined;
}

/**
 * Memo of positions per rollout: derived from ids alone, so it is never stale and never
 * needs to survive a restart.
 */
export class PositionCache {
  private readonly byRollout = new Map<string, Map<string, number>>();

  position(rolloutId: string, targetId: string): number {
    let positions = this.byRollout.get(rolloutId);
    if (positions === undefined) {
      positions = new Map();
      this.byRollout.set(rolloutId, positions);
    }
    let position = positions.get(targetId);
    if (position === undefined) {
      position = wavePosition(rolloutId, targetId);
      positions.set(targetId, position);
    }
    return position;
  }

  forget(rolloutId: string): void {
    this.byRollout.delete(rolloutId);
  }
}
