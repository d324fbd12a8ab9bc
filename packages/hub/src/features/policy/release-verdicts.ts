import type { ReleaseRef } from '@flotilla/protocol';
import type { ReleasePolicyVerdict } from '@flotilla/protocol/api';
import { checkArtifacts, policyRef } from '@flotilla/protocol/policy';
import type { LivePolicies, PolicyPlanner } from './policy-planner.ts';

export interface ReleaseVerdictsDeps {
  readonly policies: LivePolicies;
  readonly planner: Pick<PolicyPlanner, 'releaseFacts'>;
}

/**
 * How each live policy's artifact rules judge a release, whatever its targets: answered when
 * it is published and shown by `flotilla release show`. A release has no scope until it is
 * rolled out, and a policy governs only the targets in its own, so a refusal here is a warning;
 * rollouts block the targets whose policies refuse it (docs/policy.md).
 */
export class ReleaseVerdicts {
  private readonly deps: ReleaseVerdictsDeps;

  constructor(deps: ReleaseVerdictsDeps) {
    this.deps = deps;
  }

  verdicts(release: ReleaseRef): ReleasePolicyVerdict[] {
    const withRules = this.deps.policies.live().filter((policy) => policy.spec.artifacts !== undefined);
    if (withRules.length === 0) return [];
    const facts = this.deps.planner.releaseFacts(release);
    return withRules.map((policy) => {
      const ref = policyRef(policy);
      const reasons = checkArtifacts(policy.spec.artifacts!, facts, ref);
      return {
        policy: ref,
        scope: policy.spec.scope,
        allowed: reasons.length === 0,
        reasons: reasons.map((reason) => ({ rule: reason.rule, message: reason.message })),
      };
    });
  }
}
