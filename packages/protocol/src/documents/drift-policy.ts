import { z } from 'zod';
import { digestOf } from '../crypto/digest.ts';
import { FlotillaError } from '../errors.ts';
import { DriftChange, DriftOperation, SecurityDetector } from './drift-vocabulary.ts';

/** What a drift item means: see docs/drift.md. */
export const DriftClass = z.enum(['acceptable', 'transient', 'suspicious', 'dangerous']);
export type DriftClass = z.infer<typeof DriftClass>;

/** What the agent does about it: keep the change, recheck later, report it, or re-apply desired. */
export const DriftAction = z.enum(['accept', 'wait', 'alert', 'revert']);
export type DriftAction = z.infer<typeof DriftAction>;

/** The action each class takes unless a rule names another. */
export const DEFAULT_ACTION: Readonly<Record<DriftClass, DriftAction>> = Object.freeze({
  acceptable: 'accept',
  transient: 'wait',
  suspicious: 'alert',
  dangerous: 'revert',
});

// eslint-disable-next-line no-control-regex -- the pattern exists to refuse control characters
const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f]*$/;
const Glob = z.string().min(1).max(256).regex(NO_CONTROL_CHARACTERS, 'a glob has no control characters');
const Globs = z.array(Glob).min(1).max(64);

/**
 * Conditions on the item's actor. They read `metadata.managedFields`, which the writing
 * client names itself, so they are hints: see the guard in {@link DriftRule}.
 */
const DriftActorMatch = z.strictObject({
  /** Name globs on the field manager: `kubectl-*`, `vpa-*`, `unknown`. */
  managers: Globs.optional(),
  operations: z.array(DriftOperation).min(1).max(3).optional(),
  /** Name globs on the subresource the write went through (`scale`); `''` for the object itself. */
  subresources: z.array(z.string().max(64)).min(1).max(16).optional(),
});

/** How long ago the actor's managedFields entry changed (its `time`). */
const DriftAgeMatch = z.strictObject({
  minSeconds: z.number().int().min(0).optional(),
  maxSeconds: z.number().int().min(0).optional(),
});

/** The situation the target is in when the item is classified. */
const DriftContextMatch = z.strictObject({
  /** Within `gracePeriodSeconds` of Flotilla's own last apply. */
  inGracePeriod: z.boolean().optional(),
  /** A rollout to this target (or this resource) is in flight. */
  rolloutInFlight: z.boolean().optional(),
  /** A hold is in force: from the envelope, or the resource's `flotilla.io/hold` annotation. */
  held: z.boolean().optional(),
});

/**
 * When a rule applies. Every condition given must hold; a list matches when any entry does; an
 * empty match applies to everything. Unknown keys are refused rather than dropped: an agent
 * that ignored a condition it does not know would apply the rule more widely than written.
 */
const DriftMatch = z.strictObject({
  /** Name globs on the resource kind: `Deployment`, `*Binding`. */
  kinds: Globs.optional(),
  /** Name globs on the resource key `Kind.group/namespace/name`: `Deployment.apps/prod/*`. */
  resources: Globs.optional(),
  /** Path globs on the field path: `spec.replicas`, `spec.template.spec.containers[*].image`, `**.securityContext.**`. */
  paths: Globs.optional(),
  changes: z.array(DriftChange).min(1).max(5).optional(),
  /** Matches items any of these built-in detectors flag. */
  detectors: z.array(SecurityDetector).min(1).max(16).optional(),
  /** `true`: only items some detector flags; `false`: only items none flags. */
  security: z.boolean().optional(),
  actor: DriftActorMatch.optional(),
  age: DriftAgeMatch.optional(),
  context: DriftContextMatch.optional(),
});
type DriftMatch = z.infer<typeof DriftMatch>;

/** A rule id: named in every decision and report, so short and stable. */
const DriftRuleId = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/, 'a rule id is 1-64 lowercase letters, digits and dashes');

/**
 * One rule: the first rule (in order) whose match holds decides the item's class and action.
 *
 * The guard: a rule whose match uses `actor`, `age` or `context.held` — facts any client that
 * can write the object can assert — is skipped for items a built-in detector flags when it
 * would make them silent (class acceptable or transient, or action accept or wait). Such a
 * rule may still raise them, or keep them at `alert`.
 */
export const DriftRule = z.strictObject({
  id: DriftRuleId,
  description: z.string().max(1024).optional(),
  match: DriftMatch,
  class: DriftClass,
  /** Defaults to the class's action: acceptable → accept, transient → wait, suspicious → alert, dangerous → revert. */
  action: DriftAction.optional(),
  /** Why, in words an operator reads next to the item; defaults to the description. */
  reason: z.string().max(512).optional(),
});
export type DriftRule = z.infer<typeof DriftRule>;

const gracePeriodSeconds = z.number().int().min(0).max(86_400);
const allowedRegistries = z.array(Glob).max(256);
const honorHoldAnnotation = z.boolean();

/**
 * Policy-wide settings, complete as they travel in an envelope.
 *
 * - `gracePeriodSeconds`: after Flotilla applies, changes are transient for this long
 *   (controllers and webhooks settling). Default 120.
 * - `allowedRegistries`: registries images may come from besides the desired image: hosts or
 *   `/`-bounded prefixes, as name globs (`ghcr.io/acme`, `*.dkr.ecr.*.amazonaws.com`).
 *   Default empty: only desired images.
 * - `honorHoldAnnotation`: whether the `flotilla.io/hold` annotation on a live object counts
 *   as a hold. Anyone who can edit the object can set it, so it only ever turns a revert into
 *   an alert. Default true.
 */
const DriftSettings = z.strictObject({ gracePeriodSeconds, allowedRegistries, honorHoldAnnotation });
type DriftSettings = z.infer<typeof DriftSettings>;

function checkRules(policy: { readonly rules: readonly DriftRule[] }, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  policy.rules.forEach((rule, index) => {
    if (seen.has(rule.id))
      ctx.addIssue({
        code: 'custom',
        path: ['rules', index, 'id'],
        message: `rule id ${rule.id} appears twice; ids name decisions in reports, so each is unique`,
      });
    seen.add(rule.id);
    const age = rule.match.age;
    if (age?.minSeconds !== undefined && age.maxSeconds !== undefined && age.minSeconds > age.maxSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['rules', index, 'match', 'age'],
        message: `minSeconds ${age.minSeconds} is above maxSeconds ${age.maxSeconds}, so the rule could never match`,
      });
    }
  });
}

/**
 * The drift rules shipped to an agent inside its signed envelope: complete, with every setting
 * present, so that parsing one is the identity and the bytes the hub signed are the bytes the
 * agent verifies. Write policies as {@link DriftPolicyInput} and turn them into this with
 * {@link parseDriftPolicy}.
 */
export const DriftPolicy = z
  .strictObject({
    rules: z.array(DriftRule).max(256),
    settings: DriftSettings,
  })
  .superRefine(checkRules);
export type DriftPolicy = z.infer<typeof DriftPolicy>;

/**
 * The content address of a drift policy, by which an envelope names it (`driftPolicyDigest`)
 * and the hub serves it (`GET /v1/drift-policies/{digest}`): the sha256 of its canonical JSON,
 * which is exactly the body served, so an agent checks the bytes it received against it.
 */
export function driftPolicyDigest(policy: DriftPolicy): string {
  return digestOf(policy);
}

/** A drift policy as an operator writes it: `settings`, and each setting, may be left out. */
export const DriftPolicyInput = z
  .strictObject({
    rules: z.array(DriftRule).max(256),
    settings: z
      .strictObject({
        gracePeriodSeconds: gracePeriodSeconds.default(120),
        allowedRegistries: allowedRegistries.default([]),
        honorHoldAnnotation: honorHoldAnnotation.default(true),
      })
      .default({ gracePeriodSeconds: 120, allowedRegistries: [], honorHoldAnnotation: true }),
  })
  .superRefine(checkRules);
export type DriftPolicyInput = z.input<typeof DriftPolicyInput>;

/**
 * Parses a drift policy as written (YAML or JSON), strictly, and fills in default settings.
 * Throws `DRIFT_POLICY_INVALID` naming each problem; an agent that gets one keeps its last
 * good policy.
 */
export function parseDriftPolicy(input: unknown): DriftPolicy {
  const result = DriftPolicyInput.safeParse(input);
  if (!result.success) {
    throw new FlotillaError(
      'DRIFT_POLICY_INVALID',
      `drift policy is invalid; fix these and ship it again:\n${z.prettifyError(result.error)}`,
      {
        issues: result.error.issues.map((issue) => ({
          path: issue.path.map(String).join('.'),
          message: issue.message,
        })),
      },
    );
  }
  return result.data;
}
