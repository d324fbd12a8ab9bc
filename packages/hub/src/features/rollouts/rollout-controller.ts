import type { Logger } from 'pino';
import type { Actor, FaultPoints, ReleaseRef } from '@flotilla/protocol';
import type { EnvelopePolicy } from '@flotilla/protocol/policy';
import { appendInParts } from '../../append-in-parts.ts';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { StagedRelease } from '../desired-state/desired-state-service.ts';
import {
  blockReason,
  inForce,
  policyWakeAt,
  waitsOnPolicy,
  type RolloutPolicy,
  evaluateRollout,
  candidatesAmong,
  type Candidate,
  type EvaluatedMember,
  type LoadedRollout,
  type MemberCache,
  type RolloutEvaluation,
  type RolloutLoader,
} from './rollout-evaluation.ts';
import { allowedFailures, formatDuration, formatFailureBudget, waveGates, waveSpecText } from './rollout-plan.ts';
import type { RolloutRow, RolloutStore } from './rollout-store.ts';
import { evaluateGate, type GateCounts, type GateDecision } from './wave-gate.ts';
import type { PositionCache } from './wave-planner.ts';
import type { BackgroundFailures } from '../../store/store-health.ts';
import { WaveIssuer } from './wave-issuer.ts';
import type { RolloutSelection } from './rollout-selection.ts';
import { SOLE_REPLICA, type OnceOnly } from '../replicas/replica-lease.ts';
import { TURN_BUDGET_MS, TurnBudget } from '../../turn-budget.ts';

/** The actor of every step the hub takes by itself. */
const ROLLOUT_CONTROLLER: Actor = { kind: 'system', id: 'rollout-controller' };

/** Audit entries name at most this many targets; a bigger step is recorded in parts. */
const SUBJECTS_PER_ENTRY = 1000;
/** A pause names at most this many failed targets in its details. */
const FAILED_LISTED = 20;
/** More steps than this in one reconcile of one rollout means a bug, not progress. */
const MAX_STEPS = 200;
/** Members one step records by default: one audit entry's worth, a few milliseconds of writes. */
export const DEFAULT_ENLIST_SLICE = SUBJECTS_PER_ENTRY;
/** How long one slice of catching up with the store (members, the fleet index) may hold the event loop. */
const CATCH_UP_SLICE_MS = 10;
/** What a step or pass not timed yet is taken to need of a turn: a whole default one. */
const UNTIMED_MS = TURN_BUDGET_MS;

/**
 * Sets one release on many targets inside the controller's transactions, and wakes their
 * agents after each commits (the desired-state feature).
 */
export interface ReleaseStaging {
  stageRelease(
    targetId: string,
    name: string,
    release: ReleaseRef | null,
    actor: Actor,
    policy?: EnvelopePolicy,
  ): StagedRelease;
  /** After commit: the targets' envelopes changed; `told` when their agents were told already (see {@link tell}). */
  announce(targetIds: Iterable<string>, told?: boolean): void;
  /** As {@link announce}, for releases staged in a transaction that committed: served as staged. */
  announceStaged(staged: readonly StagedRelease[], told?: boolean): void;
  /** After commit: the targets' desired state is about to change (a wave took them in); their agents come to fetch it. */
  tell(targetIds: Iterable<string>): void;
}

export interface RolloutControllerDeps {
  readonly tx: Transactions;
  readonly rollouts: RolloutStore;
  readonly desired: ReleaseStaging;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly log: Logger;
  readonly loader: RolloutLoader;
  readonly positions: PositionCache;
  readonly members: MemberCache;
  /** Where selectors are answered (see {@link RolloutSelection}); default the store's target rows. */
  readonly selection?: RolloutSelection;
  /** Test-only crash points: `rollout:before-commit` after a step's writes. */
  readonly faults: FaultPoints;
  /** Where a failed tick goes: a store that cannot write is noted once, not every tick. */
  readonly failures?: BackgroundFailures;
  /** Policy's holds on targets (approvals, windows, placement); none without it. */
  readonly policy?: RolloutPolicy;
  /** The most envelopes one batch of a wave issues before it commits and yields (see {@link WaveIssuer}). */
  readonly issueBatch?: number;
  /** How long a member waits for its agent's fetch before a batch issues it (see {@link WaveIssuer}). */
  readonly issueDelayMs?: number;
  /**
   * The most members one step records (a wave's start, or targets joining it) before it commits
   * and the rest follow in steps of their own, each after a turn of the event loop; default
   * {@link DEFAULT_ENLIST_SLICE}.
   */
  readonly enlistSlice?: number;
  /**
   * Told after commit when a wave's gates are met (its bake starts) or stop holding. Neither
   * is an audited step, yet a page showing the wave's bake clock must hear of both.
   */
  readonly gatesChanged?: (change: WaveGatesChange) => void;
  /**
   * Walking rollouts is once-only work: with replicas only the lease holder's timer, issuer
   * and follow-up reconciles run, and their transactions check its fencing number. A step an
   * operator's command takes inside its own transaction runs on any replica. Default: this
   * hub's alone.
   */
  readonly once?: OnceOnly;
  /**
   * The turn's time shared with the hub's other sliced work: a step that follows a command, a
   * slice of catching up, and the issuer's batches each start only while some is left, and
   * take no more of it than is left. One of its own when not given.
   */
  readonly budget?: TurnBudget;
}

/**
 * The rest of a wave being recorded a slice per step: the candidates in waves up to `wave`, in
 * id order, as the step that started the recording found them, and where the next slice
 * starts. A memo only: each slice re-checks its own targets (see {@link candidatesAmong}), and
 * once the list is spent the next step evaluates the selection again and finds what it missed.
 */
interface KeptSlices {
  readonly wave: number;
  readonly candidates: readonly Candidate[];
  readonly next: number;
}

/** A wave's gates were met (`baking`) or stopped holding (`waiting`). */
export interface WaveGatesChange {
  readonly rollout: string;
  readonly wave: number;
  readonly state: 'baking' | 'waiting';
}

export interface ControllerSchedule {
  /** How often running rollouts are reconciled even when nothing was written; default 5 s. */
  readonly intervalMs?: number;
  /** How often the store is checked for writes (reports, enrollments, label changes); default 250 ms. */
  readonly pollMs?: number;
}

/**
 * Walks rollouts through their waves. Reconciliation is level-based: each step reads the
 * rollout's row, its members and their targets' latest reports from the store, decides
 * from that alone, and commits its transition — the members a wave takes in, the rollout's
 * new state and the audit entries — in one SQLite transaction. The members' envelopes are
 * then issued by the {@link WaveIssuer} in batches of their own, so no step holds the hub for
 * the time it takes to sign thousands of envelopes. Nothing is kept in memory between steps
 * but memos: of immutable data, and of the targets a wave still has to record, which each
 * step checks against the store again. So a hub restarted at any point continues exactly where
 * the last commit left it: no step is lost, none is done twice.
 *
 * It runs on a timer: when anything was written to the store (reports arriving, targets
 * enrolling or relabelled), when a bake or timeout falls due, and at least every
 * `intervalMs`. Decisions use the injected clock, so tests drive bake times and timeouts.
 */
export class RolloutController {
  private readonly deps: RolloutControllerDeps;
  private readonly once: OnceOnly;
  private readonly budget: TurnBudget;
  /** Issues the envelopes of the members the steps record. */
  readonly issuer: WaveIssuer;
  /** Members recorded by steps whose transactions committed (or are about to), not told yet. */
  private untold: string[] = [];
  private nextDeadline = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private passes = 0;
  private busyMs = 0;
  private readonly enlistSlice: number;
  /** Set by a step that recorded a slice of members and left more for the next. */
  private sliced = false;
  /** Per rollout, the rest of the wave whose members its steps are recording (see {@link KeptSlices}). */
  private readonly kept = new Map<string, KeptSlices>();
  /** What the step under way leaves for the next slice (undefined: nothing), kept once its transaction commits. */
  private keeping: { readonly id: string; readonly slices: KeptSlices | undefined } | undefined;
  private selectionCatchUp: (() => void) | undefined;
  /** After {@link stop}: reconciles scheduled for later are dropped (the store may be closing). */
  private halted = false;
  /** The timer's pass waiting for a turn with room for it. */
  private passTurn: (() => void) | undefined;
  /** Rollouts to reconcile after the current turn ({@link reconcileSoon}), each with what cancels it. */
  private readonly soon = new Map<string, () => void>();
  /**
   * How long the last step that followed a command took: the next starts in a turn it fits in.
   * Until one was timed, a default turn's budget ({@link UNTIMED_MS}): an unknown step starts
   * first in a turn.
   */
  private stepMs: number;

  constructor(deps: RolloutControllerDeps) {
    this.deps = deps;
    this.once = deps.once ?? SOLE_REPLICA;
    this.budget = deps.budget ?? new TurnBudget();
    this.stepMs = UNTIMED_MS;
    this.enlistSlice = deps.enlistSlice ?? DEFAULT_ENLIST_SLICE;
    if (!Number.isInteger(this.enlistSlice) || this.enlistSlice < 1)
      throw new TypeError(
        `RolloutController: enlistSlice must be a whole number of at least 1; received ${this.enlistSlice}`,
      );
    this.issuer = new WaveIssuer({
      once: this.once,
      tx: deps.tx,
      rollouts: deps.rollouts,
      desired: deps.desired,
      loader: deps.loader,
      clock: deps.clock,
      log: deps.log,
      actor: ROLLOUT_CONTROLLER,
      faults: deps.faults,
      budget: this.budget,
      ...(deps.failures === undefined ? {} : { failures: deps.failures }),
      ...(deps.policy === undefined ? {} : { policy: deps.policy }),
      ...(deps.issueBatch === undefined ? {} : { batchSize: deps.issueBatch }),
      ...(deps.issueDelayMs === undefined ? {} : { delayMs: deps.issueDelayMs }),
    });
  }

  /** Reconciles every running rollout, oldest first (so the older one wins a target both reach at once). */
  reconcileAll(): void {
    const started = performance.now();
    this.nextDeadline = Number.POSITIVE_INFINITY;
    const running = this.deps.rollouts.running();
    // A list kept for a rollout that stopped running elsewhere (another replica's command) goes; it would be made again.
    for (const id of this.kept.keys()) if (!running.some((row) => row.id === id)) this.kept.delete(id);
    for (const row of running) {
      try {
        this.reconcile(row.id);
      } catch (error) {
        this.deps.log.error({ err: error, rollout: row.id }, 'rollout reconcile failed');
      }
    }
    this.passes++;
    this.busyMs += performance.now() - started;
    this.issuer.kick();
  }

  /** How many reconcile passes ran and the time they took: what rollouts cost the hub. */
  get stats(): { readonly passes: number; readonly busyMs: number } {
    return { passes: this.passes, busyMs: Math.round(this.busyMs) };
  }

  /**
   * Takes steps on one rollout until none applies: joins, gate decisions, wave starts. Outside
   * a transaction it is once-only work: on a replica without the lease it leaves the rollout
   * to the holder's next pass.
   */
  reconcile(id: string): void {
    if (!this.deps.tx.open) {
      this.once.run(() => this.reconcileNow(id));
      return;
    }
    this.reconcileNow(id);
  }

  private reconcileNow(id: string): void {
    // A wave's next slice comes from the list its first step kept and reads no members: what
    // the slices recorded is taken in once the last is, not between each two, so the last
    // notice does not wait for it.
    const slicing = this.kept.has(id);
    // A large change (a wave's members recorded or issued) is taken in over several turns of
    // the event loop; the steps wait for it, as they read what it brings.
    if (!this.caughtUp(!slicing)) {
      this.reconcileSoon(id);
      return;
    }
    if (!slicing) this.catchUp(id);
    for (let steps = 0; this.step(id); steps++) {
      if (steps >= MAX_STEPS) throw new Error(`rollout ${id} took more than ${MAX_STEPS} steps in one reconcile`);
      if (this.sliced || slicing) {
        // More members wait for the next slice, or those recorded for taking in: after other requests have been served.
        this.reconcileSoon(id);
        break;
      }
    }
    this.issuer.kick();
  }

  /**
   * Keeps the selection's index caught up with the store's writes in slices, one per turn of
   * the event loop, so that neither a step's transaction nor an operator's request takes in
   * thousands of rewritten targets at once. Each slice runs with the turn's other sliced work,
   * never in the timer's phase: there it came after the turn before had spent its budget, and
   * the two made one span longer than the budget. A step catches up for itself first.
   */
  private catchUpSelection(): void {
    const selection = this.deps.selection;
    if (selection === undefined || this.selectionCatchUp !== undefined) return;
    this.selectionCatchUp = this.budget.whenRoom(0, () => {
      this.selectionCatchUp = undefined;
      try {
        if (this.budget.time(() => selection.catchUp(this.catchUpDeadline()))) return;
      } catch (error) {
        if (this.deps.failures !== undefined) this.deps.failures.report(error, 'rollout controller');
        else this.deps.log.error({ err: error }, 'catching up the fleet index failed');
        return;
      }
      this.catchUpSelection();
    });
  }

  /**
   * Outside a transaction, one slice of catching up with the store's changes: the selection's
   * index, and unless `members` is false the kept members. True when they are up to date
   * (always, inside a transaction).
   */
  private caughtUp(members: boolean): boolean {
    if (this.deps.tx.open) return true;
    const deadline = this.catchUpDeadline();
    return this.budget.time(() => {
      const selection = this.deps.selection?.catchUp(deadline) ?? true;
      return (!members || this.deps.members.catchUp(this.deps.rollouts, deadline)) && selection;
    });
  }

  /** When a slice of catching up started now stops: at most {@link CATCH_UP_SLICE_MS}, and no later than the turn's budget. */
  private catchUpDeadline(): number {
    return performance.now() + Math.min(CATCH_UP_SLICE_MS, this.budget.left());
  }

  /**
   * Starts the timer. The first reconcile runs now, which is how a restarted hub resumes.
   * The timer does not keep the process alive; {@link stop} ends it.
   */
  start(schedule: ControllerSchedule = {}): void {
    const intervalMs = schedule.intervalMs ?? 5000;
    const pollMs = schedule.pollMs ?? 250;
    if (!Number.isFinite(pollMs) || pollMs < 10)
      throw new TypeError(
        `RolloutController.start: pollMs must be at least 10 (or 0 in createHub's rolloutPollMs, for no timer); received ${String(schedule.pollMs)}`,
      );
    if (!Number.isFinite(intervalMs) || intervalMs < pollMs)
      throw new TypeError(
        `RolloutController.start: intervalMs must be at least pollMs (${pollMs}); received ${String(schedule.intervalMs)}`,
      );
    let lastChanges: number | string | undefined;
    let lastRun = Number.NEGATIVE_INFINITY;
    let holdUntil = 0;
    // How long the last pass that reconciled a running rollout took: the next starts in a turn
    // it fits in. Until one was timed (passes with none running cost nothing), as a step's.
    let passMs = UNTIMED_MS;
    const tick = (): void => {
      // Every replica answers selectors from its own index: each keeps it caught up, not only the lease holder.
      this.catchUpSelection();
      if (!this.once.held()) this.kept.clear();
      // The pass runs with the turn's other sliced work, not in the timer's phase of the turn
      // before it: a pass (40-60 ms at 18,000 members) after a turn's slices made one long span.
      this.passTurn ??= this.budget.whenRoom(
        () => passMs,
        () => {
          this.passTurn = undefined;
          if (!this.halted) void this.once.run(() => this.budget.time(pass));
        },
      );
    };
    const pass = (): void => {
      const now = performance.now();
      if (now < holdUntil) return;
      try {
        // Changes recorded for paused rollouts are taken in (and deleted) even while none runs.
        this.deps.members.catchUp(this.deps.rollouts, this.catchUpDeadline());
        if (!this.deps.rollouts.hasRunning()) return;
        const changes = this.deps.rollouts.changeMark();
        if (changes === lastChanges && now - lastRun < intervalMs && this.deps.clock() < this.nextDeadline) return;
        this.reconcileAll();
        passMs = performance.now() - now;
        lastChanges = this.deps.rollouts.changeMark();
      } catch (error) {
        if (this.deps.failures !== undefined) this.deps.failures.report(error, 'rollout controller');
        else this.deps.log.error({ err: error }, 'rollout controller tick failed');
      }
      lastRun = performance.now();
      // Under a flood of reports, leave the event loop twice as long to serving as reconciling took.
      holdUntil = lastRun + 2 * (lastRun - now);
    };
    this.stop();
    this.halted = false;
    this.issuer.start();
    // The first pass runs now, whatever the turn: how a restarted hub resumes.
    this.catchUpSelection();
    void this.once.run(pass);
    // Members a stopped hub recorded and did not issue yet: issued now, whatever the tick decided.
    this.issuer.kick();
    this.timer = setInterval(tick, pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.halted = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.passTurn?.();
    this.passTurn = undefined;
    this.selectionCatchUp?.();
    this.selectionCatchUp = undefined;
    for (const cancel of this.soon.values()) cancel();
    this.soon.clear();
    this.issuer.stop();
  }

  /**
   * Outside a transaction, brings the kept members of the rollout up to date with what changed
   * since the last pass, so that the steps, inside theirs, read only what changes meanwhile.
   */
  private catchUp(id: string): void {
    if (this.deps.tx.open) return;
    const row = this.deps.rollouts.get(id);
    // A rollout finished meanwhile takes no step: reading its members would read every one of them.
    if (row?.state === 'running') this.deps.members.members(this.deps.rollouts, this.deps.loader.load(row));
  }

  /**
   * Reconciles the rollout after the current turn of the event loop: what follows a command
   * that took one step itself, so its request answers first.
   */
  reconcileSoon(id: string): void {
    if (this.soon.has(id)) return;
    // A step cannot be cut short: while what is left of this turn is too little for it, it waits for the next.
    const cancel = this.budget.whenRoom(
      () => this.stepMs,
      () => {
        this.soon.delete(id);
        if (this.halted) return;
        try {
          this.stepMs = this.budget.timed(() => this.reconcile(id)).ms;
        } catch (error) {
          if (this.deps.failures !== undefined) this.deps.failures.report(error, 'rollout controller');
          else this.deps.log.error({ err: error, rollout: id }, 'rollout reconcile failed');
        }
      },
    );
    this.soon.set(id, cancel);
  }

  /**
   * One step in one transaction (a savepoint inside the caller's, if one is open); true when
   * the rollout moved (so another step may apply).
   */
  step(id: string): boolean {
    this.sliced = false;
    this.keeping = undefined;
    const changed: string[] = [];
    const enlisted: string[] = [];
    const gateChanges: WaveGatesChange[] = [];
    const moved = this.deps.tx.run(() => {
      const stepped = this.stepIn(id, changed, enlisted, gateChanges);
      if (stepped) this.deps.faults.reach('rollout:before-commit');
      return stepped;
    });
    this.keepSlices();
    this.deps.desired.announce(changed);
    // More of the wave to record: its agents' fetches wait until the rest are recorded and told.
    if (this.sliced) this.issuer.holdFetches();
    else this.issuer.releaseFetches();
    if (enlisted.length > 0) {
      if (this.untold.length === 0) queueMicrotask(() => this.tellRecorded());
      this.untold.push(...enlisted);
      if (!this.deps.tx.open) this.tellRecorded();
    }
    for (const change of gateChanges) this.deps.gatesChanged?.(change);
    return moved;
  }

  /** After a step's transaction committed: what it left for the next slice is kept, or what it spent forgotten. */
  private keepSlices(): void {
    const keeping = this.keeping;
    this.keeping = undefined;
    if (keeping === undefined) return;
    // A replica without the lease (a command's step) keeps none: the holder's passes record the rest.
    if (keeping.slices === undefined || !this.once.held()) this.kept.delete(keeping.id);
    else this.kept.set(keeping.id, keeping.slices);
  }

  /**
   * Tells the agents of the members that steps recorded that their desired state is about to
   * change (see {@link WaveIssuer}). A step tells them itself after it commits; a command whose
   * transaction held steps calls this right after its own commit, and otherwise a microtask
   * does, which runs only once the synchronous stack has unwound through that commit.
   */
  tellRecorded(): void {
    if (this.untold.length === 0) return;
    const told = this.untold;
    this.untold = [];
    this.deps.desired.tell(told);
  }

  /** The work of one step, inside its transaction; the members it records go to `enlisted`. */
  private stepIn(id: string, changed: string[], enlisted: string[], gateChanges: WaveGatesChange[]): boolean {
    const row = this.deps.rollouts.get(id);
    if (row?.state !== 'running') return false;
    const now = this.deps.clock();
    const rollout = this.deps.loader.load(row);
    // The next slice of a wave being recorded comes from the list its first step made: the
    // selection is not evaluated again for each slice of an 18,000-target wave.
    const kept = row.current_wave >= 0 ? this.keptSlice(rollout, now) : [];
    if (kept.length > 0) {
      this.join(rollout, kept, now);
      enlisted.push(...kept.map((j) => j.targetId));
      return true;
    }
    const evaluation = evaluateRollout(this.deps, rollout, now, 'reached');
    if (row.current_wave < 0) {
      enlisted.push(...this.startWave(evaluation, 0, now));
      return true;
    }
    const joiners = this.firstSlice(evaluation, row.current_wave);
    if (joiners.length > 0) {
      this.join(rollout, joiners, now);
      enlisted.push(...joiners.map((j) => j.targetId));
      return true;
    }
    // A target held by its closed window joins at the opening, without anyone asking.
    const opens = policyWakeAt(evaluation, row.current_wave, this.deps.policy);
    if (opens !== undefined) this.deadline(opens);
    return this.applyGate(evaluation, now, changed, enlisted, gateChanges);
  }

  /** The first slice of the candidates in waves up to `throughWave` that nothing blocks, in id order (see {@link pick}). */
  private firstSlice(evaluation: RolloutEvaluation, throughWave: number): Candidate[] {
    const { rollout } = evaluation;
    const reached = evaluation.candidates.filter((c) => c.wave <= throughWave);
    const holders = reached.length === 0 ? undefined : this.deps.rollouts.holders(rollout.release.name, rollout.row.id);
    const policy = inForce(this.deps.policy);
    return this.pick(rollout, throughWave, reached, 0, (chunk) =>
      chunk.filter((c) => blockReason(this.deps.rollouts, rollout, c, policy, holders) === undefined),
    );
  }

  /**
   * The next slice of the wave whose recording an earlier step started, its targets re-checked
   * against the store as it is now (selected, in a started wave, not a member, not blocked): a
   * target relabelled, disabled, revoked, held by policy or taken by another rollout since is
   * left out. Empty when no list is kept for the rollout's current wave, or it is spent.
   */
  private keptSlice(rollout: LoadedRollout, now: number): Candidate[] {
    const { row, release } = rollout;
    const kept = this.kept.get(row.id);
    if (kept === undefined) return [];
    if (kept.wave !== row.current_wave) {
      this.keeping = { id: row.id, slices: undefined };
      return [];
    }
    const policy = inForce(this.deps.policy);
    return this.pick(rollout, kept.wave, kept.candidates, kept.next, (chunk) => {
      const ids = chunk.map((c) => c.targetId);
      const holders = this.deps.rollouts.holdersOf(ids, release.name, row.id);
      return candidatesAmong(this.deps, rollout, now, ids).filter(
        (c) => blockReason(this.deps.rollouts, rollout, c, policy, holders) === undefined,
      );
    });
  }

  /**
   * One slice of `candidates`, from `from` on, of those `usable` passes (it is given them a
   * chunk at a time, so a slice costs what it takes, not the whole list). When more are left,
   * the step says so, keeps where the next slice starts, and the next step records it after a
   * turn of the event loop. A hub killed between slices has committed whole slices only, and
   * the next pass finds the rest as candidates still: none is lost or recorded twice.
   */
  private pick(
    rollout: LoadedRollout,
    wave: number,
    candidates: readonly Candidate[],
    from: number,
    usable: (chunk: readonly Candidate[]) => Candidate[],
  ): Candidate[] {
    const id = rollout.row.id;
    const slice: Candidate[] = [];
    for (let at = from; at < candidates.length;) {
      // One more than the slice lacks: found too, it says that more are left.
      const chunk = candidates.slice(at, at + this.enlistSlice + 1 - slice.length);
      const found = usable(chunk);
      const room = this.enlistSlice - slice.length;
      if (found.length > room) {
        const next = at + chunk.findIndex((c) => c.targetId === found[room]!.targetId);
        slice.push(...found.slice(0, room));
        this.sliced = true;
        this.keeping = { id, slices: { wave, candidates, next } };
        return slice;
      }
      slice.push(...found);
      at += chunk.length;
    }
    this.keeping = { id, slices: undefined };
    return slice;
  }

  private applyGate(
    evaluation: RolloutEvaluation,
    now: number,
    changed: string[],
    enlisted: string[],
    gateChanges: WaveGatesChange[],
  ): boolean {
    const { row, plan } = evaluation.rollout;
    const index = row.current_wave;
    const wave = evaluation.waves[index];
    if (wave === undefined) throw new Error(`rollout ${row.id} is at wave ${index}, which has no record`);
    const counts = gateCounts(evaluation.members, index);
    const gates = waveGates(plan, index);
    const decision = evaluateGate({
      counts,
      allowedFailures: allowedFailures(gates.failureBudget, counts.size),
      bakeMs: gates.bakeMs,
      timeoutMs: gates.timeoutMs,
      startedAt: wave.started_at,
      gatesMetAt: wave.gates_met_at,
      now,
    });
    switch (decision.kind) {
      case 'waiting':
        if (wave.gates_met_at !== null) {
          this.deps.rollouts.setGatesMet(row.id, index, null);
          gateChanges.push({ rollout: row.id, wave: index, state: 'waiting' });
        }
        if (gates.timeoutMs !== null) this.deadline(wave.started_at + gates.timeoutMs);
        return false;
      case 'baking':
        if (wave.gates_met_at === null) {
          this.deps.rollouts.setGatesMet(row.id, index, decision.since);
          gateChanges.push({ rollout: row.id, wave: index, state: 'baking' });
        }
        this.deadline(decision.until);
        return false;
      case 'over-budget':
      case 'timed-out':
        this.fail(evaluation, decision, now, changed);
        return true;
      case 'passed':
        // Targets waiting for approvals or their change window keep the wave open until they are through.
        if (waitsOnPolicy(evaluation, index, this.deps.policy)) return false;
        // Starting the next wave needs every selected target and live cut-offs.
        this.passWave(
          evaluation.scope === 'full' ? evaluation : evaluateRollout(this.deps, evaluation.rollout, now, 'full'),
          now,
          enlisted,
        );
        return true;
    }
  }

  private deadline(at: number): void {
    if (at < this.nextDeadline) this.nextDeadline = at;
  }

  /** A wave exceeded its budget or timed out: pause, or roll back when the plan says so. */
  private fail(
    evaluation: RolloutEvaluation,
    decision: Extract<GateDecision, { kind: 'over-budget' | 'timed-out' }>,
    now: number,
    changed: string[],
  ): void {
    const { row, plan } = evaluation.rollout;
    const wave = plan.waves[row.current_wave]!;
    const gates = waveGates(plan, row.current_wave);
    const failed = evaluation.members.filter((m) => m.wave <= row.current_wave && m.state === 'failed');
    const reason =
      decision.kind === 'over-budget'
        ? `wave ${wave.name}: ${decision.failed} targets failed, more than its failure budget of ${formatFailureBudget(gates.failureBudget)} allows (${decision.allowed})`
        : `wave ${wave.name} did not meet its gates within its timeout of ${formatDuration(decision.timeoutMs)}`;
    const details = {
      rollout: row.id,
      wave: row.current_wave,
      waveName: wave.name,
      cause: decision.kind === 'over-budget' ? 'failure-budget' : 'timeout',
      ...(decision.kind === 'over-budget'
        ? { failed: decision.failed, allowed: decision.allowed }
        : { waitedMs: decision.waitedMs, timeoutMs: decision.timeoutMs }),
      failedTargets: failed.slice(0, FAILED_LISTED).map((m) => ({ target: m.targetId, reason: m.reason ?? null })),
    };
    if (plan.rollbackOnFailure) {
      this.rollback(evaluation, ROLLOUT_CONTROLLER, reason, now, changed, details);
    } else {
      this.deps.rollouts.setState(row.id, 'paused', reason, now, null);
      this.appendInParts(
        {
          actor: ROLLOUT_CONTROLLER,
          action: 'rollout.pause',
          outcome: 'success',
          reason: reason.slice(0, 1024),
          details,
        },
        failed.map((m) => m.targetId),
      );
    }
    this.deps.log.warn(
      { rollout: row.id, wave: wave.name, cause: details.cause, rollback: plan.rollbackOnFailure },
      'rollout wave failed its gates',
    );
  }

  private passWave(evaluation: RolloutEvaluation, now: number, enlisted: string[]): void {
    const { row, plan } = evaluation.rollout;
    const index = row.current_wave;
    const wave = plan.waves[index]!;
    const counts = gateCounts(evaluation.members, index);
    this.deps.rollouts.finishWave(row.id, index, now);
    this.deps.audit.append({
      actor: ROLLOUT_CONTROLLER,
      action: 'rollout.wave.complete',
      subjects: [],
      outcome: 'success',
      details: {
        rollout: row.id,
        release: releaseText(evaluation.rollout),
        wave: index,
        waveName: wave.name,
        members: counts.size,
        healthy: counts.healthy,
        failed: counts.failed,
      },
    });
    if (index + 1 < plan.waves.length) {
      enlisted.push(...this.startWave(evaluation, index + 1, now));
      return;
    }
    this.deps.rollouts.setState(row.id, 'completed', null, now, now);
    this.deps.audit.append({
      actor: ROLLOUT_CONTROLLER,
      action: 'rollout.complete',
      subjects: [],
      outcome: 'success',
      details: {
        rollout: row.id,
        release: releaseText(evaluation.rollout),
        members: evaluation.members.length,
        failed: counts.failed,
      },
    });
    this.forget(row.id);
    this.deps.log.info({ rollout: row.id, release: releaseText(evaluation.rollout) }, 'rollout completed');
  }

  /**
   * Starts wave `index`: fixes a percentage wave's cut-off and records every target the waves
   * so far include and nothing blocks as a member, whose envelope is then issued on its agent's
   * fetch or by the issuer: the members' target ids.
   */
  private startWave(evaluation: RolloutEvaluation, index: number, now: number): string[] {
    const { row, plan } = evaluation.rollout;
    const wave = plan.waves[index]!;
    this.deps.rollouts.insertWave(row.id, index, wave.percent === undefined ? null : evaluation.cutoffs[index]!, now);
    this.deps.rollouts.setCurrentWave(row.id, index, now);
    const targets = this.firstSlice(evaluation, index);
    this.deps.rollouts.enlist(row.id, targets, now);
    if (this.sliced) this.deps.faults.reach('rollout:enlist');
    this.appendInParts(
      {
        actor: ROLLOUT_CONTROLLER,
        action: 'rollout.wave.start',
        outcome: 'success',
        details: {
          rollout: row.id,
          release: releaseText(evaluation.rollout),
          digest: row.release_digest,
          wave: index,
          waveName: wave.name,
          spec: waveSpecText(wave),
          members: targets.length,
          // Sliced, the rest of the wave's targets join in steps of their own (`rollout.member.join`).
          ...(this.sliced ? { more: true } : { blocked: reached(evaluation, index) - targets.length }),
        },
      },
      targets.map((t) => t.targetId),
    );
    this.deps.log.info({ rollout: row.id, wave: wave.name, members: targets.length }, 'rollout wave started');
    return targets.map((t) => t.targetId);
  }

  /** Targets that entered a wave already under way (enrolled, relabelled, unblocked) join it, to be issued the release next. */
  private join(rollout: LoadedRollout, joiners: readonly Candidate[], now: number): void {
    const { row } = rollout;
    this.deps.rollouts.touch(row.id, now);
    this.deps.rollouts.enlist(row.id, joiners, now);
    if (this.sliced) this.deps.faults.reach('rollout:enlist');
    this.appendInParts(
      {
        actor: ROLLOUT_CONTROLLER,
        action: 'rollout.member.join',
        outcome: 'success',
        details: {
          rollout: row.id,
          release: releaseText(rollout),
          digest: row.release_digest,
          currentWave: row.current_wave,
          joined: joiners.length,
          waves: [...new Set(joiners.map((j) => j.wave))].sort(),
        },
      },
      joiners.map((j) => j.targetId),
    );
  }

  /**
   * Inside the caller's transaction: every member not yet rolled back whose target still
   * carries this rollout's release goes back to the release of that name it had before (or
   * loses it if it had none); members whose release was changed since are left alone.
   */
  rollback(
    evaluation: RolloutEvaluation,
    actor: Actor,
    reason: string | undefined,
    now: number,
    changed: string[],
    extra: Record<string, unknown> = {},
  ): void {
    const { row, release } = evaluation.rollout;
    const reverted: string[] = [];
    const skipped: { target: string; why: string }[] = [];
    // Members still waiting for their envelope never got the release: nothing to undo.
    this.deps.rollouts.dropUnissued(row.id);
    for (const member of evaluation.members) {
      if (member.rolledBack || !member.issued) continue;
      if (!member.carriesRelease) {
        skipped.push({ target: member.targetId, why: member.reason ?? 'its release was changed since' });
        continue;
      }
      if (member.status === 'revoked') {
        skipped.push({ target: member.targetId, why: 'the target is revoked' });
        continue;
      }
      const staged = this.deps.desired.stageRelease(member.targetId, release.name, member.previous, actor);
      this.deps.rollouts.setRolledBack(row.id, member.targetId, staged.generation);
      reverted.push(member.targetId);
      if (staged.changed) changed.push(member.targetId);
    }
    this.deps.rollouts.setState(row.id, 'rolled-back', reason ?? null, now, now);
    this.appendInParts(
      {
        actor,
        action: 'rollout.rollback',
        outcome: 'success',
        ...(reason === undefined ? {} : { reason: reason.slice(0, 1024) }),
        details: {
          ...extra,
          rollout: row.id,
          release: releaseText(evaluation.rollout),
          from: row.state,
          reverted: reverted.length,
          skipped: skipped.length,
          skippedTargets: skipped.slice(0, FAILED_LISTED),
        },
      },
      reverted,
    );
    this.forget(row.id);
    this.deps.log.info(
      { rollout: row.id, reverted: reverted.length, skipped: skipped.length, actor: actor.id },
      'rollout rolled back',
    );
  }

  /** Drops the memos of a finished rollout (they would be rebuilt if it is read again). */
  forget(id: string): void {
    this.kept.delete(id);
    this.deps.positions.forget(id);
    this.deps.members.forget(id);
  }

  /** Evaluates a rollout inside the caller's transaction, for commands that act on it. */
  evaluate(row: RolloutRow): RolloutEvaluation {
    return evaluateRollout(this.deps, this.deps.loader.load(row), this.deps.clock());
  }

  private appendInParts(input: Parameters<typeof appendInParts>[1], subjects: readonly string[]): void {
    appendInParts(this.deps.audit, input, subjects, SUBJECTS_PER_ENTRY);
  }
}

/** The counts a gate looks at: members of waves up to `index`, blocked and rolled-back ones left out. */
function gateCounts(members: readonly EvaluatedMember[], index: number): GateCounts {
  let size = 0;
  let healthy = 0;
  let applied = 0;
  let failed = 0;
  let pending = 0;
  for (const m of members) {
    if (m.wave > index || m.rolledBack || m.state === 'blocked') continue;
    size++;
    if (m.state === 'healthy') healthy++;
    else if (m.state === 'applied') applied++;
    else if (m.state === 'failed') failed++;
    else pending++;
  }
  return { size, healthy, applied, failed, pending };
}

/** How many candidates fall in waves up to `index`. */
function reached(evaluation: RolloutEvaluation, index: number): number {
  let n = 0;
  for (const c of evaluation.candidates) if (c.wave <= index) n++;
  return n;
}

function releaseText(rollout: LoadedRollout): string {
  const release: ReleaseRef = rollout.release;
  return `${release.name}@${release.version}`;
}
