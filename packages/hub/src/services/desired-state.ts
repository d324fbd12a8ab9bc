import { API_VERSION, canonicalize, FlotillaError, signPayload, type Actor, type DriftPolicy, type DriftRevert, type Envelope, type Hold, type ReleaseRef, type SignedEnvelope } from '@flotilla/protocol';
import type { HubStore } from '../store/hub-store.ts';
import type { AuditSink } from './audit-sink.ts';
import type { Clock } from './clock.ts';
import type { TargetCache, TargetState } from './target-cache.ts';
import type { HubKeys, TrustService } from './trust.ts';

export const DEFAULT_ENVELOPE_TTL_MS = 24 * 60 * 60_000;

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
}

/** The drift rules and holds an envelope carries: decided when it is signed (services/drift). */
export interface EnvelopeDrift {
  readonly holds: readonly Hold[];
  readonly driftPolicy?: DriftPolicy;
}

/** Where the drift part of each new envelope comes from; without one, envelopes carry no holds and no policy. */
export interface EnvelopeDriftSource {
  envelopeDrift(targetId: string): EnvelopeDrift;
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
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly store: HubStore;
  private readonly trust: TrustService;
  private readonly targets: TargetCache;
  private readonly audit: AuditSink;
  private readonly clock: Clock;
  private readonly keys: HubKeys;
  private readonly envelopeTtlMs: number;
  private driftSource: EnvelopeDriftSource | undefined;

  constructor(
    store: HubStore,
    trust: TrustService,
    targets: TargetCache,
    audit: AuditSink,
    clock: Clock,
    keys: HubKeys,
    envelopeTtlMs: number = DEFAULT_ENVELOPE_TTL_MS,
  ) {
    this.store = store;
    this.trust = trust;
    this.targets = targets;
    this.audit = audit;
    this.clock = clock;
    this.keys = keys;
    this.envelopeTtlMs = envelopeTtlMs;
  }

  /** Sets where envelopes get their drift policy and holds; wired once by `createHub`. */
  useDriftSource(source: EnvelopeDriftSource): void {
    this.driftSource = source;
  }

  /**
   * Signs a new generation of the target's envelope with the same releases, because its drift
   * part changed: the policy, the holds in force, or an operator's revert request (`revert`, carried
   * by this generation only). Must run inside `store.transaction`; neither audits nor wakes the
   * agent: the caller audits in the same transaction and calls {@link announce} after commit.
   * Unchanged (no new generation) when the target has no envelope yet, or when nothing would
   * differ from the envelope it has.
   *
   * The target's `lastChanged` moves only with `changedBy` (an operator's request about this
   * target); a fleet-wide policy change or an incident's hold leaves it, so that "not touched in
   * 30 days" keeps meaning what operators did to the target.
   */
  reissue(targetId: string, options: { readonly revert?: readonly DriftRevert[]; readonly changedBy?: Actor } = {}): { readonly changed: boolean; readonly generation: number } {
    const { revert, changedBy } = options;
    if (!this.store.db.inTransaction) throw new TypeError('DesiredStateService.reissue must run inside store.transaction');
    const row = this.store.targetRow(targetId);
    if (row === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    if (row.envelope === null || row.status === 'revoked') return { changed: false, generation: row.desired_generation };
    const { envelope } = JSON.parse(row.envelope) as SignedEnvelope;
    const drift = this.driftSource?.envelopeDrift(targetId) ?? { holds: [] };
    const same = canonicalize({ holds: drift.holds, policy: drift.driftPolicy ?? null }) === canonicalize({ holds: envelope.holds, policy: envelope.driftPolicy ?? null });
    if (same && (revert === undefined || revert.length === 0) && envelope.revert === undefined) return { changed: false, generation: row.desired_generation };
    const bundles = JSON.parse(row.desired_bundles) as ReleaseRef[];
    const generation = row.desired_generation + 1;
    const envelopeNow = this.sign(targetId, generation, bundles, { ...drift, ...(revert === undefined || revert.length === 0 ? {} : { revert }) });
    if (changedBy !== undefined) this.store.setDesired(targetId, generation, bundles, envelopeNow, this.clock(), changedBy);
    else this.store.setDesired(targetId, generation, bundles, envelopeNow, row.last_changed_at, JSON.parse(row.last_changed_by) as Actor);
    return { changed: true, generation };
  }

  /** Resolves `name@version` or a digest to a published release. */
  resolveRelease(ref: string): ReleaseRef {
    if (ref.startsWith('sha256:')) {
      const json = this.store.bundleJson(ref);
      if (json === undefined) throw new FlotillaError('NOT_FOUND', `no bundle with digest ${ref} has been published`);
      const { bundle } = JSON.parse(json) as { bundle: { name: string; version: string } };
      return { name: bundle.name, version: bundle.version, digest: ref };
    }
    const at = ref.lastIndexOf('@');
    if (at <= 0) throw new FlotillaError('VALIDATION_FAILED', `release reference '${ref}' is neither name@version nor a sha256: digest`);
    const found = this.store.bundleByVersion(ref.slice(0, at), ref.slice(at + 1));
    if (found === undefined) throw new FlotillaError('NOT_FOUND', `release ${ref} has not been published; publish it with 'flotilla release publish'`);
    return { name: found.signed.bundle.name, version: found.signed.bundle.version, digest: found.digest };
  }

  /** Sets the releases a target should run; the envelope's generation goes up by one. */
  assign(targetId: string, refs: readonly string[], actor: Actor): { generation: number; bundles: ReleaseRef[] } {
    const bundles = refs.map((ref) => this.resolveRelease(ref));
    const names = new Set<string>();
    for (const bundle of bundles) {
      if (names.has(bundle.name)) throw new FlotillaError('CONFLICT', `release ${bundle.name} is named twice; a target runs one version of each release`);
      names.add(bundle.name);
    }
    const result = this.store.transaction(() => {
      const row = this.store.targetRow(targetId);
      if (row === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
      if (row.status === 'revoked') throw new FlotillaError('CONFLICT', `target ${targetId} is revoked; it will never fetch desired state again`);
      const generation = row.desired_generation + 1;
      const envelope = this.sign(targetId, generation, bundles);
      const now = this.clock();
      this.store.setDesired(targetId, generation, bundles, envelope, now, actor);
      this.audit.append({ actor, action: 'target.assign', subjects: [targetId], outcome: 'success', details: { generation, releases: bundles.map((b) => `${b.name}@${b.version}`), digests: bundles.map((b) => b.digest) } });
      return { generation, bundles };
    });
    this.targets.invalidate(targetId);
    this.notify(targetId);
    return result;
  }

  /**
   * Sets the release called `name` on one target, leaving its other releases alone: `ref`
   * (`name@version` or a digest) replaces the version it runs, or adds it; null removes it.
   * The generation goes up by one only when something changed. Audited as `target.set-release`.
   *
   * @example desired.setRelease(id, 'monitoring', 'monitoring@2.1.0', actor)
   */
  setRelease(targetId: string, name: string, ref: string | null, actor: Actor): { generation: number; bundles: ReleaseRef[]; changed: boolean } {
    const release = ref === null ? null : this.resolveRelease(ref);
    if (release !== null && release.name !== name) throw new FlotillaError('VALIDATION_FAILED', `${ref} is a release of ${release.name}, not of ${name}`);
    const staged = this.store.transaction(() => {
      const result = this.stageRelease(targetId, name, release, actor);
      if (result.changed) {
        this.audit.append({ actor, action: 'target.set-release', subjects: [targetId], outcome: 'success', details: { name, from: refText(result.previous), to: refText(release), digest: release?.digest ?? null, generation: result.generation } });
      }
      return result;
    });
    if (staged.changed) this.announce([targetId]);
    return { generation: staged.generation, bundles: staged.bundles, changed: staged.changed };
  }

  /**
   * The transactional core of {@link setRelease} for callers that change many targets in one
   * transaction of their own (rollouts): it must run inside `store.transaction`, writes the
   * new envelope, and neither audits nor wakes agents. The caller audits in the same
   * transaction and calls {@link announce} after it commits.
   */
  stageRelease(targetId: string, name: string, release: ReleaseRef | null, actor: Actor): StagedRelease {
    if (!this.store.db.inTransaction) throw new TypeError('DesiredStateService.stageRelease must run inside store.transaction; use setRelease otherwise');
    const row = this.store.targetRow(targetId);
    if (row === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
    if (row.status === 'revoked') throw new FlotillaError('CONFLICT', `target ${targetId} is revoked; it will never fetch desired state again`);
    const current = JSON.parse(row.desired_bundles) as ReleaseRef[];
    const previous = current.find((b) => b.name === name) ?? null;
    if (previous?.digest === release?.digest) {
      return { targetId, changed: false, generation: row.desired_generation, previous, bundles: current };
    }
    // Replaced in place or appended, so the envelope's order of releases stays stable.
    const bundles = release === null ? current.filter((b) => b.name !== name) : previous === null ? [...current, release] : current.map((b) => (b.name === name ? release : b));
    const generation = row.desired_generation + 1;
    this.store.setDesired(targetId, generation, bundles, this.sign(targetId, generation, bundles), this.clock(), actor);
    return { targetId, changed: true, generation, previous, bundles };
  }

  /** After a transaction of {@link stageRelease} calls committed: drops cached states and wakes the agents' long-polls. */
  announce(targetIds: Iterable<string>): void {
    for (const id of targetIds) {
      this.targets.invalidate(id);
      this.notify(id);
    }
  }

  /** The target's current state, with its envelope re-signed if it is past half its life. */
  current(targetId: string): TargetState | undefined {
    const state = this.targets.get(targetId);
    if (state?.envelopeJson === undefined) return state;
    const now = this.clock();
    if (state.envelopeExpiresAt - now > this.envelopeTtlMs / 2) return state;
    const { envelope } = JSON.parse(state.envelopeJson) as SignedEnvelope;
    // A fresh signature over the same generation carries the same drift part.
    const carried = { holds: envelope.holds, ...(envelope.driftPolicy === undefined ? {} : { driftPolicy: envelope.driftPolicy }), ...(envelope.revert === undefined ? {} : { revert: envelope.revert }) };
    this.store.setEnvelope(targetId, this.sign(targetId, envelope.generation, envelope.bundles, carried));
    this.targets.invalidate(targetId);
    this.notify(targetId);
    return this.targets.get(targetId);
  }

  /**
   * Resolves when the target's envelope no longer has `etag`, or after `timeoutMs`. Returns
   * a cancel function for when the client goes away first.
   */
  waitForChange(targetId: string, timeoutMs: number, onChange: () => void): () => void {
    let set = this.waiters.get(targetId);
    if (set === undefined) {
      set = new Set();
      this.waiters.set(targetId, set);
    }
    const waiters = set;
    const done = (): void => {
      clearTimeout(timer);
      waiters.delete(done);
      if (waiters.size === 0 && this.waiters.get(targetId) === waiters) this.waiters.delete(targetId);
      onChange();
    };
    const timer = setTimeout(done, timeoutMs);
    waiters.add(done);
    return () => {
      clearTimeout(timer);
      waiters.delete(done);
      if (waiters.size === 0 && this.waiters.get(targetId) === waiters) this.waiters.delete(targetId);
    };
  }

  /** Wakes every waiter: used on shutdown so long-polls end promptly. */
  wakeAll(): void {
    for (const id of [...this.waiters.keys()]) this.notify(id);
  }

  private notify(targetId: string): void {
    const set = this.waiters.get(targetId);
    if (set === undefined) return;
    for (const waiter of [...set]) waiter();
  }

  /**
   * Signs an envelope. Its drift part is `drift` when given, else what the drift source says
   * now: the policy and the holds in force for this target, evaluated at every signing so that
   * a target that matches an open incident's selector later gets its hold too.
   */
  private sign(targetId: string, generation: number, bundles: readonly ReleaseRef[], drift?: EnvelopeDrift & { readonly revert?: readonly DriftRevert[] }): SignedEnvelope {
    const now = this.clock();
    const part: EnvelopeDrift & { readonly revert?: readonly DriftRevert[] } = drift ?? this.driftSource?.envelopeDrift(targetId) ?? { holds: [] };
    const envelope: Envelope = {
      apiVersion: API_VERSION,
      kind: 'Envelope',
      targetId,
      generation,
      bundles: [...bundles],
      holds: [...part.holds],
      ...(part.driftPolicy === undefined ? {} : { driftPolicy: part.driftPolicy }),
      ...(part.revert === undefined ? {} : { revert: [...part.revert] }),
      trustRootVersion: this.trust.trustRoot.version,
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.envelopeTtlMs).toISOString(),
    };
    return { envelope, signature: signPayload('envelope', envelope, this.keys.hub) };
  }
}
