import { z } from 'zod';
import { ApiVersion, Labels, Name } from '../documents/common.ts';
import { FreezeInput, TimeZoneName, WEEKDAYS, WindowInput, type Freeze, type Window } from './change-window.ts';

/**
 * The Policy document (docs/policy.md): a scope, a fleet query, and up to four sections of
 * rules for the targets it selects. Lists that are sets (registries, classes, globs) come out
 * sorted and without duplicates, so two documents that mean the same are equal and hash the
 * same (see `policyDigest`).
 */

/** Bounds on a policy, so that parsing and evaluating one stays cheap whatever a client sends. */
export const POLICY_LIMITS = {
  /** Bytes of YAML or JSON text. */
  maxDocumentBytes: 256 * 1024,
  /** Characters of the scope query. */
  maxScopeLength: 4096,
  /** Entries of any list. */
  maxListItems: 256,
  maxWindows: 64,
  maxFreezes: 128,
  maxApprovals: 16,
  maxSignatures: 64,
} as const;

// eslint-disable-next-line no-control-regex -- the pattern exists to refuse control characters
const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f]*$/;
const Glob = z.string().min(1).max(256).regex(NO_CONTROL_CHARACTERS, 'a glob has no control characters');
/** A workload class: what a release says it is (`payments`, `batch`, `gpu-training`). */
export const WorkloadClass = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/, 'a workload class is 1-64 lowercase letters, digits and dashes');
const KeyId = z.string().min(1).max(64);
const CommitId = z.string().regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, 'a commit is 40 or 64 lowercase hex digits');

function setOf<T extends z.ZodType<string>>(item: T, max: number = POLICY_LIMITS.maxListItems) {
  return z
    .array(item)
    .min(1)
    .max(max)
    .transform((items) => [...new Set(items)].sort() as z.output<T>[]);
}

function nonEmpty(section: object): boolean {
  return Object.values(section).some((value) => value !== undefined);
}
const EMPTY_SECTION = { message: 'an empty section enforces nothing; give it a rule or leave it out' };

/** Which workload classes targets in scope may run. */
export const PlacementRules = z
  .strictObject({
    /** Only these classes may run here. Several policies: a class must be in every list. */
    allowedClasses: setOf(WorkloadClass).optional(),
    /** These classes may not run here. */
    deniedClasses: setOf(WorkloadClass).optional(),
    /** A release that declares no workload class may not run here. */
    requireClass: z.boolean().optional(),
  })
  .refine(nonEmpty, EMPTY_SECTION);
export type PlacementRules = z.infer<typeof PlacementRules>;

/** Where the release must come from, per its verified provenance. */
export const ProvenanceRules = z.strictObject({
  /** Source repositories, as name globs on `host/owner/repo` (`github.com/acme/*`). */
  sourceRepositories: setOf(Glob).optional(),
  /** Builder identities (SLSA `builder.id`), as name globs. */
  builders: setOf(Glob).optional(),
  /** The only commits allowed. */
  commits: setOf(CommitId).optional(),
  /** Ids of the attestation keys whose signature counts; default: any key given to the verifier. */
  signers: setOf(KeyId).optional(),
});
export type ProvenanceRules = z.infer<typeof ProvenanceRules>;

/** What the release's artifacts must satisfy. */
export const ArtifactRules = z
  .strictObject({
    /** Registries images may come from: hosts or `/`-bounded prefixes, as name globs. Several policies: every list must allow the image. */
    allowedRegistries: setOf(Glob).optional(),
    /** Every image pinned by digest (`@sha256:…`). */
    requireDigests: z.boolean().optional(),
    /** Distinct release keys that must have signed the bundle. Several policies: the highest. */
    minSignatures: z.number().int().min(1).max(POLICY_LIMITS.maxSignatures).optional(),
    /** Provenance must be present, verified and match these lists (an empty object: present and verified). */
    provenance: ProvenanceRules.optional(),
  })
  .refine(nonEmpty, EMPTY_SECTION);
export type ArtifactRules = z.infer<typeof ArtifactRules>;

/** Signed approvals a rollout needs before it reaches targets in scope. */
export const ApprovalRules = z.strictObject({
  /** Distinct people, each with a distinct key, none the rollout's author. Several policies: each must be met. */
  required: z.number().int().min(1).max(POLICY_LIMITS.maxApprovals),
  /** Identities whose approvals count here, as name globs; default: every registered approver. */
  approvers: setOf(Glob).optional(),
});
export type ApprovalRules = z.infer<typeof ApprovalRules>;

function sortWindows(windows: Window[]): Window[] {
  const key = (window: Window): string =>
    `${window.days.map((day) => WEEKDAYS.indexOf(day)).join('')}|${window.start}|${window.end}|${window.timezone ?? ''}`;
  const unique = new Map(
    windows.map((window) => [key(window), { ...window, days: WEEKDAYS.filter((day) => window.days.includes(day)) }]),
  );
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, window]) => window);
}

function sortFreezes(freezes: Freeze[]): Freeze[] {
  return [...freezes].sort((a, b) =>
    a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : a.to > b.to ? 1 : 0,
  );
}

/** When changes may reach targets in scope. Several policies: all must be open. */
export const WindowRules = z
  .strictObject({
    /** The zone of windows and freezes that name none; default: the target's `timezone` property. */
    timezone: TimeZoneName.optional(),
    /** Recurring windows; a change may be applied inside any of them. Absent: always, except in freezes. */
    allow: z.array(WindowInput).min(1).max(POLICY_LIMITS.maxWindows).transform(sortWindows).optional(),
    freezes: z.array(FreezeInput).min(1).max(POLICY_LIMITS.maxFreezes).transform(sortFreezes).optional(),
    /** Signed `override-window` approvals that let a change through a closed window. Absent: no override. */
    emergencyOverride: z
      .strictObject({ approvals: z.number().int().min(1).max(POLICY_LIMITS.maxApprovals) })
      .optional(),
  })
  .refine((rules) => rules.allow !== undefined || rules.freezes !== undefined, {
    message: 'a windows section needs allow, freezes or both',
  });
export type WindowRules = z.infer<typeof WindowRules>;

export const PolicySpec = z.strictObject({
  /** The targets the policy governs, as a fleet query (docs/query-language.md); empty: every target. */
  scope: z.string().max(POLICY_LIMITS.maxScopeLength),
  placement: PlacementRules.optional(),
  artifacts: ArtifactRules.optional(),
  approvals: ApprovalRules.optional(),
  windows: WindowRules.optional(),
});
export type PolicySpec = z.infer<typeof PolicySpec>;

export const PolicyMetadata = z.strictObject({
  name: Name,
  /** Given by the hub's store when it keeps the document: 1 for the first, then one more per change. */
  version: z.number().int().min(1).optional(),
  description: z.string().max(1024).optional(),
  labels: Labels.optional(),
});
export type PolicyMetadata = z.infer<typeof PolicyMetadata>;

/** A policy as `parsePolicy` returns it: validated whole, lists sorted, windows in object form. */
export const Policy = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('Policy'),
  metadata: PolicyMetadata,
  spec: PolicySpec,
});
export type Policy = z.infer<typeof Policy>;
/** A policy as written: windows and freezes may be in their short form, lists in any order. */
export type PolicyInput = z.input<typeof Policy>;

/** How a policy is named in decisions and audit entries: `name@version`, or `name` before the store versions it. */
export function policyRef(policy: Pick<Policy, 'metadata'>): string {
  return policy.metadata.version === undefined
    ? policy.metadata.name
    : `${policy.metadata.name}@${policy.metadata.version}`;
}
