import {
  canonicalize,
  resourceKey,
  type DriftReportSection,
  type Facts,
  type ReleaseRef,
  type Resource,
  type ResourceStatus,
} from '@flotilla/protocol';
import type { AppliedResource, ObservedResource } from '../drivers/driver.ts';
import type { ReportBody } from '../journal/report-journal.ts';
import { healthVerdict } from './health-verdict.ts';

/** What a pass found, before the facts and the time of observation are added. */
export interface PassFindings {
  readonly phase: ReportBody['phase'];
  readonly generation: number;
  readonly bundles: readonly ReleaseRef[];
  readonly resources: readonly ResourceStatus[];
  readonly error?: { readonly code: string; readonly message: string };
  readonly drift?: DriftReportSection | undefined;
}

/** The report of a pass: its findings, the target's facts, and when it looked. */
export function reportBody(findings: PassFindings, facts: Facts, now: number): ReportBody {
  const { phase, generation, bundles, resources, error, drift } = findings;
  return {
    generation,
    phase,
    health: phase === 'stalled' ? 'unknown' : healthVerdict(resources),
    bundles: [...bundles],
    resources: [...resources],
    ...(error === undefined ? {} : { error: { code: error.code, message: error.message.slice(0, 2000) } }),
    facts,
    ...(drift === undefined ? {} : { drift }),
    observedAt: new Date(now).toISOString(),
  };
}

/** Desired resources as they stand when nothing was applied in this pass: all in place. */
export function inPlace(resources: readonly Resource[]): AppliedResource[] {
  return resources.map((resource) => ({ key: resourceKey(resource), status: 'applied' }));
}

/** What was applied (or pruned), each with the health it was observed with. */
export function mergeStatus(
  applied: readonly AppliedResource[],
  observed: readonly ObservedResource[],
): ResourceStatus[] {
  const health = new Map(observed.map((o) => [o.key, o]));
  return applied.map((a) => {
    const seen = health.get(a.key);
    const message = a.message ?? seen?.message;
    return {
      key: a.key,
      status: a.status,
      health: a.status === 'pruned' ? 'healthy' : (seen?.health ?? 'unknown'),
      ...(message === undefined ? {} : { message: message.slice(0, 2000) }),
    };
  });
}

/** What makes two reports different for a person: everything but the time of observation. */
export function fingerprint(body: ReportBody): string {
  const { observedAt: _observedAt, facts: _facts, ...rest } = body;
  return canonicalize(rest);
}
