import {
  keysWithRole,
  type Actor,
  type ReleaseRef,
  type SignedBundle,
  type Target,
  type TrustRoot,
} from '@flotilla/protocol';
import type { PolicyPlan, PlannedTargetView } from '@flotilla/protocol/api';
import { AUDIT_MAX_SUBJECTS } from '@flotilla/protocol/audit';
import {
  choosePlacement,
  createPolicyEvaluator,
  importAttestationKeys,
  inspectRelease,
  parsePlacementRequest,
  type Attestation,
  policyRef,
  type Policy,
  type PolicyDecision,
  type PolicyEvaluator,
  type ReleaseFacts,
  type VerifiedApprovals,
} from '@flotilla/protocol/policy';
import { formatQuery, type Query } from '@flotilla/protocol/query';
import { appendInParts } from '../../append-in-parts.ts';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import { planFromIndex, type PlanIndex } from './index-plan.ts';

/** The live policies (this feature's service). */
export interface LivePolicies {
  live(): readonly Policy[];
}

/** Published releases (the bundles feature). */
export interface PlanReleases {
  resolveRelease(ref: string): ReleaseRef;
  signed(digest: string): SignedBundle;
  /** The provenance attestations stored with a release. */
  attestationsOf(digest: string): Attestation[];
}

/** The fleet: its in-memory index, and target records (the targets feature). */
export interface PlanFleet {
  /** The targets a fleet query selects, whole: for placement, which reads every candidate. */
  selectTargets(query: Query | undefined, now: number): Target[];
  index(): PlanIndex;
  /** These targets' records, in id order. */
  records(ids: readonly string[]): Target[];
}

/** The trust root in force (the identity feature). */
export interface PlanTrust {
  readonly trustRoot: TrustRoot;
}

export interface PolicyPlannerDeps {
  readonly tx: Transactions;
  readonly policies: LivePolicies;
  readonly releases: PlanReleases;
  readonly fleet: PlanFleet;
  readonly trust: PlanTrust;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/** What one plan is asked about. */
export interface PlanInput {
  readonly release: string;
  /** The targets to consider, or undefined for all; with `place`, the candidates. */
  readonly selector: Query | undefined;
  /** A placement request (`class=payments, capability=pci-dss, per-region=2`): pick targets from requirements. */
  readonly place?: string;
  readonly author: Actor;
  /** The rollout the plan is for, whose approvals count; absent before one exists. */
  readonly rolloutId?: string;
  readonly approvals?: VerifiedApprovals;
  readonly overrides?: VerifiedApprovals;
  /** Most targets listed in the answer. */
  readonly limit: number;
  /** Record every blocked target in the audit trail (plans an operator asked for, and rollouts). */
  readonly audit: boolean;
}

/** A plan with every decision, for callers that act on it (rollouts) as well as the API's answer. */
export interface EvaluatedPlan {
  readonly view: PolicyPlan;
  readonly decisions: ReadonlyMap<string, PolicyDecision>;
  /** For `place`: the chosen targets' ids. */
  readonly chosen?: readonly string[];
}

const NO_APPROVALS: VerifiedApprovals = { accepted: [], refused: [] };

function plannedView(
  targetId: string,
  name: string,
  decision: PolicyDecision,
  placement: string | undefined,
): PlannedTargetView {
  return {
    targetId,
    name,
    included: decision.included,
    policies: [...decision.policies],
    reasons: decision.included ? [] : decision.reasons.map((reason) => ({ ...reason })),
    ...(decision.overrides === undefined ? {} : { overrides: [...decision.overrides] }),
    ...(placement === undefined ? {} : { placement }),
  };
}

/**
 * Plans a rollout under the live policies (docs/policy.md): the release is inspected once
 * (signatures by the trust root's release keys, images, requirements), every policy is
 * evaluated for every selected target by `createPolicyEvaluator`, and each target is
 * included or blocked with every reason and the policy that gave it. With `place`, targets
 * are chosen from requirements by `choosePlacement`, policy placement blocks included.
 */
export class PolicyPlanner {
  private readonly deps: PolicyPlannerDeps;
  private releaseCache: { key: string; facts: ReleaseFacts } | undefined;

  constructor(deps: PolicyPlannerDeps) {
    this.deps = deps;
  }

  /**
   * The release's facts, checked once per digest, trust root version and set of attestations:
   * its attestations are verified again against the attestation keys of the trust root in force.
   */
  releaseFacts(release: ReleaseRef): ReleaseFacts {
    const root = this.deps.trust.trustRoot;
    const attestations = this.deps.releases.attestationsOf(release.digest);
    const key = `${release.digest}@${root.version}#${attestations.length}`;
    if (this.releaseCache?.key !== key) {
      const facts = inspectRelease(this.deps.releases.signed(release.digest), attestations, {
        releaseKeys: keysWithRole(root, 'release'),
        attestationKeys: importAttestationKeys(root.attestationKeys ?? []),
      });
      this.releaseCache = { key, facts };
    }
    return this.releaseCache.facts;
  }

  plan(input: PlanInput): EvaluatedPlan {
    const now = this.deps.clock();
    const release = this.deps.releases.resolveRelease(input.release);
    const policies = this.deps.policies.live();
    const evaluator = createPolicyEvaluator(policies, {
      release: this.releaseFacts(release),
      author: input.author.id,
      approvals: input.approvals ?? NO_APPROVALS,
      overrides: input.overrides ?? NO_APPROVALS,
      now,
    });
    if (input.place !== undefined) return this.planPlacement(input, release, policies, evaluator, now);
    const index = this.deps.fleet.index();
    const planned = planFromIndex({
      index,
      policies,
      requirements: this.releaseFacts(release).requirements,
      evaluator,
      selector: input.selector,
      now,
      records: (ids) => this.deps.fleet.records(ids),
    });
    const { slots, classes } = planned;
    const decisions = new Map<string, PolicyDecision>();
    const list: PlannedTargetView[] = [];
    let included = 0;
    const blockedBy = new Map<PolicyDecision, string[]>();
    for (let i = 0; i < slots.length; i++) {
      const id = index.idAt(slots[i]!);
      const decision = planned.decisions[classes[i]!]!;
      decisions.set(id, decision);
      if (decision.included) included++;
      else {
        const ids = blockedBy.get(decision);
        if (ids === undefined) blockedBy.set(decision, [id]);
        else ids.push(id);
      }
      if (list.length < input.limit) list.push(plannedView(id, index.nameAt(slots[i]!), decision, undefined));
    }
    return this.finish(input, release, policies, decisions, list, slots.length, included, blockedBy, undefined);
  }

  /** A plan that picks targets from requirements: placement reads every candidate's record. */
  private planPlacement(
    input: PlanInput,
    release: ReleaseRef,
    policies: readonly Policy[],
    evaluator: PolicyEvaluator,
    now: number,
  ): EvaluatedPlan {
    const candidates = this.deps.fleet.selectTargets(input.selector, now);
    const choice = choosePlacement(parsePlacementRequest(input.place!), candidates, {
      decide: (target) => evaluator.evaluate(target),
    });
    const placement = new Map<string, string>();
    for (const line of choice.explanations) placement.set(line.targetId, line.reason);
    const decisions = new Map<string, PolicyDecision>();
    const list: PlannedTargetView[] = [];
    let included = 0;
    const blockedBy = new Map<PolicyDecision, string[]>();
    for (const target of candidates) {
      const decision = evaluator.evaluate(target);
      decisions.set(target.id, decision);
      if (decision.included) included++;
      else {
        const ids = blockedBy.get(decision);
        if (ids === undefined) blockedBy.set(decision, [target.id]);
        else ids.push(target.id);
      }
      if (list.length < input.limit) list.push(plannedView(target.id, target.name, decision, placement.get(target.id)));
    }
    return this.finish(
      input,
      release,
      policies,
      decisions,
      list,
      candidates.length,
      included,
      blockedBy,
      choice.chosen,
    );
  }

  private finish(
    input: PlanInput,
    release: ReleaseRef,
    policies: readonly Policy[],
    decisions: Map<string, PolicyDecision>,
    list: PlannedTargetView[],
    selected: number,
    included: number,
    blockedBy: Map<PolicyDecision, string[]>,
    chosen: readonly string[] | undefined,
  ): EvaluatedPlan {
    const selector =
      chosen === undefined
        ? input.selector === undefined
          ? ''
          : formatQuery(input.selector)
        : `id in (${chosen.join(', ')})`;
    const view: PolicyPlan = {
      release,
      selector,
      policies: policies.map(policyRef),
      totals: { selected, included, blocked: selected - included },
      targets: list,
      truncated: list.length < selected,
    };
    if (input.audit && blockedBy.size > 0) this.recordBlocks(input, release, blockedBy);
    return { view, decisions, ...(chosen === undefined ? {} : { chosen }) };
  }

  /** One audit entry per distinct decision, naming its targets (in parts) and every reason. */
  private recordBlocks(input: PlanInput, release: ReleaseRef, blockedBy: Map<PolicyDecision, string[]>): void {
    this.deps.tx.run(() => {
      for (const [decision, ids] of blockedBy) {
        if (decision.included) continue;
        appendInParts(
          this.deps.audit,
          {
            actor: input.author,
            action: 'policy.block',
            outcome: 'refused',
            reason: decision.reasons[0]!.kind,
            details: {
              ...(input.rolloutId === undefined ? {} : { rollout: input.rolloutId }),
              release: `${release.name}@${release.version}`,
              digest: release.digest,
              policies: decision.policies,
              reasons: decision.reasons,
              targets: ids.length,
            },
          },
          ids,
          AUDIT_MAX_SUBJECTS,
        );
      }
    });
  }
}
