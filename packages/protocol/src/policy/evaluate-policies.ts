import type { Target } from '../documents/target.ts';
import type { Query, QueryField } from '../query/ast.ts';
import { compileMatcher } from '../query/evaluate.ts';
import { nowMillis } from '../query/plan-query.ts';
import { fieldReader, storedFieldName, type FieldValue } from '../query/target-fields.ts';
import type { VerifiedApprovals } from './approval.ts';
import type { BlockReason, PolicyDecision } from './block-reason.ts';
import { compileSchedule, type CompiledSchedule } from './change-window.ts';
import { checkArtifacts } from './check-artifacts.ts';
import { compileRequirements, type CompiledRequirements } from './check-requirements.ts';
import { checkApprovals, checkPlacement, checkWindows, windowsNeedTargetZone } from './check-rules.ts';
import type { ReleaseFacts } from './inspect-release.ts';
import { policyScope } from './parse-policy.ts';
import { policyRef, type Policy } from './policy-document.ts';
import { targetTimeZone } from './target-traits.ts';
import { isTimeZone } from './lib/zone-time.ts';

/** What a rollout brings to every decision: the same for all its targets. */
export interface RolloutContext {
  readonly release: ReleaseFacts;
  /** The rollout's author, never an approver of it. */
  readonly author: string;
  /** `approve` approvals, verified for this rollout and release (see `verifyApprovals`). */
  readonly approvals: VerifiedApprovals;
  /** `override-window` approvals, verified likewise; none when absent. */
  readonly overrides?: VerifiedApprovals;
  readonly now: Date | number;
}

const NO_APPROVALS: VerifiedApprovals = { accepted: [], refused: [] };

/** Fields whose values are (nearly) unique per target: a scope reading one is matched per target. */
function isPerTarget(field: QueryField): boolean {
  return (
    field.kind === 'builtin' &&
    (field.name === 'id' ||
      field.name === 'name' ||
      field.name === 'lastSeen' ||
      field.name === 'lastChanged' ||
      field.name === 'enrolled')
  );
}

function fieldsOf(query: Query, out: QueryField[] = []): QueryField[] {
  switch (query.kind) {
    case 'and':
    case 'or':
      for (const item of query.items) fieldsOf(item, out);
      return out;
    case 'not':
      return fieldsOf(query.item, out);
    default:
      out.push(query.field);
      return out;
  }
}

type KeyReader = (target: Target) => string;

/**
 * The values of one field of a target, as one string: equal strings, equal answers. A single
 * text value is itself (most fields hold one), anything else is tagged with its types.
 */
function keyReader(field: QueryField): KeyReader {
  if (field.kind === 'builtin' && field.name === 'status') return (target) => target.status;
  const read = fieldReader(storedFieldName(field) as string);
  return (target) => {
    let key: string | undefined;
    let count = 0;
    read(target, (value: FieldValue) => {
      if (count === 0 && typeof value === 'string' && !value.startsWith('\u0002')) {
        key = value;
      } else {
        const tagged = `${typeof value === 'number' ? '\u0002n' : typeof value === 'boolean' ? '\u0002b' : '\u0002s'}${String(value)}`;
        key = `${count === 1 && key !== undefined && !key.startsWith('\u0002') ? `\u0002s${key}` : (key ?? '')}${tagged}`;
      }
      count++;
      return false;
    });
    return key ?? '\u0002';
  };
}

const fieldName = (field: QueryField): string =>
  storedFieldName(field) ?? `builtin.${(field as { name: string }).name}`;

interface CompiledPolicy {
  readonly policy: Policy;
  readonly ref: string;
  readonly matches: (target: Target) => boolean;
  readonly needsZone: boolean;
  readonly index: number;
  /** Reasons that do not depend on the target: placement, artifacts, approvals. */
  fixed?: BlockReason[];
  readonly schedules: Map<string, CompiledSchedule>;
  readonly windowResults: Map<string, { reasons: BlockReason[]; overridden: boolean }>;
}

/**
 * Policies whose scopes read the same fields: which of them match depends only on those
 * fields' values, so it is cached once per combination of values.
 */
interface ScopeGroup {
  readonly fields: readonly number[];
  readonly members: CompiledPolicy[];
  readonly answers: Map<number | string, GroupAnswer>;
}

/** Which members of a group matched, under an id shared by every equal set. */
interface GroupAnswer {
  readonly id: number;
  readonly matched: readonly CompiledPolicy[];
  readonly needsZone: boolean;
}

interface DecisionNode {
  readonly next: Map<number, DecisionNode>;
  readonly decisions: Map<string, PolicyDecision>;
}

/** One planned target: its id and the decision. Decisions of targets that cannot differ are one shared object. */
export interface PlannedTarget {
  readonly targetId: string;
  readonly decision: PolicyDecision;
}

/** Evaluates a set of policies for one rollout, over any number of targets. */
export interface PolicyEvaluator {
  /** The decision for one target. */
  evaluate(target: Target): PolicyDecision;
  /** The decisions for many targets, in their order. */
  plan(targets: Iterable<Target>): PlannedTarget[];
  /** How many distinct decisions were computed so far (the rest came from the cache). */
  readonly computed: number;
}

/**
 * Compiles policies for one rollout. Each scope is compiled once; a target's decision depends
 * only on the values of the fields the scopes read, on what the release's requirements read,
 * on its status and (when a matching policy's windows take it) its time zone, so targets
 * alike in those share one computed decision. Reasons that do not depend on the target at all
 * (placement by class, artifacts, approvals) are computed once per policy. This is what makes
 * a plan over 100,000 targets and 50 policies take well under a second.
 *
 * Several policies may match one target: every rule of every matching policy must pass, so
 * the strictest wins (approvals: each policy's count from its approvers; windows: all open;
 * registries: every list must allow the image), and each reason names its policy.
 *
 * @throws TypeError when two policies share a name: the store keeps one version of each live.
 */
export function createPolicyEvaluator(policies: readonly Policy[], context: RolloutContext): PolicyEvaluator {
  const now = nowMillis(context.now);
  const sorted = [...policies].sort((a, b) =>
    a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0,
  );
  sorted.forEach((policy, index) => {
    if (index > 0 && sorted[index - 1]!.metadata.name === policy.metadata.name)
      throw new TypeError(`createPolicyEvaluator: two policies are named ${policy.metadata.name}`);
  });
  const fieldNames: string[] = [];
  const readers: KeyReader[] = [];
  const groups = new Map<string, ScopeGroup>();
  const perTarget: CompiledPolicy[] = [];
  for (const [index, policy] of sorted.entries()) {
    const scope = policyScope(policy);
    const fields = fieldsOf(scope);
    const entry: CompiledPolicy = {
      policy,
      index,
      ref: policyRef(policy),
      matches: compileMatcher(scope, { now }),
      needsZone: policy.spec.windows !== undefined && windowsNeedTargetZone(policy.spec.windows),
      schedules: new Map(),
      windowResults: new Map(),
    };
    if (fields.some(isPerTarget)) {
      perTarget.push(entry);
      continue;
    }
    const positions = [
      ...new Set(
        fields.map((field) => {
          const name = fieldName(field);
          let position = fieldNames.indexOf(name);
          if (position < 0) {
            position = fieldNames.push(name) - 1;
            readers.push(keyReader(field));
          }
          return position;
        }),
      ),
    ].sort((a, b) => a - b);
    const id = positions.join(',');
    const group: ScopeGroup = groups.get(id) ?? { fields: positions, members: [], answers: new Map() };
    group.members.push(entry);
    groups.set(id, group);
  }
  const scopeGroups = [...groups.values()];
  // Values are interned per field, so a group's answer is cached under small numbers.
  const interned = readers.map(() => new Map<string, number>());
  const ids = new Array<number>(readers.length).fill(0);
  // Equal sets of matching policies get one id, whichever values led to them.
  const matchedSets = new Map<string, number>();
  const answers: GroupAnswer[] = [];
  // Decisions by the ids of the matching sets, walked as a tree so no key string is built for them.
  const decisionTree: DecisionNode = { next: new Map(), decisions: new Map() };
  const step = (node: DecisionNode, id: number): DecisionNode => {
    let next = node.next.get(id);
    if (next === undefined) {
      next = { next: new Map(), decisions: new Map() };
      node.next.set(id, next);
    }
    return next;
  };
  const requirements: CompiledRequirements = compileRequirements(context.release.requirements);
  const overrides = context.overrides ?? NO_APPROVALS;
  let computed = 0;

  const fixedReasons = (entry: CompiledPolicy): BlockReason[] => {
    if (entry.fixed === undefined) {
      const { placement, artifacts, approvals } = entry.policy.spec;
      entry.fixed = [
        ...(placement === undefined
          ? []
          : checkPlacement(placement, context.release.requirements?.workloadClass, entry.ref)),
        ...(artifacts === undefined ? [] : checkArtifacts(artifacts, context.release, entry.ref)),
        ...(approvals === undefined ? [] : checkApprovals(approvals, context.approvals, entry.ref)),
      ];
    }
    return entry.fixed;
  };

  const windowResult = (
    entry: CompiledPolicy,
    zone: string | undefined,
  ): { reasons: BlockReason[]; overridden: boolean } => {
    const rules = entry.policy.spec.windows!;
    const key = entry.needsZone ? (zone ?? '') : '';
    let result = entry.windowResults.get(key);
    if (result === undefined) {
      const resolved = rules.timezone ?? (entry.needsZone ? zone : undefined);
      let schedule: CompiledSchedule | undefined;
      if (resolved === undefined ? !entry.needsZone : rules.timezone !== undefined || isTimeZone(resolved)) {
        schedule = entry.schedules.get(key) ?? compileSchedule(rules, resolved);
        entry.schedules.set(key, schedule);
      }
      result = checkWindows(rules, resolved, now, overrides, entry.ref, schedule);
      entry.windowResults.set(key, result);
    }
    return result;
  };

  const decide = (target: Target, matched: readonly CompiledPolicy[]): PolicyDecision => {
    computed++;
    const reasons: BlockReason[] = [];
    const overridden: string[] = [];
    if (target.status !== 'active')
      reasons.push({ kind: 'target', rule: 'status', message: `the target is ${target.status}` });
    reasons.push(...requirements.check(target));
    const zone = targetTimeZone(target);
    for (const entry of matched) {
      reasons.push(...fixedReasons(entry));
      if (entry.policy.spec.windows !== undefined) {
        const result = windowResult(entry, zone);
        reasons.push(...result.reasons);
        if (result.overridden) overridden.push(`window:${entry.ref}`);
      }
    }
    const names = matched.map((entry) => entry.ref);
    const extra = overridden.length === 0 ? {} : { overrides: overridden };
    return reasons.length === 0
      ? { included: true, policies: names, ...extra }
      : { included: false, policies: names, reasons, ...extra };
  };

  const answerKey = (fields: readonly number[]): number | string => {
    if (fields.length === 1) return ids[fields[0]!]!;
    if (fields.length <= 3) {
      let key = 0;
      let small = true;
      for (const field of fields) {
        const id = ids[field]!;
        small &&= id < 65_536;
        key = key * 65_536 + id;
      }
      if (small) return key;
    }
    return fields.map((field) => ids[field]).join(',');
  };

  const evaluate = (target: Target): PolicyDecision => {
    for (let i = 0; i < readers.length; i++) {
      const value = readers[i]!(target);
      const values = interned[i]!;
      let id = values.get(value);
      if (id === undefined) {
        id = values.size;
        values.set(value, id);
      }
      ids[i] = id;
    }
    let answered = 0;
    let node = decisionTree;
    let needsZone = false;
    for (const group of scopeGroups) {
      const key = answerKey(group.fields);
      let answer = group.answers.get(key);
      if (answer === undefined) {
        const members = group.members.filter((entry) => entry.matches(target));
        const identity = members.map((entry) => entry.index).join(',');
        let id = matchedSets.get(identity);
        if (id === undefined) {
          id = matchedSets.size;
          matchedSets.set(identity, id);
        }
        answer = { id, matched: members, needsZone: members.some((entry) => entry.needsZone) };
        group.answers.set(key, answer);
      }
      if (answer.matched.length > 0) {
        answers[answered++] = answer;
        node = step(node, answer.id);
        needsZone ||= answer.needsZone;
      }
    }
    let own: CompiledPolicy[] | undefined;
    for (const entry of perTarget) {
      if (entry.matches(target)) {
        (own ??= []).push(entry);
        node = step(node, -1 - entry.index);
        needsZone ||= entry.needsZone;
      }
    }
    const key = `${requirements.key(target)}\u0003${target.status}\u0003${needsZone ? (targetTimeZone(target) ?? '') : ''}`;
    let decision = node.decisions.get(key);
    if (decision === undefined) {
      const matched = [...answers.slice(0, answered).flatMap((answer) => answer.matched), ...(own ?? [])].sort(
        (a, b) => a.index - b.index,
      );
      decision = decide(target, matched);
      node.decisions.set(key, decision);
    }
    return decision;
  };

  return {
    evaluate,
    plan: (targets) => {
      const out: PlannedTarget[] = [];
      for (const target of targets) out.push({ targetId: target.id, decision: evaluate(target) });
      return out;
    },
    get computed() {
      return computed;
    },
  };
}
