import { canonicalize, type Envelope } from '@flotilla/protocol';
import type { SyncPhase } from './sync-status.ts';

/**
 * What a verified envelope asks of the agent:
 * - `re-sign-only`: the state in place, signed again (a newer expiry): keep the new signature,
 *   change nothing, report nothing;
 * - `rules-only`: a new generation of the releases in place (holds, drift policy or revert
 *   requests changed): apply nothing, look at drift again under the new rules, report;
 * - `apply`: releases that are not in place yet: apply them, then look at drift, report.
 */
export type PassDecision = 're-sign-only' | 'rules-only' | 'apply';

/**
 * Decides a pass from the envelope last applied (undefined before the first apply), the one
 * just verified, and how the last pass ended. Only a pass that ended `applied` proves the state
 * in place, so only then is a same-state envelope a mere re-signing; after a failed apply the
 * target may hold half of another release, so the releases are applied again even when they
 * equal the ones last applied.
 */
export function decidePass(applied: Envelope | undefined, next: Envelope, phase: SyncPhase): PassDecision {
  if (applied === undefined || phase === 'failed') return 'apply';
  const sameReleases = canonicalize(applied.bundles) === canonicalize(next.bundles);
  if (!sameReleases) return 'apply';
  const sameState = applied.generation === next.generation && canonicalize(applied.holds) === canonicalize(next.holds);
  return sameState && phase === 'applied' ? 're-sign-only' : 'rules-only';
}
