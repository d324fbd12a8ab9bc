/**
 * What a policy decision says about one target: included, or blocked with every reason. The
 * hub records it at plan time, `flotilla rollout plan` prints it, and the agent reports the
 * first reason of a refusal at apply time.
 */

/** Which kind of rule blocked: see docs/policy.md. */
export type BlockKind = 'target' | 'placement' | 'artifact' | 'approval' | 'window';

export interface BlockReason {
  readonly kind: BlockKind;
  /** The rule, as its path in the policy (`approvals.required`) or the release (`requirements.capabilities`). */
  readonly rule: string;
  /** The policy that said so, as `name@version` (or just the name when unversioned); absent for the release's own requirements and the target's status. */
  readonly policy?: string;
  readonly message: string;
  /** For a closed window: when it next opens (ISO 8601, UTC); absent when it does not within two years. */
  readonly nextOpening?: string;
}

/** The answer for one target. `policies` names every policy whose scope matched it, in name order. */
export type PolicyDecision =
  | { readonly included: true; readonly policies: readonly string[]; readonly overrides?: readonly string[] }
  | {
      readonly included: false;
      readonly policies: readonly string[];
      readonly reasons: readonly BlockReason[];
      readonly overrides?: readonly string[];
    };
