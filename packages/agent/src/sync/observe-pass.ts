import type { TokenSource } from './desired-state.ts';
import type { DriftReportSection, ReportPhase } from '@flotilla/protocol';
import type { ReportBody } from '../journal/report-journal.ts';
import { fingerprint, inPlace, mergeStatus, reportBody } from './pass-report.ts';
import { effectivePhase, type PassDependencies } from './run-pass.ts';
import type { SyncPhase } from './sync-status.ts';

/** What an observe pass needs to know of the loop. */
interface ObserveInput {
  /** An access token for fetching bundles missing from the cache. */
  readonly token: TokenSource;
  /** How the last pass ended. */
  readonly phase: SyncPhase;
  /** The fingerprint of the last report written. */
  readonly lastReported: string;
}

/**
 * Re-reads the resources of the releases in place, looks at drift under the envelope they came
 * with, and writes a report when anything changed since the last one. Returns that report, or
 * undefined when there was nothing new to say. While a newer generation failed to apply, the
 * live state may be half of it: the pass observes but leaves drift alone until it applies.
 */
export async function observePass(
  deps: PassDependencies,
  input: ObserveInput,
): Promise<{ phase: ReportPhase; report: ReportBody } | undefined> {
  const sync = await deps.store.sync();
  const resources = await deps.verifier.resourcesOf(sync.appliedReleases, input.token);
  let observed = await deps.driver.observe(resources);
  const last = effectivePhase(sync, input.phase);
  const phase = last === 'starting' ? (sync.appliedGeneration === 0 ? 'idle' : 'applied') : last;
  let drift: DriftReportSection | undefined;
  if (sync.appliedEnvelope !== null && phase !== 'failed') {
    const { envelope } = sync.appliedEnvelope;
    const pass = await deps.drift.pass(
      resources,
      envelope,
      await deps.verifier.driftPolicyOf(envelope, input.token),
      observed,
    );
    observed = [...pass.observed];
    drift = pass.section;
  }
  const findings = {
    phase,
    generation: sync.appliedGeneration,
    bundles: sync.appliedReleases,
    resources: mergeStatus(inPlace(resources), observed),
    drift,
  };
  const body = reportBody(findings, await deps.facts(), deps.clock());
  if (fingerprint(body) === input.lastReported) return undefined;
  await deps.journal.append(body);
  return { phase, report: body };
}
