import type { Logger } from 'pino';
import {
  isFlotillaError,
  messageOf,
  releaseRefOf,
  type DriftPolicy,
  type Envelope,
  type Facts,
  type FlotillaError,
  type ReleaseRef,
  type Resource,
  type SignedEnvelope,
} from '@flotilla/protocol';
import type { AgentStore, SyncState } from '../agent-state.ts';
import type { AppliedResource, Driver, ObservedResource } from '../drivers/driver.ts';
import type { DriftEngine } from '../drift/drift-engine.ts';
import { isRetryable } from '../hub-client.ts';
import type { ReportBody, ReportJournal } from '../journal/report-journal.ts';
import { decidePass } from './decide-pass.ts';
import type { DesiredStateVerifier, TokenSource, VerifiedDesiredState } from './desired-state.ts';
import { inPlace, mergeStatus, reportBody, type PassFindings } from './pass-report.ts';
import type { SyncPhase } from './sync-status.ts';
import { clockBehindSeconds, judgementTime, raiseTimeFloor } from './time-floor.ts';

/** What a pass works with: the agent's state, the hub's documents, the substrate, the journal. */
export interface PassDependencies {
  readonly store: AgentStore;
  /** Checks what the hub sent; a `DesiredStateVerifier`. */
  readonly verifier: Pick<DesiredStateVerifier, 'verifyHeader' | 'resourcesOf' | 'checkPolicy' | 'driftPolicyOf'>;
  readonly driver: Driver;
  readonly drift: DriftEngine;
  readonly journal: ReportJournal;
  /** The facts every report carries: the driver's, and the agent's own. */
  readonly facts: () => Promise<Facts>;
  readonly clock: () => number;
  readonly log: Logger;
}

/** One envelope the hub sent, with what the pass needs to know of the loop. */
interface PassInput {
  readonly raw: unknown;
  /** An access token for fetching bundles missing from the cache. */
  readonly token: TokenSource;
  /** How the last pass ended. */
  readonly phase: SyncPhase;
}

/** How a pass ended, for the loop to record; every pass but a re-signing wrote one report. */
export type PassOutcome =
  | { readonly kind: 're-signed' }
  | { readonly kind: 'applied'; readonly generation: number; readonly report: ReportBody }
  | { readonly kind: 'failed'; readonly generation: number }
  | { readonly kind: 'stalled'; readonly error: FlotillaError };

/**
 * One sync pass for an envelope the hub sent: verify it, decide what it asks for
 * (`decidePass`), apply through the driver if it asks for new releases, observe, assess and act
 * on drift, then save what is in place and write one report. A refused envelope is reported
 * `stalled` and the last good state kept; resources that failed to apply are reported `failed`
 * and nothing is saved, so the loop retries the envelope. Anything thrown (the hub or the
 * substrate away) leaves the saved state as it was, for the loop to retry the whole pass.
 */
export async function runPass(deps: PassDependencies, input: PassInput): Promise<PassOutcome> {
  let sync = await deps.store.sync();
  const clock = deps.clock();
  const behind = clockBehindSeconds(clock, sync);
  if (behind !== undefined)
    deps.log.warn(
      { behindSeconds: behind, timeFloor: sync.timeFloor },
      'the clock is behind the newest time the hub vouched for; judging expiry at that time',
    );
  let desired: VerifiedDesiredState;
  let policy: DriftPolicy;
  try {
    const header = await deps.verifier.verifyHeader(input.raw, sync, new Date(judgementTime(clock, sync)));
    // The hub's signature over issuedAt verified: from now on no clock earlier than that counts.
    const raised = raiseTimeFloor(sync, header.envelope.issuedAt);
    if (raised !== undefined) {
      sync = raised;
      await deps.store.saveSync(sync);
    }
    desired = {
      ...header,
      resources: await deps.verifier.resourcesOf(header.envelope.bundles, input.token, header.trustRoot),
    };
    // Resolved for every pass, a re-signing too: observe passes read it from disk while the hub is away.
    policy = await deps.verifier.driftPolicyOf(header.envelope, input.token);
    // Policy a rollout carried for a release it brings: nothing is applied unless it passes.
    const accepted = await deps.verifier.checkPolicy(header, input.token, sync, new Date(judgementTime(clock, sync)));
    if (accepted !== undefined && (sync.policySet?.version ?? 0) < accepted.version) {
      sync = { ...sync, policySet: accepted };
      await deps.store.saveSync(sync);
    }
  } catch (error) {
    // A policy the hub does not have (yet: a replica behind, a restored backup) is asked for again.
    if (isRetryable(error) || !isFlotillaError(error) || error.code === 'DRIFT_POLICY_UNKNOWN') throw error;
    if (error.code === 'ENVELOPE_EQUIVOCATION')
      deps.log.error(
        { code: error.code, err: error.message, generation: sync.appliedGeneration },
        'the hub signed two different envelopes of one generation; keeping the one applied',
      );
    else deps.log.error({ code: error.code, err: error.message }, 'envelope refused');
    await report(deps, {
      phase: 'stalled',
      generation: sync.appliedGeneration,
      bundles: sync.appliedReleases,
      resources: [],
      error,
    });
    return { kind: 'stalled', error };
  }
  const { envelope, resources, signed } = desired;
  const releases = envelope.bundles.map(releaseRefOf);
  const log = deps.log.child({ generation: envelope.generation });
  const decision = decidePass(sync.appliedEnvelope?.envelope, envelope, effectivePhase(sync, input.phase));
  if (decision === 're-sign-only') {
    // Keep the newer signature (its expiry is later); what is in place does not change.
    await deps.store.saveSync({ ...sync, appliedEnvelope: signed });
    return { kind: 're-signed' };
  }

  let applied: AppliedResource[] = inPlace(resources);
  let observed: ObservedResource[] | undefined;
  if (decision === 'apply') {
    const interrupted =
      sync.applying === undefined ? [] : await releaseResources(deps, sync.applying.releases, input.token);
    // Without the interrupted release, a driver that cannot say who wrote a field (a file) would
    // take Flotilla's own half-applied writes for changes to keep: it applies as it is instead.
    const previous =
      interrupted === undefined && deps.driver.selfManagers === undefined
        ? undefined
        : await previousState(deps, sync.appliedEnvelope, input.token);
    const prepared = await deps.drift.prepareApply(resources, previous, interrupted ?? []);
    // The intent record, on disk before the driver writes anything; cleared below once the
    // whole apply is in place, so a crash in between is known at the next start.
    await deps.store.saveSync({
      ...sync,
      applying: {
        generation: envelope.generation,
        releases,
        startedAt: new Date(deps.clock()).toISOString(),
      },
    });
    applied = await deps.driver.apply(prepared.resources, { force: prepared.force });
    deps.drift.markApplied(resources);
    observed = await deps.driver.observe(resources);
    const failed = applied.filter((r) => r.status === 'failed');
    if (failed.length > 0) {
      const first = failed[0] as AppliedResource;
      log.warn({ failed: failed.length }, 'apply failed; will retry');
      const message = `${failed.length} resources failed to apply: ${first.message ?? first.key}`;
      await report(deps, {
        phase: 'failed',
        generation: envelope.generation,
        bundles: releases,
        resources: mergeStatus(applied, observed),
        error: { code: 'DRIVER_FAILED', message },
      });
      return { kind: 'failed', generation: envelope.generation };
    }
    log.info({ resources: resources.length }, 'desired state applied');
  } else {
    log.info(
      { holds: envelope.holds.length, reverts: envelope.revert?.length ?? 0 },
      'new generation of the applied releases',
    );
  }

  const drift = await deps.drift.pass(resources, envelope, policy, observed);
  const { applying: _done, ...settled } = sync;
  await deps.store.saveSync({
    ...settled,
    appliedGeneration: envelope.generation,
    appliedEnvelope: signed,
    appliedReleases: releases,
  });
  const body = await report(deps, {
    phase: 'applied',
    generation: envelope.generation,
    bundles: releases,
    resources: mergeStatus(applied, drift.observed),
    drift: drift.section,
  });
  return { kind: 'applied', generation: envelope.generation, report: body };
}

/**
 * How the last pass ended, as far as what is in place goes: an apply that was cut short (its
 * intent record still saved, the process having crashed or the apply failed) counts as a failed
 * one, whatever the loop remembers, since the target may hold part of another release.
 */
export function effectivePhase(sync: SyncState, phase: SyncPhase): SyncPhase {
  return sync.applying === undefined ? phase : 'failed';
}

async function report(deps: PassDependencies, findings: PassFindings): Promise<ReportBody> {
  const body = reportBody(findings, await deps.facts(), deps.clock());
  await deps.journal.append(body);
  return body;
}

/**
 * The resources of the releases an interrupted apply was writing, so that what it wrote is not
 * taken for drift to keep; undefined when they cannot be read back (not cached, and no longer
 * the hub's to give this target).
 */
async function releaseResources(
  deps: PassDependencies,
  releases: readonly ReleaseRef[],
  token: TokenSource,
): Promise<Resource[] | undefined> {
  try {
    return await deps.verifier.resourcesOf(releases, token);
  } catch (error) {
    if (isRetryable(error)) throw error;
    deps.log.warn({ err: messageOf(error) }, 'cannot read back the releases of the interrupted apply');
    return undefined;
  }
}

/**
 * What is applied now, for the drift step to keep its kept changes across a new apply; undefined
 * (apply as is) when its bundles cannot be read back (a fresh leader without the cache).
 */
async function previousState(
  deps: PassDependencies,
  applied: SignedEnvelope | null,
  token: TokenSource,
): Promise<{ resources: Resource[]; envelope: Envelope; policy: DriftPolicy } | undefined> {
  if (applied === null) return undefined;
  try {
    return {
      resources: await deps.verifier.resourcesOf(applied.envelope.bundles, token),
      envelope: applied.envelope,
      policy: await deps.verifier.driftPolicyOf(applied.envelope, token),
    };
  } catch (error) {
    if (isRetryable(error)) throw error;
    deps.log.warn({ err: messageOf(error) }, 'cannot read the applied releases back; applying without keeping drift');
    return undefined;
  }
}
