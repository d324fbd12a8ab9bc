import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  isFlotillaError,
  resourceKey,
  type DriftPolicy,
  type DriftReportSection,
  type Envelope,
  type Resource,
} from '@flotilla/protocol';
import {
  attributeDrift,
  buildDriftReportSection,
  classifyDrift,
  diffResources,
  FLOTILLA_FIELD_MANAGERS,
  liveResourceKey,
  type AttributedDriftItem,
  type DriftDecision,
  type LiveObject,
} from '@flotilla/protocol/drift';
import type { AppliedResource, Driver, ObservedResource } from '../drivers/driver.ts';
import { readJsonFile, writeJsonAtomic } from '../state-files.ts';
import { keeps, withKeptDrift } from './kept-overlay.ts';

/** What the drift step found, before it acted. */
interface DriftAssessment {
  /** One decision per drift item, in desired order and then extras. */
  readonly decisions: readonly DriftDecision[];
  /** The live objects read, by resource key (desired resources whose object is there). */
  readonly live: ReadonlyMap<string, LiveObject>;
  /** The desired resources the assessment compared, with namespaces filled in from the live objects. */
  readonly desired: readonly Resource[];
  /** What the driver observed, health included. */
  readonly observed: readonly ObservedResource[];
}

/** What the drift step did in one pass. */
interface DriftPassResult {
  /** The drift section of the report: every decision, the reverted ones with action `revert`. Absent when the step failed. */
  readonly section?: DriftReportSection;
  /** The resources as observed after acting (re-read when something was reverted). */
  readonly observed: readonly ObservedResource[];
  /** What each revert did. */
  readonly repaired: readonly AppliedResource[];
}

interface DriftEngineOptions {
  readonly driver: Driver;
  readonly log: Logger;
  /** The agent's clock: grace periods are measured from it. */
  readonly clock: () => number;
  /**
   * A local folder for the little the drift step remembers across restarts: the generation
   * whose revert requests it carried out, so that a restart does not repeat them.
   */
  readonly dir?: string;
}

const DriftStateFile = z.object({ revertedGeneration: z.number().int().min(0) });

/** Failures after which nothing else in the pass can work: the agent retries the pass. */
function substrateLost(error: unknown): boolean {
  return (
    isFlotillaError(error, 'KUBE_UNREACHABLE') ||
    isFlotillaError(error, 'UNAUTHENTICATED') ||
    isFlotillaError(error, 'HUB_UNAVAILABLE')
  );
}

/** The resources a drift item's envelope revert entry names: a whole resource, or one path. */
function requested(
  envelope: Envelope,
  generation: number,
  done: number,
): ((decision: DriftDecision) => boolean) | undefined {
  if (envelope.revert === undefined || generation <= done) return undefined;
  const entries = envelope.revert;
  return (decision) =>
    entries.some(
      (entry) =>
        entry.resourceKey === decision.item.resourceKey && (entry.path === '' || entry.path === decision.item.path),
    );
}

/**
 * The agent's drift step: observe, diff desired against live, attribute each change from the
 * substrate's managedFields, classify it with the envelope's policy and holds, and act. Only
 * `revert` changes anything: it re-applies the affected resources through the driver (taking
 * fields back, and keeping every other drifted field of the resource that the policy keeps).
 * `accept`, `wait` and `alert` change nothing; they are reported.
 *
 * It is level-based: each pass looks at the live state afresh and decides again, so a revert
 * that did not take is tried on the next pass, and drift that went away leaves the report.
 */
export class DriftEngine {
  private readonly driver: Driver;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly statePath: string | undefined;
  /** When Flotilla last wrote each resource (apply or revert): the start of its grace period. */
  private readonly appliedAt = new Map<string, number>();
  private revertedGeneration: number;
  private readonly selfManagers: ReadonlySet<string>;

  constructor(options: DriftEngineOptions) {
    this.driver = options.driver;
    this.log = options.log.child({ component: 'drift' });
    this.clock = options.clock;
    this.selfManagers = new Set([...FLOTILLA_FIELD_MANAGERS, ...(options.driver.selfManagers ?? [])]);
    this.statePath = options.dir === undefined ? undefined : join(options.dir, 'drift-state.json');
    this.revertedGeneration =
      (this.statePath === undefined ? undefined : readJsonFile(this.statePath, DriftStateFile)?.revertedGeneration) ??
      0;
  }

  /** Records that Flotilla wrote these resources now: their grace period starts. */
  markApplied(resources: readonly Resource[]): void {
    const now = this.clock();
    for (const resource of resources) this.appliedAt.set(resourceKey(resource), now);
  }

  /**
   * Looks at the live state of `desired` (observing it unless `observed` is given) and classifies
   * every difference with the drift policy `envelope` puts in force (`policy`, which
   * `DesiredStateVerifier.driftPolicyOf` resolves) and its holds. Changes nothing.
   */
  async assess(
    desired: readonly Resource[],
    envelope: Envelope,
    policy: DriftPolicy,
    observed?: readonly ObservedResource[],
  ): Promise<DriftAssessment> {
    const seen = observed ?? (await this.driver.observe(desired));
    const byKey = new Map(seen.map((o) => [o.key, o]));
    const filled: Resource[] = [];
    const live = new Map<string, LiveObject>();
    const unreadable = new Set<string>();
    for (const resource of desired) {
      const key = resourceKey(resource);
      const found = byKey.get(key);
      if (found?.live === null || found === undefined) {
        // Absent is drift; unreadable (an API error, a file that is not YAML) is not known to be.
        if (found !== undefined && found.health !== 'missing') unreadable.add(key);
        filled.push(resource);
        continue;
      }
      const object = found.live;
      const liveNamespace = (object['metadata'] as { namespace?: unknown } | undefined)?.namespace;
      // The driver (or the API server) defaulted the namespace: compare under the same key.
      const withNamespace =
        resource.metadata.namespace === undefined && typeof liveNamespace === 'string'
          ? { ...resource, metadata: { ...resource.metadata, namespace: liveNamespace } }
          : resource;
      filled.push(withNamespace);
      const filledKey = resourceKey(withNamespace);
      // A live object under another identity (a file edited to name something else) does not hold this resource.
      if (liveResourceKey({ apiVersion: withNamespace.apiVersion, ...object, kind: withNamespace.kind }) === filledKey)
        live.set(filledKey, { apiVersion: withNamespace.apiVersion, kind: withNamespace.kind, ...object });
    }
    const compared = filled.filter((resource) => !unreadable.has(resourceKey(resource)));
    const extras = (await this.driver.extras?.(desired)) ?? [];
    const items = diffResources(compared, live, extras);
    const liveAndExtra = new Map(live);
    for (const extra of extras) {
      const key = liveResourceKey(extra);
      if (key !== undefined && !liveAndExtra.has(key)) liveAndExtra.set(key, extra);
    }
    const attributed = attributeDrift(items, liveAndExtra, { selfManagers: [...this.selfManagers] });
    const decisions = this.classify(attributed, envelope, policy, seen);
    return { decisions, live, desired: filled, observed: seen };
  }

  /** Classifies per resource, so that each resource's grace period runs from its own last write. */
  private classify(
    attributed: readonly AttributedDriftItem[],
    envelope: Envelope,
    policy: DriftPolicy,
    observed: readonly ObservedResource[],
  ): DriftDecision[] {
    const now = new Date(this.clock());
    // A workload still rolling out trails its desired state; the policy may treat that as transient.
    const rolling = new Set(observed.filter((o) => o.health === 'progressing').map((o) => o.key));
    const groups = new Map<string, AttributedDriftItem[]>();
    for (const item of attributed) {
      let group = groups.get(item.item.resourceKey);
      if (group === undefined) groups.set(item.item.resourceKey, (group = []));
      group.push(item);
    }
    const decided = new Map<AttributedDriftItem, DriftDecision>();
    for (const [key, group] of groups) {
      const appliedAt = this.appliedAt.get(key);
      const decisions = classifyDrift(group, policy, {
        now,
        ...(appliedAt === undefined ? {} : { lastAppliedAt: new Date(appliedAt) }),
        rolloutInFlight: rolling,
        holds: envelope.holds,
      });
      group.forEach((item, index) => decided.set(item, decisions[index] as DriftDecision));
    }
    const wanted = requested(envelope, envelope.generation, this.revertedGeneration);
    return attributed.map((item) => {
      const decision = decided.get(item) as DriftDecision;
      if (wanted === undefined || !wanted(decision) || decision.action === 'revert') return decision;
      // An operator asked for exactly this revert, signed into the envelope and audited at the hub.
      return {
        ...decision,
        action: 'revert',
        reason: `${decision.reason}; reverted on operator request (generation ${envelope.generation})`,
      };
    });
  }

  /**
   * Carries out the `revert` decisions of an assessment: each resource with something to revert
   * is written again through the driver, every field the policy keeps carrying its live value, and
   * fields someone added are removed. Returns the report section and what was observed after.
   */
  async act(assessment: DriftAssessment, envelope: Envelope): Promise<DriftPassResult> {
    // A resource no release holds has no desired state to go back to; the next apply prunes it.
    let decisions = assessment.decisions.map((d) =>
      d.action === 'revert' && d.item.change === 'extra-resource'
        ? {
            ...d,
            action: 'alert' as const,
            reason: `${d.reason}; not desired any more, so there is nothing to revert it to: the next apply prunes it`,
          }
        : d,
    );
    const reverting = new Set(decisions.filter((d) => d.action === 'revert').map((d) => d.item.resourceKey));
    let repaired: AppliedResource[] = [];
    let observed = assessment.observed;
    if (reverting.size > 0) {
      const targets = assessment.desired.filter((resource) => reverting.has(resourceKey(resource)));
      if (this.driver.repair === undefined) {
        decisions = decisions.map((d) =>
          d.action === 'revert'
            ? {
                ...d,
                action: 'alert' as const,
                reason: `${d.reason}; the ${this.driver.name} driver cannot revert, so it is kept`,
              }
            : d,
        );
      } else if (targets.length > 0) {
        const remove = new Map<string, string[]>();
        for (const d of decisions) {
          if (d.action !== 'revert' || d.item.change !== 'added' || d.item.path === '') continue;
          const list = remove.get(d.item.resourceKey) ?? [];
          list.push(d.item.path);
          remove.set(d.item.resourceKey, list);
        }
        const resources = withKeptDrift(targets, decisions, assessment.live, this.selfManagers);
        repaired = await this.driver.repair(resources, { remove });
        this.markApplied(resources);
        const failed = new Map(
          repaired.filter((r) => r.status === 'failed').map((r) => [r.key, r.message ?? 'failed']),
        );
        if (failed.size > 0) {
          this.log.warn({ failed: [...failed.keys()] }, 'drift revert failed; retried on the next pass');
          decisions = decisions.map((d) =>
            d.action === 'revert' && failed.has(d.item.resourceKey)
              ? { ...d, reason: `${d.reason}; revert failed: ${failed.get(d.item.resourceKey)}` }
              : d,
          );
        }
        this.log.info({ resources: targets.map(resourceKey), generation: envelope.generation }, 'drift reverted');
        observed = await this.driver.observe(assessment.desired);
      }
    }
    if (envelope.revert !== undefined && envelope.generation > this.revertedGeneration) {
      this.revertedGeneration = envelope.generation;
      if (this.statePath !== undefined) writeJsonAtomic(this.statePath, { revertedGeneration: envelope.generation });
    }
    return { section: buildDriftReportSection(decisions), observed, repaired };
  }

  /**
   * One whole pass: assess, then act. Losing the substrate (`KUBE_UNREACHABLE`,
   * `UNAUTHENTICATED`) fails the pass, for the agent to retry; any other failure of the drift
   * step is logged and the pass reports without a drift section, so that drift never stops the
   * agent from reporting what it applied.
   */
  async pass(
    desired: readonly Resource[],
    envelope: Envelope,
    policy: DriftPolicy,
    observed?: readonly ObservedResource[],
  ): Promise<DriftPassResult> {
    try {
      return await this.act(await this.assess(desired, envelope, policy, observed), envelope);
    } catch (error) {
      if (substrateLost(error)) throw error;
      this.log.error({ err: error }, 'drift step failed; reporting without drift');
      return { observed: observed ?? (await this.driver.observe(desired)), repaired: [] };
    }
  }

  /**
   * Prepares a new desired state for apply so that it does not undo drift the policy keeps: the
   * drift of what is applied now (`previous`, under its own envelope and policy) is assessed, kept fields
   * are carried into the new resources, and resources with drift to revert are applied with
   * force. With nothing applied yet, the new resources are applied as they are. `interrupted`
   * holds the resources of an apply that was cut short: what matches them is Flotilla's own
   * half-applied write, not drift to keep.
   */
  async prepareApply(
    next: readonly Resource[],
    previous:
      | { readonly resources: readonly Resource[]; readonly envelope: Envelope; readonly policy: DriftPolicy }
      | undefined,
    interrupted: readonly Resource[] = [],
  ): Promise<{ resources: Resource[]; force: Set<string> }> {
    if (previous === undefined || previous.resources.length === 0) return { resources: [...next], force: new Set() };
    let assessment: DriftAssessment;
    try {
      assessment = await this.assess(previous.resources, previous.envelope, previous.policy);
    } catch (error) {
      if (substrateLost(error)) throw error;
      this.log.error({ err: error }, 'drift step failed before apply; applying without keeping drift');
      return { resources: [...next], force: new Set() };
    }
    const force = new Set(assessment.decisions.filter((d) => !keeps(d)).map((d) => d.item.resourceKey));
    const written = new Map(interrupted.map((resource) => [resourceKey(resource), resource]));
    return {
      resources: withKeptDrift(next, assessment.decisions, assessment.live, this.selfManagers, written),
      force,
    };
  }
}
