import type { ReleaseRef, Target, TargetStatus } from '@flotilla/protocol';
import type { MemberState } from '@flotilla/protocol/api';

export interface MemberFacts {
  readonly release: ReleaseRef;
  /** The generation whose envelope first carried the release for this target. */
  readonly generation: number;
  /** False while the member waits for the batch that signs its envelope (`generation` is not known yet). */
  readonly issued: boolean;
  readonly status: TargetStatus;
  readonly desired: readonly ReleaseRef[];
  /** The target's latest report (the hub keeps the one with the highest seq). */
  readonly observed: Target['observed'];
  readonly previous: ReleaseRef | null;
  readonly rolledBackGeneration: number | null;
}

export interface ClassifiedMember {
  readonly state: MemberState;
  /** For `applied` and `failed` (and healthy): the report names the digest at the right generation. */
  readonly applied: boolean;
  readonly reason?: string;
}

/**
 * Classifies a member from its recorded generation and the target's latest report. Applied
 * means the agent's signed report names the exact release digest for a generation at least
 * the one that carries it, so a report about an older generation (stale health) never
 * counts, whatever it says.
 */
export function classifyMember(facts: MemberFacts): ClassifiedMember {
  const { observed, release } = facts;
  if (facts.rolledBackGeneration !== null) {
    const reverted =
      observed !== null &&
      observed.generation >= facts.rolledBackGeneration &&
      observed.phase === 'applied' &&
      observed.bundles.find((b) => b.name === release.name)?.digest === facts.previous?.digest;
    return { state: reverted ? 'reverted' : 'reverting', applied: false };
  }
  if (facts.status !== 'active') return { state: 'blocked', applied: false, reason: `the target is ${facts.status}` };
  if (!facts.issued) return { state: 'pending', applied: false };
  const desired = facts.desired.find((b) => b.name === release.name);
  if (desired?.digest !== release.digest) {
    return {
      state: 'blocked',
      applied: false,
      reason: `its release ${release.name} was changed outside this rollout (now ${desired === undefined ? 'none' : `${desired.name}@${desired.version}`})`,
    };
  }
  if (observed === null || observed.generation < facts.generation) return { state: 'pending', applied: false };
  if (observed.phase === 'failed' || observed.phase === 'stalled')
    return {
      state: 'failed',
      applied: false,
      reason: `the agent reported generation ${observed.generation} ${observed.phase}`,
    };
  const carries = observed.bundles.some((b) => b.digest === release.digest);
  if (observed.phase !== 'applied' || !carries) return { state: 'pending', applied: false };
  switch (observed.health) {
    case 'healthy':
      return { state: 'healthy', applied: true };
    case 'degraded':
    case 'missing':
      return { state: 'failed', applied: true, reason: `applied, but its health is ${observed.health}` };
    default:
      return { state: 'applied', applied: true };
  }
}
