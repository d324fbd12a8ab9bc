import {
  API_VERSION,
  canonicalize,
  DriftPolicy,
  driftPolicyDigest,
  FlotillaError,
  releaseRefOf,
  signPayload,
  type Actor,
  type DriftRevert,
  type Envelope,
  type Hold,
  type ReleaseRef,
  type SignedEnvelope,
  type TrustRoot,
} from '@flotilla/protocol';
import type { AssignResult } from '@flotilla/protocol/api';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import type { EnvelopePolicy } from '@flotilla/protocol/policy';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { HubKeys } from '../identity/trust-service.ts';
import type { DesiredRecord } from '../targets/target-store.ts';
import type { TargetState } from '../targets/target-cache.ts';
import { EnvelopeWaiters } from './envelope-waiters.ts';

export const DEFAULT_ENVELOPE_TTL_MS = 24 * 60 * 60_000;

/**
 * How a new envelope carries the drift policy in force: named by its digest, for agents to fetch
 * once; whole, as hubs before `driftPolicyDigest` signed it, for agents that predate it; or
 * (`auto`) by digest to the agents whose last report listed `drift-policy-digest` in its facts'
 * `envelopeFeatures` and whole to the rest, for a fleet whose agents are upgraded a part at a time.
 */
export type EnvelopeDriftPolicy = 'digest' | 'inline' | 'auto';

/** What {@link DesiredStateService.stageRelease} did to one target. */
export interface StagedRelease {
  readonly targetId: string;
  /** False when the target already had exactly this release (or, for a removal, none of that name). */
  readonly changed: boolean;
  /** The generation of the envelope that now carries the desired state. */
  readonly generation: number;
  /** The release of that name the target had before, or null. */
  readonly previous: ReleaseRef | null;
  /** Every release the target should now run. */
  readonly bundles: ReleaseRef[];
  /** The envelope written when changed, and its JSON, for {@link DesiredStateService.announceStaged} to serve as is. */
  readonly served: { readonly json: string; readonly envelope: SignedEnvelope } | undefined;
}

/** The desired columns of target records (the targets feature's store). */
export interface DesiredTargets {
  desired(id: string): DesiredRecord | undefined;
  setDesired(
    id: string,
    generation: number,
    bundles: readonly ReleaseRef[],
    envelope: SignedEnvelope,
    at: number,
    actor: Actor,
  ): string;
  setEnvelope(id: string, envelope: SignedEnvelope): void;
  /** Whether the target's agent said in its last report's facts that it reads the drift policy by digest. */
  readsDriftPolicyDigest(id: string): boolean;
  idsWithEnvelope(): string[];
  idsHolding(holdId: string): string[];
}

/** Target states as the check-in path holds them in memory (the targets feature's cache). */
export interface ServedTargets {
  get(id: string): TargetState | undefined;
  invalidate(id: string): void;
  /** Serves the target's envelope just written (as `json`) and committed, without reading it back. */
  issued(id: string, generation: number, json: string, envelope: SignedEnvelope): void;
}

/** Resolves `name@version` or a digest to a published release, and tells its size (the bundles feature). */
export interface ReleaseResolver {
  resolveRelease(ref: string): ReleaseRef;
  /** The bytes the hub serves for the bundle, which envelopes name. */
  sizeOf(digest: string): number;
}

/** The drift policy in force, which every envelope names by digest or carries (the drift feature). */
export interface DriftPolicySource {
  current(): { readonly digest: string; readonly policy: DriftPolicy };
  /** The canonical JSON of a policy an envelope names, or undefined for a digest never in force. */
  json(digest: string): string | undefined;
}

/** The holds of open incidents that select a target now (the incidents feature). */
export interface HoldSource {
  holdsFor(targetId: string): Hold[];
}

/** Where check-ins are counted (the targets feature). */
export interface CheckIns {
  mark(targetId: string): void;
}

/** Hears which targets' envelopes changed, after commit: the stream feature tells their agents. */
export interface EnvelopeNotices {
  changed(targetIds: readonly string[]): void;
}

/**
 * Policy for assignments (the policy feature): the sections the envelope carries for the
 * releases an assignment brings, or a `POLICY_REFUSED` error when policy blocks one.
 */
export interface AssignPolicy {
  check(targetId: string, brought: readonly ReleaseRef[], actor: Actor): EnvelopePolicy[];
}

export interface DesiredStateDeps {
  readonly tx: Transactions;
  readonly assignPolicy: AssignPolicy;
  /** Told after envelopes changed, besides the long-polls woken here. */
  readonly notices?: EnvelopeNotices;
  readonly targets: DesiredTargets;
  readonly served: ServedTargets;
  readonly releases: ReleaseResolver;
  readonly policies: DriftPolicySource;
  readonly holds: HoldSource;
  readonly checkIns: CheckIns;
  /** The trust root in force: envelopes name its version. */
  readonly trust: { readonly trustRoot: TrustRoot };
  readonly keys: HubKeys;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly envelopeTtlMs: number;
  readonly envelopeDriftPolicy: EnvelopeDriftPolicy;
  /** Told of every envelope signed (the metrics feature); optional. */
  readonly metrics?: { envelopeIssued(): void };
  /** The newest signed policy set, which every new generation carries (the policy feature). */
  readonly policySets: PolicySetSource;
}

/** The newest signed policy set and the target's record, for new envelopes to carry (the policy feature). */
export interface PolicySetSource {
  envelopePart(targetId: string): { readonly policySet: object; readonly target: object } | undefined;
}

/**
 * The drift part of an envelope: the policy and holds in force, and revert requests for this
 * generation only; and the signed policy set with the target's record, fixed per generation.
 */
interface EnvelopeDrift {
  readonly holds: readonly Hold[];
  readonly driftPolicy?: DriftPolicy;
  readonly driftPolicyDigest?: string;
  readonly revert?: readonly DriftRevert[];
  readonly policySet?: Record<string, unknown>;
  readonly target?: Record<string, unknown>;
}

/** What a fresh signature over the same generation keeps of its envelope. */
function carriedPart(envelope: Envelope): EnvelopeDrift {
  return {
    holds: envelope.holds,
    ...(envelope.driftPolicy === undefined ? {} : { driftPolicy: envelope.driftPolicy }),
    ...(envelope.driftPolicyDigest === undefined ? {} : { driftPolicyDigest: envelope.driftPolicyDigest }),
    ...(envelope.revert === undefined ? {} : { revert: envelope.revert }),
    ...(envelope.policySet === undefined ? {} : { policySet: envelope.policySet }),
    ...(envelope.target === undefined ? {} : { target: envelope.target }),
  };
}

/**
 * The policy sections an envelope over `bundles` carries: those of `kept` (the previous
 * envelope's) whose release is still there, and `added` for a release a rollout just staged.
 */
function policySections(
  bundles: readonly ReleaseRef[],
  kept: readonly Record<string, unknown>[] | undefined,
  added: readonly EnvelopePolicy[] = [],
): Record<string, unknown>[] | undefined {
  const digests = new Set(bundles.map((b) => b.digest));
  const replaced = new Set(added.map((section) => section.releaseDigest));
  const sections = (kept ?? []).filter(
    (section) =>
      typeof section['releaseDigest'] === 'string' &&
      digests.has(section['releaseDigest']) &&
      !replaced.has(section['releaseDigest']),
  );
  for (const section of added) if (digests.has(section.releaseDigest)) sections.push(section);
  return sections.length === 0 ? undefined : sections;
}

/**
 * The digest of the drift policy an envelope puts in force, however it carries it: named, inline
 * (older hubs), or neither (the default). Two envelopes with the same one have the same rules.
 */
function policyDigestOf(envelope: Envelope): string {
  return envelope.driftPolicyDigest ?? driftPolicyDigest(envelope.driftPolicy ?? defaultDriftPolicy);
}

function refText(ref: ReleaseRef | null): string | null {
  return ref === null ? null : `${ref.name}@${ref.version}`;
}

/**
 * What each target should run: a target runs several releases of different names at once
 * (an app, monitoring, a network policy). `assign` replaces the whole list; `setRelease`
 * changes one name, which is what rollouts use. Either bumps the target's generation and
 * signs a new envelope; agents long-poll for it. Envelopes expire (so a frozen hub cannot keep a
 * stale state alive forever) and are re-signed lazily when half their lifetime has passed.
 */
export class DesiredStateService {
  private readonly waiters = new EnvelopeWaiters();
  private readonly deps: DesiredStateDeps;

  constructor(deps: DesiredStateDeps) {
    this.deps = deps;
  }

  /**
   * Signs a new generation of the target's envelope with the same releases, because its drift
   * part changed: the policy, the holds in force, or an operator's revert request (`revert`, carried
   * by this generation only). Must run inside a transaction; neither audits nor wakes the
   * agent: the caller audits in the same transaction and calls {@link announce} after commit.
   * Unchanged (no new generation) when the target has no envelope yet, or when nothing would
   * differ from the envelope it has.
   *
   * The target's `lastChanged` moves only with `changedBy` (an operator's request about this
   * target); a fleet-wide policy change or an incident's hold leaves it, so that "not touched in
   * 30 days" keeps meaning what operators did to the target.
   */
  reissue(
    targetId: string,
    options: { readonly revert?: readonly DriftRevert[]; readonly changedBy?: Actor } = {},
  ): { readonly changed: boolean; readonly generation: number } {
    const { revert, changedBy } = options;
    if (!this.deps.tx.open) throw new TypeError('DesiredStateService.reissue must run inside a transaction');
    const record = this.deps.targets.desired(targetId);
    if (record === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    if (record.envelope === null || record.status === 'revoked')
      return { changed: false, generation: record.generation };
    const { envelope } = record.envelope;
    const drift = this.driftNow(targetId);
    // By digest: an envelope that carries the policy in force whole (an older hub's, or signed with
    // `inline`) is not changed by naming it, nor the other way round.
    const same =
      this.deps.policies.current().digest === policyDigestOf(envelope) &&
      canonicalize(drift.holds) === canonicalize(envelope.holds);
    if (same && (revert === undefined || revert.length === 0) && envelope.revert === undefined)
      return { changed: false, generation: record.generation };
    const generation = record.generation + 1;
    const signed = this.sign(
      targetId,
      generation,
      record.bundles,
      {
        ...drift,
        ...(revert === undefined || revert.length === 0 ? {} : { revert }),
      },
      policySections(record.bundles, envelope.policy),
    );
    if (changedBy !== undefined)
      this.deps.targets.setDesired(targetId, generation, record.bundles, signed, this.deps.clock(), changedBy);
    else
      this.deps.targets.setDesired(
        targetId,
        generation,
        record.bundles,
        signed,
        record.lastChangedAt,
        record.lastChangedBy,
      );
    return { changed: true, generation };
  }

  /** Signs a new generation for each target whose envelope's drift part would change, inside the caller's transaction; returns those that changed. */
  reissueMany(targetIds: readonly string[]): string[] {
    return targetIds.filter((id) => this.reissue(id).changed);
  }

  /** The targets that have an envelope and may still fetch it. */
  targetsWithEnvelope(): string[] {
    return this.deps.targets.idsWithEnvelope();
  }

  /** The targets whose current envelope carries the hold `holdId`. */
  targetsHolding(holdId: string): string[] {
    return this.deps.targets.idsHolding(holdId);
  }

  /** Whether the target's current envelope carries any hold. */
  holdsAny(targetId: string): boolean {
    return (this.deps.targets.desired(targetId)?.envelope?.envelope.holds.length ?? 0) > 0;
  }

  /**
   * Sets the releases a target should run; the envelope's generation goes up by one. Each
   * release the target does not already have passes policy first, as in a rollout.
   *
   * @throws FlotillaError `POLICY_REFUSED` when policy blocks a release it brings.
   */
  assign(targetId: string, refs: readonly string[], actor: Actor): AssignResult {
    const { tx, targets, audit, clock } = this.deps;
    const bundles = refs.map((ref) => this.deps.releases.resolveRelease(ref));
    const names = new Set<string>();
    for (const bundle of bundles) {
      if (names.has(bundle.name))
        throw new FlotillaError(
          'CONFLICT',
          `release ${bundle.name} is named twice; a target runs one version of each release`,
        );
      names.add(bundle.name);
    }
    // Checked before the transaction, so that a refusal's audit entry is kept; nothing yields
    // between the check and the write, so the record checked is the record written.
    const had = new Set(targets.desired(targetId)?.bundles.map((bundle) => bundle.digest));
    const added = this.deps.assignPolicy.check(
      targetId,
      bundles.filter((bundle) => !had.has(bundle.digest)),
      actor,
    );
    const result = tx.run(() => {
      const record = targets.desired(targetId);
      if (record === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
      if (record.status === 'revoked')
        throw new FlotillaError('CONFLICT', `target ${targetId} is revoked; it will never fetch desired state again`);
      const generation = record.generation + 1;
      const envelope = this.sign(
        targetId,
        generation,
        bundles,
        undefined,
        policySections(bundles, record.envelope?.envelope.policy, added),
      );
      targets.setDesired(targetId, generation, bundles, envelope, clock(), actor);
      audit.append({
        actor,
        action: 'target.assign',
        subjects: [targetId],
        outcome: 'success',
        details: {
          generation,
          releases: bundles.map((b) => `${b.name}@${b.version}`),
          digests: bundles.map((b) => b.digest),
        },
      });
      return { generation, bundles };
    });
    this.announce([targetId]);
    return result;
  }

  /**
   * Sets the release called `name` on one target, leaving its other releases alone: `ref`
   * (`name@version` or a digest) replaces the version it runs, or adds it; null removes it.
   * The generation goes up by one only when something changed. Audited as `target.set-release`.
   *
   * @example desired.setRelease(id, 'monitoring', 'monitoring@2.1.0', actor)
   */
  setRelease(
    targetId: string,
    name: string,
    ref: string | null,
    actor: Actor,
  ): { generation: number; bundles: ReleaseRef[]; changed: boolean } {
    const release = ref === null ? null : this.deps.releases.resolveRelease(ref);
    if (release !== null && release.name !== name)
      throw new FlotillaError('VALIDATION_FAILED', `${ref} is a release of ${release.name}, not of ${name}`);
    const staged = this.deps.tx.run(() => {
      const result = this.stageRelease(targetId, name, release, actor);
      if (result.changed) {
        this.deps.audit.append({
          actor,
          action: 'target.set-release',
          subjects: [targetId],
          outcome: 'success',
          details: {
            name,
            from: refText(result.previous),
            to: refText(release),
            digest: release?.digest ?? null,
            generation: result.generation,
          },
        });
      }
      return result;
    });
    if (staged.changed) this.announce([targetId]);
    return { generation: staged.generation, bundles: staged.bundles, changed: staged.changed };
  }

  /**
   * The transactional core of {@link setRelease} for callers that change many targets in one
   * transaction of their own (rollouts): it must run inside a transaction, writes the
   * new envelope, and neither audits nor wakes agents. The caller audits in the same
   * transaction and calls {@link announce} after it commits.
   */
  stageRelease(
    targetId: string,
    name: string,
    release: ReleaseRef | null,
    actor: Actor,
    policy?: EnvelopePolicy,
  ): StagedRelease {
    if (!this.deps.tx.open)
      throw new TypeError('DesiredStateService.stageRelease must run inside a transaction; use setRelease otherwise');
    const record = this.deps.targets.desired(targetId);
    if (record === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    if (record.status === 'revoked')
      throw new FlotillaError('CONFLICT', `target ${targetId} is revoked; it will never fetch desired state again`);
    const current = record.bundles;
    const previous = current.find((b) => b.name === name) ?? null;
    if (previous?.digest === release?.digest) {
      return { targetId, changed: false, generation: record.generation, previous, bundles: current, served: undefined };
    }
    // Replaced in place or appended, so the envelope's order of releases stays stable.
    const bundles =
      release === null
        ? current.filter((b) => b.name !== name)
        : previous === null
          ? [...current, release]
          : current.map((b) => (b.name === name ? release : b));
    const generation = record.generation + 1;
    const envelope = this.sign(
      targetId,
      generation,
      bundles,
      undefined,
      policySections(bundles, record.envelope?.envelope.policy, policy === undefined ? [] : [policy]),
    );
    const json = this.deps.targets.setDesired(targetId, generation, bundles, envelope, this.deps.clock(), actor);
    return { targetId, changed: true, generation, previous, bundles, served: { json, envelope } };
  }

  /**
   * After a transaction that changed envelopes committed: drops cached states, wakes the agents'
   * long-polls and tells their streams; with `told`, not their streams, whose agents were told
   * of the change already (see {@link tell}) and are fetching it.
   */
  announce(targetIds: Iterable<string>, told = false): void {
    const ids = [...targetIds];
    for (const id of ids) this.deps.served.invalidate(id);
    this.wake(ids, told);
  }

  /**
   * As {@link announce}, for releases {@link stageRelease} staged in a transaction that then
   * committed: their envelopes are served as staged rather than read back from the store, which
   * every agent of a wave would otherwise do for its own. Only what committed may be passed:
   * a savepoint rolled back must take its releases out first.
   */
  announceStaged(staged: readonly StagedRelease[], told = false): void {
    for (const { targetId, generation, served } of staged)
      if (served === undefined) this.deps.served.invalidate(targetId);
      else this.deps.served.issued(targetId, generation, served.json, served.envelope);
    this.wake(
      staged.map((s) => s.targetId),
      told,
    );
  }

  /** Wakes the targets' long-polls and, unless `told`, tells their streams. */
  private wake(ids: readonly string[], told: boolean): void {
    for (const id of ids) this.waiters.notify(id);
    if (!told) this.deps.notices?.changed(ids);
  }

  /**
   * After a transaction that made the targets' desired state about to change committed (a
   * rollout's wave took them in; their envelopes are issued when they fetch, see
   * docs/rollouts.md): wakes their agents' long-polls and tells their streams, so that they
   * come to fetch it. Nothing served changed yet, so no cached state is dropped.
   */
  tell(targetIds: Iterable<string>): void {
    const ids = [...targetIds];
    for (const id of ids) this.waiters.notify(id);
    this.deps.notices?.changed(ids);
  }

  /** A check-in: counts it, and answers the target's current state. */
  checkIn(targetId: string): TargetState | undefined {
    this.deps.checkIns.mark(targetId);
    return this.current(targetId);
  }

  /** The target's current state, with its envelope re-signed if it is past half its life. */
  current(targetId: string): TargetState | undefined {
    const { served, clock } = this.deps;
    const state = served.get(targetId);
    if (state?.envelopeJson === undefined) return state;
    if (state.envelopeExpiresAt - clock() > this.deps.envelopeTtlMs / 2) return state;
    const envelope = this.deps.targets.desired(targetId)?.envelope?.envelope;
    if (envelope === undefined) return state;
    // A fresh signature over the same generation carries the same drift part.
    this.deps.targets.setEnvelope(
      targetId,
      this.sign(targetId, envelope.generation, envelope.bundles, carriedPart(envelope), envelope.policy),
    );
    this.announce([targetId]);
    return served.get(targetId);
  }

  /**
   * The target's current envelope signed afresh to last `ttlMs`, for a transfer file: same
   * generation, releases and drift part as the one served online, only the times differ (as
   * when the hub re-signs it lazily). Not stored: the online envelope keeps its own expiry.
   */
  offlineEnvelope(targetId: string, ttlMs: number): SignedEnvelope {
    const record = this.deps.targets.desired(targetId);
    if (record === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    if (record.status === 'revoked')
      throw new FlotillaError('CONFLICT', `target ${targetId} is revoked; it will never get desired state again`);
    const envelope = record.envelope?.envelope;
    if (envelope === undefined)
      throw new FlotillaError(
        'CONFLICT',
        `target ${targetId} has no desired state yet; assign it releases first (flotilla assign ${targetId} NAME@VERSION)`,
      );
    return this.sign(
      targetId,
      envelope.generation,
      envelope.bundles,
      this.inlinePolicy(carriedPart(envelope)),
      envelope.policy,
      ttlMs,
    );
  }

  /**
   * The drift part with the policy it names by digest carried inline instead: a site that cannot
   * reach the hub cannot fetch it. The same generation's content either way (`envelopeContent`).
   */
  private inlinePolicy(drift: EnvelopeDrift): EnvelopeDrift {
    const { driftPolicyDigest: digest, ...rest } = drift;
    if (digest === undefined) return drift;
    const json = this.deps.policies.json(digest);
    if (json === undefined)
      throw new FlotillaError('INTERNAL', `the drift policy ${digest} an envelope names is not in the store`);
    return { ...rest, driftPolicy: DriftPolicy.parse(JSON.parse(json)) };
  }

  /**
   * Calls `onChange` when the target's envelope changes, or after `timeoutMs`. Returns a
   * cancel function for when the client goes away first.
   */
  waitForChange(targetId: string, timeoutMs: number, onChange: () => void): () => void {
    return this.waiters.wait(targetId, timeoutMs, onChange);
  }

  /** How many targets have an agent's long-poll waiting now. */
  waitingAgents(): number {
    return this.waiters.targets;
  }

  /** Wakes every waiter: used on shutdown so long-polls end promptly. */
  wakeAll(): void {
    this.waiters.wakeAll();
  }

  /**
   * The drift part of a new envelope for this target: the policy in force and the holds of
   * the open incidents that select it now, so that a target that matches an open incident's
   * selector later gets its hold with its next envelope.
   */
  private driftNow(targetId: string): EnvelopeDrift {
    const signedPolicy = this.deps.policySets.envelopePart(targetId);
    const { digest, policy } = this.deps.policies.current();
    return {
      holds: this.deps.holds.holdsFor(targetId),
      ...(this.carriesPolicyWhole(targetId) ? { driftPolicy: policy } : { driftPolicyDigest: digest }),
      ...(signedPolicy === undefined
        ? {}
        : {
            policySet: signedPolicy.policySet as Record<string, unknown>,
            target: signedPolicy.target as Record<string, unknown>,
          }),
    };
  }

  /** Whether a new envelope for the target carries the drift policy whole (see {@link EnvelopeDriftPolicy}). */
  private carriesPolicyWhole(targetId: string): boolean {
    switch (this.deps.envelopeDriftPolicy) {
      case 'digest':
        return false;
      case 'inline':
        return true;
      case 'auto':
        return !this.deps.targets.readsDriftPolicyDigest(targetId);
    }
  }

  /** Signs an envelope; its drift part is `drift` when given, else what is in force now. */
  private sign(
    targetId: string,
    generation: number,
    bundles: readonly ReleaseRef[],
    drift?: EnvelopeDrift,
    policy?: readonly Record<string, unknown>[],
    ttlMs: number = this.deps.envelopeTtlMs,
  ): SignedEnvelope {
    const now = this.deps.clock();
    const part = drift ?? this.driftNow(targetId);
    const envelope: Envelope = {
      apiVersion: API_VERSION,
      kind: 'Envelope',
      targetId,
      generation,
      bundles: bundles.map((ref) => ({ ...releaseRefOf(ref), size: this.deps.releases.sizeOf(ref.digest) })),
      holds: [...part.holds],
      ...(part.driftPolicy === undefined ? {} : { driftPolicy: part.driftPolicy }),
      ...(part.driftPolicyDigest === undefined ? {} : { driftPolicyDigest: part.driftPolicyDigest }),
      ...(part.revert === undefined ? {} : { revert: [...part.revert] }),
      ...(policy === undefined ? {} : { policy: [...policy] }),
      ...(part.policySet === undefined ? {} : { policySet: part.policySet }),
      ...(part.target === undefined ? {} : { target: part.target }),
      trustRootVersion: this.deps.trust.trustRoot.version,
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlMs).toISOString(),
    };
    const signature = signPayload('envelope', envelope, this.deps.keys.hub);
    this.deps.metrics?.envelopeIssued();
    return { envelope, signature };
  }
}
