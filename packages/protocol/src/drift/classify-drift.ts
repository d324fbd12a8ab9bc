import type { Hold } from '../documents/envelope.ts';
import type { AttributedDriftItem, DriftActor } from './attribute-drift.ts';
import { compileDetectorSettings, detectSecurity, type DetectorSettings } from './detect-security.ts';
import type { DriftItem } from './drift-item.ts';
import {
  DEFAULT_ACTION,
  type DriftAction,
  type DriftClass,
  type DriftPolicy,
  type DriftRule,
} from '../documents/drift-policy.ts';
import { compileNameGlob, compilePathGlob, matchesAny, type GlobMatch } from './lib/path-glob.ts';
import type { SecurityDetector } from '../documents/drift-vocabulary.ts';

/** What the agent knows about its situation when it classifies. */
export interface DriftContext {
  /** The agent's clock: grace periods and ages are measured from it. */
  readonly now: Date;
  /** When Flotilla last applied to this target; starts the grace period. */
  readonly lastAppliedAt?: Date;
  /** `true` while a rollout to the target is in flight, or the keys of the resources still rolling. */
  readonly rolloutInFlight?: boolean | ReadonlySet<string>;
  /**
   * Holds in the envelope. Every hold the hub ships is in force: the hub drops a hold when it is
   * lifted, and an agent clock behind the hub's must not ignore a hold just declared.
   */
  readonly holds?: readonly Hold[];
}

/** A classified drift item: what it is, who did it, what it means, what to do, and why. */
export interface DriftDecision {
  readonly item: DriftItem;
  readonly actor: DriftActor;
  readonly since?: string;
  readonly class: DriftClass;
  readonly action: DriftAction;
  /** The rule that decided, or `builtin-security` / `builtin-default` when no rule matched. */
  readonly ruleId: string;
  readonly reason: string;
  /** The built-in detectors that flag the item as security-relevant. */
  readonly detectors: readonly SecurityDetector[];
  /** Set when a hold is in force: the change is reported as intentional and not reverted. */
  readonly intentional?: true;
  readonly holdId?: string;
  readonly holdSource?: 'envelope' | 'annotation';
  /** Rules that matched but were skipped by the guard (see {@link DriftRule}). */
  readonly guardedRules?: readonly string[];
}

/** The rule id of a security-relevant item no rule matched: it is dangerous and reverted. */
const BUILTIN_SECURITY_RULE = 'builtin-security';
/** The rule id of any other item no rule matched: it is suspicious and alerted. */
const BUILTIN_DEFAULT_RULE = 'builtin-default';

interface CompiledRule {
  readonly rule: DriftRule;
  readonly kinds: readonly GlobMatch[] | undefined;
  readonly resources: readonly GlobMatch[] | undefined;
  readonly paths: readonly GlobMatch[] | undefined;
  readonly managers: readonly GlobMatch[] | undefined;
  readonly subresources: readonly GlobMatch[] | undefined;
  readonly class: DriftClass;
  readonly action: DriftAction;
  /** The match reads facts any writer of the object can assert. */
  readonly reliesOnHints: boolean;
  /** The outcome hides the item: nothing is reverted and nobody is alerted. */
  readonly silences: boolean;
}

interface CompiledPolicy {
  readonly rules: readonly CompiledRule[];
  readonly detectors: DetectorSettings;
  readonly gracePeriodMs: number;
  readonly honorHoldAnnotation: boolean;
}

const compiledPolicies = new WeakMap<DriftPolicy, CompiledPolicy>();

function compileRule(rule: DriftRule): CompiledRule {
  const { match } = rule;
  const action = rule.action ?? DEFAULT_ACTION[rule.class];
  return {
    rule,
    kinds: match.kinds?.map(compileNameGlob),
    resources: match.resources?.map(compileNameGlob),
    paths: match.paths?.map(compilePathGlob),
    managers: match.actor?.managers?.map(compileNameGlob),
    subresources: match.actor?.subresources?.map(compileNameGlob),
    class: rule.class,
    action,
    reliesOnHints: match.actor !== undefined || match.age !== undefined || match.context?.held !== undefined,
    silences: rule.class === 'acceptable' || rule.class === 'transient' || action === 'accept' || action === 'wait',
  };
}

/** Compiles a policy's globs once; policies are treated as immutable values. */
function compilePolicy(policy: DriftPolicy): CompiledPolicy {
  let compiled = compiledPolicies.get(policy);
  if (compiled === undefined) {
    compiled = {
      rules: policy.rules.map(compileRule),
      detectors: compileDetectorSettings(policy.settings),
      gracePeriodMs: policy.settings.gracePeriodSeconds * 1000,
      honorHoldAnnotation: policy.settings.honorHoldAnnotation,
    };
    compiledPolicies.set(policy, compiled);
  }
  return compiled;
}

/** The facts about one item that rules match on. */
interface Facts {
  readonly attributed: AttributedDriftItem;
  readonly detectors: readonly SecurityDetector[];
  readonly inGracePeriod: boolean;
  readonly rolloutInFlight: boolean;
  readonly held: boolean;
  readonly ageSeconds: number | undefined;
}

function matches(compiled: CompiledRule, facts: Facts): boolean {
  const { match } = compiled.rule;
  const { item, actor } = facts.attributed;
  if (compiled.kinds !== undefined && !matchesAny(compiled.kinds, item.kind)) return false;
  if (compiled.resources !== undefined && !matchesAny(compiled.resources, item.resourceKey)) return false;
  if (compiled.paths !== undefined && !matchesAny(compiled.paths, item.path)) return false;
  if (match.changes !== undefined && !match.changes.includes(item.change)) return false;
  if (match.detectors !== undefined && !match.detectors.some((detector) => facts.detectors.includes(detector)))
    return false;
  if (match.security !== undefined && match.security !== facts.detectors.length > 0) return false;
  if (compiled.managers !== undefined && !matchesAny(compiled.managers, actor.manager)) return false;
  if (match.actor?.operations !== undefined && !match.actor.operations.includes(actor.operation)) return false;
  if (compiled.subresources !== undefined && !matchesAny(compiled.subresources, actor.subresource ?? '')) return false;
  if (match.age !== undefined) {
    if (facts.ageSeconds === undefined) return false;
    if (match.age.minSeconds !== undefined && facts.ageSeconds < match.age.minSeconds) return false;
    if (match.age.maxSeconds !== undefined && facts.ageSeconds > match.age.maxSeconds) return false;
  }
  const context = match.context;
  if (context !== undefined) {
    if (context.inGracePeriod !== undefined && context.inGracePeriod !== facts.inGracePeriod) return false;
    if (context.rolloutInFlight !== undefined && context.rolloutInFlight !== facts.rolloutInFlight) return false;
    if (context.held !== undefined && context.held !== facts.held) return false;
  }
  return true;
}

function describeActor(actor: DriftActor): string {
  if (actor.basis === 'none') return 'actor unknown';
  const via = actor.subresource === undefined ? '' : ` via ${actor.subresource}`;
  const guess = actor.basis === 'nearest-manager' ? ' (a guess: nobody owns a removed field)' : '';
  return `changed by ${actor.manager} (${actor.operation}${via})${guess}`;
}

/**
 * Classifies attributed drift items by a policy: the first rule whose match holds gives the
 * class and action; the decision names that rule and the reason. Then holds: while one is in
 * force (an envelope hold, or the `flotilla.io/hold` annotation when the policy honors it), a
 * `revert` or `alert` becomes `alert` with `intentional: true` and the hold's id.
 *
 * Manager names, operations and managedFields times are self-asserted by whoever writes the
 * object, so a rule that matches on them cannot make an item the built-in detectors flag
 * silent (acceptable or transient, accept or wait): it is skipped, recorded in
 * `guardedRules`, and the next rule decides.
 *
 * @example
 * const decisions = classifyDrift(attributeDrift(items, live), defaultDriftPolicy, { now: new Date(), holds: envelope.holds });
 */
export function classifyDrift(
  items: readonly AttributedDriftItem[],
  policy: DriftPolicy,
  context: DriftContext,
): DriftDecision[] {
  const compiled = compilePolicy(policy);
  const now = context.now.getTime();
  const inGracePeriod =
    context.lastAppliedAt !== undefined &&
    compiled.gracePeriodMs > 0 &&
    now - context.lastAppliedAt.getTime() < compiled.gracePeriodMs;
  const envelopeHold = context.holds?.[0];
  const rollout = context.rolloutInFlight;

  return items.map((attributed) => {
    const { item, actor, since, annotationHold } = attributed;
    const detectors = detectSecurity(item, compiled.detectors);
    let hold: { id: string; source: 'envelope' | 'annotation' } | undefined;
    if (envelopeHold !== undefined) hold = { id: envelopeHold.id, source: 'envelope' };
    else if (compiled.honorHoldAnnotation && annotationHold !== undefined)
      hold = { id: annotationHold.trim().slice(0, 128) || 'annotation', source: 'annotation' };
    const sinceMs = since === undefined ? Number.NaN : Date.parse(since);
    const facts: Facts = {
      attributed,
      detectors,
      inGracePeriod,
      rolloutInFlight: rollout === true || (rollout instanceof Set && rollout.has(item.resourceKey)),
      held: hold !== undefined,
      ageSeconds: Number.isNaN(sinceMs) ? undefined : Math.max(0, (now - sinceMs) / 1000),
    };

    let decided: CompiledRule | undefined;
    const guarded: string[] = [];
    for (const rule of compiled.rules) {
      if (!matches(rule, facts)) continue;
      if (detectors.length > 0 && rule.reliesOnHints && rule.silences) {
        guarded.push(rule.rule.id);
        continue;
      }
      decided = rule;
      break;
    }

    let klass: DriftClass;
    let action: DriftAction;
    let ruleId: string;
    let reason: string;
    if (decided !== undefined) {
      klass = decided.class;
      action = decided.action;
      ruleId = decided.rule.id;
      reason = decided.rule.reason ?? decided.rule.description ?? `matched rule ${ruleId}`;
    } else if (detectors.length > 0) {
      klass = 'dangerous';
      action = 'revert';
      ruleId = BUILTIN_SECURITY_RULE;
      reason = 'security-relevant and no rule decides it';
    } else {
      klass = 'suspicious';
      action = 'alert';
      ruleId = BUILTIN_DEFAULT_RULE;
      reason = 'no rule decides it';
    }
    const parts = [reason];
    if (detectors.length > 0) parts.push(`flagged by ${detectors.join(', ')}`);
    parts.push(describeActor(actor));
    if (guarded.length > 0)
      parts.push(
        `skipped ${guarded.join(', ')}: a rule matching on self-asserted facts (manager, operation, time, hold) may not silence a security-relevant change`,
      );

    const heldBack = hold !== undefined && (action === 'revert' || action === 'alert') ? hold : undefined;
    if (heldBack !== undefined) {
      parts.push(`hold ${heldBack.id} in force: not reverted, reported as intentional`);
      action = 'alert';
    }
    return {
      item,
      actor,
      ...(since === undefined ? {} : { since }),
      class: klass,
      action,
      ruleId,
      reason: parts.join('; '),
      detectors,
      ...(heldBack === undefined
        ? {}
        : { intentional: true as const, holdId: heldBack.id, holdSource: heldBack.source }),
      ...(guarded.length > 0 ? { guardedRules: guarded } : {}),
    };
  });
}
