import { z } from 'zod';
import { ApiVersion, ReleaseRef, refuseNul, TargetId, Timestamp } from './common.ts';
import { Signature } from '../crypto/keys.ts';
import { DriftReportSection } from './drift-report.ts';

export const Health = z.enum(['healthy', 'progressing', 'degraded', 'missing', 'unknown']);
export type Health = z.infer<typeof Health>;

export const ResourceStatus = z.strictObject({
  key: z.string().min(1).max(512),
  status: z.enum(['applied', 'failed', 'pruned']),
  health: Health,
  message: z.string().max(2048).optional(),
});
export type ResourceStatus = z.infer<typeof ResourceStatus>;

/**
 * An envelope feature an agent lists in its facts' `envelopeFeatures` when it reads envelopes
 * that name the drift policy by digest (`driftPolicyDigest`) and fetches the policy: a hub
 * that chooses the form agent by agent (`--envelope-drift-policy auto`) carries the policy
 * whole to agents that do not list it, which an agent older than digests cannot.
 */
export const READS_DRIFT_POLICY_DIGEST = 'drift-policy-digest';

/**
 * What an agent reports about its target's substrate. Keys beyond these are allowed so that
 * a driver can add facts without a protocol change; the hub indexes the named ones.
 */
export const Facts = z
  .looseObject({
    substrate: z.string().max(64).optional(),
    driver: z.string().max(64).optional(),
    agentVersion: z.string().max(64).optional(),
    kubernetesVersion: z.string().max(64).optional(),
    kubeletVersions: z.array(z.string().max(64)).max(10_000).optional(),
    nodeCount: z.number().int().min(0).optional(),
    capabilities: z.record(z.string().max(128), z.union([z.string().max(256), z.number(), z.boolean()])).optional(),
    hostname: z.string().max(253).optional(),
    os: z.string().max(64).optional(),
    arch: z.string().max(64).optional(),
    cpus: z.number().int().min(0).optional(),
    memoryBytes: z.number().int().min(0).optional(),
    /** What the agent reads in an envelope beyond the first version's fields, such as {@link READS_DRIFT_POLICY_DIGEST}. */
    envelopeFeatures: z.array(z.string().max(64)).max(32).optional(),
  })
  .check(refuseNul);
export type Facts = z.infer<typeof Facts>;

/**
 * `applied`: the envelope's generation is in place; `failed`: applying it failed and the
 * agent will retry; `stalled`: it was refused (bad signature, invalid bundle) and the agent
 * keeps its last good state until a new generation arrives.
 */
export const ReportPhase = z.enum(['applied', 'failed', 'stalled', 'idle']);
export type ReportPhase = z.infer<typeof ReportPhase>;

export const Report = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('Report'),
  targetId: TargetId,
  seq: z.number().int().min(1),
  generation: z.number().int().min(0),
  phase: ReportPhase,
  health: Health,
  bundles: z.array(ReleaseRef).max(256),
  resources: z.array(ResourceStatus).max(10_000),
  error: z.strictObject({ code: z.string().max(64), message: z.string().max(2048) }).optional(),
  facts: Facts,
  /** What the agent found drifted, how it classified each item and what it did; absent when it did not look (a refused or failed envelope). */
  drift: DriftReportSection.optional(),
  /**
   * Set on the first report after the agent found its report numbers behind the hub's (its
   * state was restored from an older copy, or lost what it last wrote): the hub had accepted up
   * to `after`, and this agent's numbering resumed past it. Reports it had numbered meanwhile
   * were numbered again; anything the hub never received in between is lost.
   */
  seqResync: z.strictObject({ after: z.number().int().min(0) }).optional(),
  observedAt: Timestamp,
});
export type Report = z.infer<typeof Report>;

export const SignedReport = z.strictObject({
  report: Report,
  signature: Signature,
});
export type SignedReport = z.infer<typeof SignedReport>;
