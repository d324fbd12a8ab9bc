import type { ReleaseRef, TargetStatus } from '@flotilla/protocol';
import { parseQuery, type Query } from '@flotilla/protocol/query';
import type { MemberState } from '@flotilla/protocol/api';
import type { EnvelopePolicy } from '@flotilla/protocol/policy';
import { classifyMember } from './member-state.ts';
import type { RolloutPlan } from './rollout-plan.ts';
import type { MemberTargetRow, RolloutRow, RolloutStore, SelectedRow, WaveRow } from './rollout-store.ts';
import { StoreSelection, type RolloutSelection } from './rollout-selection.ts';
import { firstWave, percentCutoff, type PositionCache, type WaveCriterion } from './wave-planner.ts';

/** A recorded member, classified from its target's latest report. */
export interface EvaluatedMember {
  readonly targetId: string;
  readonly name: string;
  readonly wave: number;
  readonly generation: number;
  /** Its envelope is signed; until then it is pending and a rollback has nothing to undo. */
  readonly issued: boolean;
  readonly state: MemberState;
  /** The latest report names the release digest at (or after) the generation that carries it. */
  readonly applied: boolean;
  readonly reason?: string;
  readonly previous: ReleaseRef | null;
  readonly rolledBack: boolean;
  readonly status: TargetStatus;
  /** The target's desired state still carries this rollout's release (nobody changed it since). */
  readonly carriesRelease: boolean;
}

/** A selected target the rollout has not updated, and the first wave that includes it. */
export interface Candidate {
  readonly targetId: string;
  readonly name: string;
  readonly status: TargetStatus;
  readonly wave: number;
}

/** A rollout's row with its parsed plan, release and queries. */
export interface LoadedRollout {
  readonly row: RolloutRow;
  readonly plan: RolloutPlan;
  readonly release: ReleaseRef;
  readonly query: Query;
  /** Per wave: the query of a selector wave (already narrowed by the rollout's), else undefined. */
  readonly waveQueries: readonly (Query | undefined)[];
}

/**
 * How much to read. `full`: every selected target, with the wave each falls in and live
 * cut-offs for waves not started — for wave starts, status and dry runs. `reached`: only the
 * selected targets that are not members yet and fall in a wave already started — what a
 * routine reconcile pass needs, at a fraction of the cost on a large fleet.
 */
export type EvaluationScope = 'full' | 'reached';

/** Everything decided from the store about one rollout at one moment. */
export interface RolloutEvaluation {
  readonly rollout: LoadedRollout;
  readonly scope: EvaluationScope;
  readonly waves: readonly WaveRow[];
  /** How many targets the selector matches now (revoked ones left out); `full` scope only, else -1. */
  readonly selected: number;
  readonly members: readonly EvaluatedMember[];
  /** Selected targets not yet updated that some wave includes (in `reached` scope, a wave already started). */
  readonly candidates: readonly Candidate[];
  /** Selected targets that no wave includes (a plan whose last wave is below 100%); `full` scope only. */
  readonly outside: number;
  /** The percentage cut-offs in force: stored for started waves, computed now for the rest (`full` scope). */
  readonly cutoffs: readonly (number | undefined)[];
}

/**
 * Parses what a rollout row stores, once per rollout: rows never change their release,
 * selector or plan, so the memo needs no invalidation and survives nothing it should not.
 */
export class RolloutLoader {
  private readonly loaded = new Map<string, Omit<LoadedRollout, 'row'>>();

  load(row: RolloutRow): LoadedRollout {
    let parsed = this.loaded.get(row.id);
    if (parsed === undefined) {
      const plan = row.plan;
      const query = parseQuery(row.selector);
      parsed = {
        plan,
        release: { name: row.release_name, version: row.release_version, digest: row.release_digest },
        query,
        waveQueries: plan.waves.map((wave): Query | undefined =>
          wave.selector === undefined ? undefined : { kind: 'and', items: [query, parseQuery(wave.selector)] },
        ),
      };
      this.loaded.set(row.id, parsed);
    }
    return { row, ...parsed };
  }

  forget(id: string): void {
    this.loaded.delete(id);
  }
}

export interface EvaluationDeps {
  readonly rollouts: RolloutStore;
  readonly positions: PositionCache;
  readonly members: MemberCache;
  /** Where selectors are answered; default the store's target rows. */
  readonly selection?: RolloutSelection;
}

function selectionOf(deps: EvaluationDeps): RolloutSelection {
  return deps.selection ?? new StoreSelection(deps.rollouts);
}

/**
 * Reads one rollout's world: its members classified from their latest reports, and the
 * selected targets it has not updated with the wave each falls in. Percentage waves use the
 * cut-off stored when they started, and for waves still to come the cut-off over the targets
 * selected now. Candidates are computed only for running and paused rollouts: a finished
 * rollout adopts no one.
 */
export function evaluateRollout(
  deps: EvaluationDeps,
  rollout: LoadedRollout,
  now: number,
  scope: EvaluationScope = 'full',
): RolloutEvaluation {
  const { row, plan } = rollout;
  const waves = deps.rollouts.waves(row.id);
  const members = deps.members.members(deps.rollouts, rollout);
  const active = row.state === 'running' || row.state === 'paused';
  if (scope === 'reached' && row.current_wave >= 0) return reached(deps, rollout, now, waves, members, active);
  const selection = selectionOf(deps);
  const selectedRows = selection.selected(rollout.query, now);
  const memberIds = new Set(members.map((m) => m.targetId));
  const cutoffs: (number | undefined)[] = [];
  const criteria: WaveCriterion[] = [];
  let positions: number[] | undefined;
  plan.waves.forEach((wave, i) => {
    if (wave.percent !== undefined) {
      const stored = waves[i]?.cutoff;
      positions ??= selectedRows.map((t) => deps.positions.position(row.id, t.id));
      const cutoff = stored ?? percentCutoff(positions, wave.percent);
      cutoffs.push(cutoff);
      criteria.push({ kind: 'percent', cutoff });
    } else {
      cutoffs.push(undefined);
      const matches = active
        ? new Set(selection.selected(rollout.waveQueries[i]!, now).map((t) => t.id))
        : new Set<string>();
      criteria.push({ kind: 'selector', matches });
    }
  });
  const candidates: Candidate[] = [];
  let outside = 0;
  if (active) {
    for (const target of selectedRows) {
      if (memberIds.has(target.id)) continue;
      const wave = firstWave(target.id, deps.positions.position(row.id, target.id), criteria);
      if (wave === undefined) outside++;
      else candidates.push({ targetId: target.id, name: target.name, status: target.status, wave });
    }
  }
  return { rollout, scope: 'full', waves, selected: selectedRows.length, members, candidates, outside, cutoffs };
}

/** The `reached` scope: non-members in waves already started, by their stored criteria. */
function reached(
  deps: EvaluationDeps,
  rollout: LoadedRollout,
  now: number,
  waves: readonly WaveRow[],
  members: readonly EvaluatedMember[],
  active: boolean,
): RolloutEvaluation {
  const { plan } = rollout;
  const cutoffs = plan.waves.map((wave, i) =>
    wave.percent === undefined ? undefined : (waves[i]?.cutoff ?? undefined),
  );
  let candidates: Candidate[] = [];
  if (active) {
    const selection = selectionOf(deps);
    const memberIds = new Set(members.map((m) => m.targetId));
    const outsiders = selection.selectedExcept(rollout.query, now, (id) => memberIds.has(id));
    candidates = inStartedWaves(deps, rollout, waves, outsiders, (query) => selection.selected(query, now));
  }
  return { rollout, scope: 'reached', waves, selected: -1, members, candidates, outside: 0, cutoffs };
}

/**
 * Those of `outsiders` (selected targets not members yet) that a wave already started
 * includes, each with the first such wave, in the order given; `selects` answers a selector
 * wave's query for them (over the fleet, or over these targets alone).
 */
function inStartedWaves(
  deps: EvaluationDeps,
  rollout: LoadedRollout,
  waves: readonly WaveRow[],
  outsiders: readonly SelectedRow[],
  selects: (query: Query) => readonly SelectedRow[],
): Candidate[] {
  if (outsiders.length === 0) return [];
  const { row, plan } = rollout;
  const criteria: WaveCriterion[] = plan.waves
    .slice(0, row.current_wave + 1)
    .map((wave, i) =>
      wave.percent !== undefined
        ? { kind: 'percent', cutoff: waves[i]!.cutoff! }
        : { kind: 'selector', matches: new Set(selects(rollout.waveQueries[i]!).map((t) => t.id)) },
    );
  const candidates: Candidate[] = [];
  for (const target of outsiders) {
    const wave = firstWave(target.id, deps.positions.position(row.id, target.id), criteria);
    if (wave !== undefined) candidates.push({ targetId: target.id, name: target.name, status: target.status, wave });
  }
  return candidates;
}

/**
 * The candidates among `targetIds` as a `reached` evaluation would find them now, in the order
 * given: those the rollout's selector still selects (revoked ones left out), that are not members
 * yet, and that a wave already started includes, each with the first such wave. What a slice of
 * a wave being recorded re-checks, at the cost of the slice rather than of the fleet.
 */
export function candidatesAmong(
  deps: EvaluationDeps,
  rollout: LoadedRollout,
  now: number,
  targetIds: readonly string[],
): Candidate[] {
  const { row } = rollout;
  const selection = selectionOf(deps);
  const members = deps.rollouts.membersAmong(row.id, targetIds);
  const outsiders = selection.among(
    rollout.query,
    now,
    targetIds.filter((id) => !members.has(id)),
  );
  if (outsiders.length === 0) return [];
  const ids = outsiders.map((t) => t.id);
  return inStartedWaves(deps, rollout, deps.rollouts.waves(row.id), outsiders, (query) =>
    selection.among(query, now, ids),
  );
}

/** Member changes one page of a sliced catch-up takes in. */
const CHANGES_PAGE = 512;

/**
 * Classified members per rollout, kept in memory and brought up to date on each read from
 * the store's record of member changes (`rollout_member_changes`, migration 036): a pass
 * re-reads only the members whose target reported, changed generation or status, or whose
 * member row changed since the last pass, not every member of an 18,000-target rollout.
 *
 * Only what was read outside a transaction is kept: inside one (a controller step), what is
 * read may yet roll back, so the changes since the kept state are laid over it for that read
 * alone. Only running and paused rollouts are kept (their targets' changes are the ones
 * recorded); a finished one is read whole each time. Derived from the store alone, so an
 * empty cache after a restart is merely slower once.
 */
export class MemberCache {
  private readonly byRollout = new Map<string, RolloutMembers>();
  /** The last member change taken in; undefined until the first read outside a transaction. */
  private cursor: number | undefined;
  /** The change up to which the store's record is known to be deleted. */
  private prunedTo: number | undefined;
  private readonly keeps: () => boolean;

  /**
   * `keeps`: whether to keep members at all. The record of member changes is read once and
   * deleted, so with replicas only the lease holder keeps them (replicas/replica-lease.ts);
   * the others read members whole, and a new holder starts over.
   */
  constructor(keeps: () => boolean = () => true) {
    this.keeps = keeps;
  }

  members(rollouts: RolloutStore, rollout: LoadedRollout): EvaluatedMember[] {
    const id = rollout.row.id;
    if (rollout.row.state !== 'running' && rollout.row.state !== 'paused') {
      this.byRollout.delete(id);
      return RolloutMembers.read(rollouts, rollout).list();
    }
    if (!this.keeps()) {
      this.reset();
      return RolloutMembers.read(rollouts, rollout).list();
    }
    if (rollouts.inTransaction) {
      const kept = this.byRollout.get(id);
      if (kept === undefined || this.cursor === undefined) return RolloutMembers.read(rollouts, rollout).list();
      const changed = new Set(rollouts.changesSince(this.cursor).map((c) => c.target_id));
      // Those named only: the step's own writes (a slice of members recorded) must not cost a read of every member.
      return changed.size === 0 ? kept.list() : kept.copy().apply(rollouts, changed, true).list();
    }
    this.catchUp(rollouts);
    let kept = this.byRollout.get(id);
    if (kept === undefined) {
      kept = RolloutMembers.read(rollouts, rollout);
      this.byRollout.set(id, kept);
    }
    return kept.list();
  }

  forget(id: string): void {
    this.byRollout.delete(id);
  }

  /**
   * Outside a transaction: takes in the member changes since the last, then deletes them from
   * the store (a page at a time: see {@link RolloutStore.pruneChanges}); true when none is left
   * to take in. With a `deadline` (a `performance.now()` time) it takes
   * them a page at a time, re-reading only the changed members, and stops at the first page
   * past it: a wave's start or envelopes change thousands of members, and a caller that can
   * yield catches up in slices before its next step rather than inside it.
   */
  catchUp(rollouts: RolloutStore, deadline = Number.POSITIVE_INFINITY): boolean {
    if (!this.keeps()) {
      this.reset();
      return true;
    }
    if (this.cursor === undefined) {
      this.cursor = rollouts.lastChange();
      return true;
    }
    const paged = Number.isFinite(deadline);
    let done = false;
    while (!done) {
      const changes = rollouts.changesSince(this.cursor, paged ? CHANGES_PAGE : undefined);
      if (changes.length === 0) {
        done = true;
        break;
      }
      const changed = new Set(changes.map((c) => c.target_id));
      for (const kept of this.byRollout.values()) kept.apply(rollouts, changed, paged);
      this.cursor = changes.at(-1)!.seq;
      if (!paged || changes.length < CHANGES_PAGE) done = true;
      else if (performance.now() >= deadline) break;
    }
    // A page at a time, and again at later catch-ups until every change taken in is gone.
    if (this.cursor !== this.prunedTo && rollouts.pruneChanges(this.cursor)) this.prunedTo = this.cursor;
    return done;
  }

  private reset(): void {
    this.byRollout.clear();
    this.cursor = undefined;
    this.prunedTo = undefined;
  }
}

/** One rollout's classified members, by target, listed in target order as the store keeps them. */
class RolloutMembers {
  private readonly rollout: LoadedRollout;
  private readonly byTarget: Map<string, EvaluatedMember>;
  private order: string[] | undefined;

  private constructor(rollout: LoadedRollout, byTarget: Map<string, EvaluatedMember>) {
    this.rollout = rollout;
    this.byTarget = byTarget;
  }

  static read(rollouts: RolloutStore, rollout: LoadedRollout): RolloutMembers {
    const rows = rollouts.members(rollout.row.id);
    return new RolloutMembers(
      rollout,
      new Map(rows.map((row) => [row.target_id, evaluateMember(row, rollout.release)])),
    );
  }

  copy(): RolloutMembers {
    return new RolloutMembers(this.rollout, new Map(this.byTarget));
  }

  /**
   * Re-reads the members of the `changed` targets: all of them in one scan when many changed,
   * unless `paged` (a page of a sliced catch-up, which must cost what the page does: the
   * store may hold far more members than are kept, a whole wave recorded since), else those
   * named, in one read: a slice of a wave just recorded is a thousand of them.
   */
  apply(rollouts: RolloutStore, changed: ReadonlySet<string>, paged = false): this {
    const { row, release } = this.rollout;
    const many = changed.size > Math.max(64, this.byTarget.size / 8);
    const rows =
      many && !paged
        ? rollouts.members(row.id).filter((r) => changed.has(r.target_id))
        : rollouts.membersOf(row.id, [...changed]);
    const present = new Set(rows.map((r) => r.target_id));
    for (const target of changed) if (!present.has(target)) this.remove(target);
    for (const member of rows) this.put(member.target_id, evaluateMember(member, release));
    return this;
  }

  list(): EvaluatedMember[] {
    this.order ??= [...this.byTarget.keys()].sort();
    return this.order.map((target) => this.byTarget.get(target)!);
  }

  private put(target: string, member: EvaluatedMember): void {
    if (!this.byTarget.has(target)) this.order = undefined;
    this.byTarget.set(target, member);
  }

  private remove(target: string): void {
    if (this.byTarget.delete(target)) this.order = undefined;
  }
}

function evaluateMember(m: MemberTargetRow, release: ReleaseRef): EvaluatedMember {
  const previous = m.previous;
  const desired = m.desired_bundles;
  const classified = classifyMember({
    release,
    generation: m.generation,
    issued: m.issued === 1,
    status: m.status,
    desired,
    observed: m.observed,
    previous,
    rolledBackGeneration: m.rolled_back_generation,
  });
  return {
    targetId: m.target_id,
    name: m.name,
    wave: m.wave,
    generation: m.generation,
    issued: m.issued === 1,
    state: classified.state,
    applied: classified.applied,
    ...(classified.reason === undefined ? {} : { reason: classified.reason }),
    previous,
    rolledBack: m.rolled_back_generation !== null,
    status: m.status,
    carriesRelease: desired.some((b) => b.digest === release.digest),
  };
}

/** Why policy keeps a target out of a rollout for now (docs/policy.md). */
export interface PolicyHold {
  /** `awaiting-approval: …`, `blocked: window …` or `excluded by policy: …`. */
  readonly reason: string;
  /** A missing approval or a closed window, which pass with time: the wave waits for it. */
  readonly waits: boolean;
  /** For a closed window: when it opens next (epoch ms), so the controller looks again then. */
  readonly opensAt?: number;
}

/** Policy's say on each target of a rollout (the policy feature). */
export interface RolloutPolicy {
  /**
   * Whether any policy is in force: when none is, no target is held, and a pass over 18,000
   * candidates asks this once rather than once per target (each asking the store).
   */
  governs(): boolean;
  hold(
    rollout: { readonly id: string; readonly author: string; readonly release: ReleaseRef },
    targetId: string,
  ): PolicyHold | undefined;
  /** The policy section the envelope that brings the release to this target carries, if any policy governs it. */
  section(
    rollout: { readonly id: string; readonly author: string; readonly release: ReleaseRef },
    targetId: string,
  ): EnvelopePolicy | undefined;
}

/** The policy when it governs anything, else undefined: what a pass over many candidates asks once at its start. */
export function inForce(policy: RolloutPolicy | undefined): RolloutPolicy | undefined {
  return policy?.governs() === true ? policy : undefined;
}

function policyHold(
  policy: RolloutPolicy | undefined,
  rollout: LoadedRollout,
  targetId: string,
): PolicyHold | undefined {
  return policy?.hold({ id: rollout.row.id, author: rollout.row.created_by.id, release: rollout.release }, targetId);
}

/**
 * Why a candidate in a wave that has started cannot be updated, or undefined when it can
 * (`holders`: {@link RolloutStore.holders}, read once for many candidates):
 * disabled, already updated by another running or paused rollout of the same release, or
 * held by policy (waiting for approvals or its change window, or excluded).
 */
export function blockReason(
  rollouts: RolloutStore,
  rollout: LoadedRollout,
  candidate: Candidate,
  policy?: RolloutPolicy,
  holders?: ReadonlyMap<string, string>,
): string | undefined {
  if (candidate.status !== 'active') return `the target is ${candidate.status}`;
  const holder =
    holders === undefined
      ? rollouts.holder(candidate.targetId, rollout.release.name, rollout.row.id)
      : holders.get(candidate.targetId);
  if (holder !== undefined) return `held by rollout ${holder} of the same release ${rollout.release.name}`;
  return policyHold(policy, rollout, candidate.targetId)?.reason;
}

/** Whether a candidate in waves up to `throughWave` waits for an approval or a window: the wave does not pass until it is through. */
export function waitsOnPolicy(evaluation: RolloutEvaluation, throughWave: number, given?: RolloutPolicy): boolean {
  const policy = inForce(given);
  if (policy === undefined) return false;
  return evaluation.candidates.some(
    (c) =>
      c.wave <= throughWave &&
      c.status === 'active' &&
      policyHold(policy, evaluation.rollout, c.targetId)?.waits === true,
  );
}

/**
 * The earliest time a closed window opens for a candidate in waves up to `throughWave`, or
 * undefined: the controller reconciles again then, so the change goes out by itself.
 */
export function policyWakeAt(
  evaluation: RolloutEvaluation,
  throughWave: number,
  given?: RolloutPolicy,
): number | undefined {
  const policy = inForce(given);
  if (policy === undefined) return undefined;
  let earliest: number | undefined;
  for (const c of evaluation.candidates) {
    if (c.wave > throughWave || c.status !== 'active') continue;
    const opensAt = policyHold(policy, evaluation.rollout, c.targetId)?.opensAt;
    if (opensAt !== undefined && (earliest === undefined || opensAt < earliest)) earliest = opensAt;
  }
  return earliest;
}
