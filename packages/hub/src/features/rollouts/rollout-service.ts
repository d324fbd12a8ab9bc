import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  FlotillaError,
  isFlotillaError,
  NO_FAULTS,
  type Actor,
  type FaultPoints,
  type ReleaseRef,
} from '@flotilla/protocol';
import {
  RolloutId,
  type CreateRolloutRequest,
  type CreateRolloutResult,
  type MemberListing,
  type RolloutList,
  type RolloutState,
  type RolloutView,
} from '@flotilla/protocol/api';
import { formatQuery, type Query } from '@flotilla/protocol/query';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import {
  RolloutController,
  type ControllerSchedule,
  type ReleaseStaging,
  type WaveGatesChange,
} from './rollout-controller.ts';
import { evaluateRollout, MemberCache, RolloutLoader, type RolloutPolicy } from './rollout-evaluation.ts';
import { normalizePlan, parseSelectorInput, type RolloutPlan, type SelectorCheck } from './rollout-plan.ts';
import type { OnceOnly } from '../replicas/replica-lease.ts';
import type { RolloutRow, RolloutStore } from './rollout-store.ts';
import { buildView, summarize } from './rollout-view.ts';
import { PositionCache } from './wave-planner.ts';
import { StoreSelection, type RolloutSelection } from './rollout-selection.ts';
import type { BackgroundFailures } from '../../store/store-health.ts';
import { TurnBudget } from '../../turn-budget.ts';

/** A create's request, checked and read. */
interface Prepared {
  readonly release: ReleaseRef;
  readonly selectorWarnings: readonly string[];
  readonly query: Query;
  readonly plan: RolloutPlan;
  readonly selector: string;
}

/** A rollout just recorded, and what its create's answer says besides its view. */
interface Started {
  readonly id: string;
  readonly plan: RolloutPlan;
  readonly selectorWarnings: readonly string[];
}

/** Resolves `name@version` or a digest to a published release (the bundles feature). */
export interface RolloutReleases {
  resolveRelease(ref: string): ReleaseRef;
}

/**
 * Checks a selector's fields against the fleet's (the targets feature): a key no target has
 * is a typo in a positive condition; a negation of one that looks like a typo is answered,
 * with the warnings returned here.
 */
export interface SelectorValidation {
  validate(query: Query, source: string | undefined): string[];
}

export interface RolloutServiceDeps {
  readonly tx: Transactions;
  readonly store: RolloutStore;
  readonly desired: ReleaseStaging;
  readonly releases: RolloutReleases;
  readonly selectors: SelectorValidation;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly log: Logger;
  /** Test-only crash points (`rollout:before-commit`); inert in production. */
  readonly faults?: FaultPoints;
  /** Where the controller's failed ticks go; default its log. */
  readonly failures?: BackgroundFailures;
  /** Policy's holds on targets: approvals, change windows, placement (docs/policy.md). */
  readonly policy?: RolloutPolicy;
  /** Told when a wave's bake starts or its gates stop holding (see {@link RolloutControllerDeps}). */
  readonly gatesChanged?: (change: WaveGatesChange) => void;
  /** The most envelopes one batch of a wave issues before it commits and yields; default 256. */
  readonly issueBatch?: number;
  /** The most members one step of a wave records before it commits and yields; default 1000. */
  readonly enlistSlice?: number;
  /** How long a member waits for its agent's fetch before a batch issues it; default 2 s (see `WaveIssuer`). */
  readonly issueDelayMs?: number;
  /** The walking is once-only work: with replicas, the lease holder's (see {@link RolloutControllerDeps}). */
  readonly once?: OnceOnly;
  /** Where selectors are answered: the fleet index in a hub; default the store's target rows. */
  readonly selection?: RolloutSelection;
  /** The turn's time shared with the hub's other sliced work; one of its own when not given. */
  readonly budget?: TurnBudget;
}

const TERMINAL: ReadonlySet<RolloutState> = new Set(['completed', 'aborted', 'rolled-back']);
const CONFLICT_TARGETS_LISTED = 100;

/**
 * Rollouts for operators: create (with a conflict check against other rollouts of the same
 * release), list, status, pause, resume, abort and roll back. The walking itself is the
 * {@link RolloutController}'s; every command is one transaction with its audit entry.
 */
export class RolloutService {
  readonly controller: RolloutController;
  private readonly deps: RolloutServiceDeps;
  private readonly rollouts: RolloutStore;
  private readonly loader = new RolloutLoader();
  private readonly positions = new PositionCache();
  private readonly members: MemberCache;
  private readonly selection: RolloutSelection;
  private readonly budget: TurnBudget;

  constructor(deps: RolloutServiceDeps) {
    this.deps = deps;
    this.budget = deps.budget ?? new TurnBudget();
    this.rollouts = deps.store;
    this.selection = deps.selection ?? new StoreSelection(deps.store);
    const once = deps.once;
    this.members = new MemberCache(once === undefined ? undefined : () => once.held());
    this.controller = new RolloutController({
      tx: deps.tx,
      rollouts: this.rollouts,
      desired: deps.desired,
      audit: deps.audit,
      clock: deps.clock,
      log: deps.log.child({ component: 'rollouts' }),
      loader: this.loader,
      positions: this.positions,
      members: this.members,
      selection: this.selection,
      faults: deps.faults ?? NO_FAULTS,
      ...(deps.failures === undefined ? {} : { failures: deps.failures }),
      ...(deps.policy === undefined ? {} : { policy: deps.policy }),
      ...(deps.issueBatch === undefined ? {} : { issueBatch: deps.issueBatch }),
      ...(deps.enlistSlice === undefined ? {} : { enlistSlice: deps.enlistSlice }),
      ...(deps.issueDelayMs === undefined ? {} : { issueDelayMs: deps.issueDelayMs }),
      ...(deps.gatesChanged === undefined ? {} : { gatesChanged: deps.gatesChanged }),
      ...(once === undefined ? {} : { once }),
      budget: this.budget,
    });
  }

  /** Starts the controller's timer, reconciling at once: how a restarted hub resumes its rollouts. */
  start(schedule?: ControllerSchedule): void {
    this.controller.start(schedule);
  }

  stop(): void {
    this.controller.stop();
  }

  /**
   * Validates and records a rollout and starts its first wave, recording its members, in one
   * transaction; their envelopes are issued in batches after it answers. Refuses an unpublished
   * release, a bad plan, and a selection that overlaps a running or paused rollout of the
   * same release name (409, naming that rollout and the targets).
   */
  create(request: CreateRolloutRequest, actor: Actor): CreateRolloutResult {
    if (request.dryRun === true) return this.dryRun(request, actor);
    return this.answer(this.record(request, actor));
  }

  /**
   * As {@link create}, with the answer built in the next turn of the event loop: at 18,000
   * targets recording the first slice takes about 55 ms and the answer's view (the selection
   * evaluated again) 40 ms more, which in one turn held every other request for 100 ms.
   */
  async createInTurns(request: CreateRolloutRequest, actor: Actor): Promise<CreateRolloutResult> {
    if (request.dryRun === true) return this.dryRun(request, actor);
    const started = this.record(request, actor);
    await this.budget.nextTurn();
    return this.answer(started);
  }

  /** The request checked and read: what its release, selector and plan are. */
  private prepare(request: CreateRolloutRequest): Prepared {
    const release = this.resolveRelease(request.release);
    const selectorWarnings: string[] = [];
    const check = this.selectorCheck(selectorWarnings);
    const query = parseSelectorInput(request.selector, check);
    const plan = normalizePlan(request, check);
    return { release, selectorWarnings, query, plan, selector: formatQuery(query) };
  }

  /** What the rollout would be, recording nothing. */
  private dryRun(request: CreateRolloutRequest, actor: Actor): CreateRolloutResult {
    const { release, selectorWarnings, query, plan, selector } = this.prepare(request);
    const now = this.deps.clock();
    const id = `ro_${randomBytes(8).toString('hex')}`;
    this.selection.catchUp(Number.POSITIVE_INFINITY);
    const row = this.newRow(id, 0, release, selector, plan, actor, now);
    this.checkConflicts(row, query, now);
    const evaluation = evaluateRollout(
      {
        rollouts: this.rollouts,
        positions: new PositionCache(),
        members: new MemberCache(),
        selection: this.selection,
      },
      new RolloutLoader().load(row),
      now,
    );
    const view = buildView(this.rollouts, evaluation, 'none', 0, this.deps.policy);
    return { rollout: view, warnings: [...selectorWarnings, ...warnings(view, plan)], dryRun: true };
  }

  /** Records the rollout and its first wave's first slice, and tells that slice's agents. */
  private record(request: CreateRolloutRequest, actor: Actor): Started {
    const { release, selectorWarnings, query, plan, selector } = this.prepare(request);
    const now = this.deps.clock();
    const id = `ro_${randomBytes(8).toString('hex')}`;
    // Taken in before the transaction: inside it, targets written since would be read again at every selection.
    this.selection.catchUp(Number.POSITIVE_INFINITY);
    // Charged to this turn, so that the notices and slices queued behind it wait for the next.
    this.budget.time(() =>
      this.deps.tx.run(() => {
        const row = this.newRow(id, this.rollouts.nextSeq(), release, selector, plan, actor, now);
        this.checkConflicts(row, query, now);
        this.rollouts.insert(row);
        this.deps.audit.append({
          actor,
          action: 'rollout.create',
          subjects: [],
          outcome: 'success',
          details: {
            rollout: id,
            release: `${release.name}@${release.version}`,
            digest: release.digest,
            selector,
            waves: plan.waves.map((w) => w.name),
            plan,
          },
        });
        // The first wave starts with the create. A wave with members waits for their reports, so
        // the next steps come after the answer; a rollout with none yet walks on at once.
        this.controller.step(id);
        if (this.rollouts.memberCount(id) === 0) this.controller.reconcile(id);
      }),
    );
    // The members hear of the wave before the answer is built.
    this.controller.tellRecorded();
    this.deps.log.info(
      { rollout: id, release: `${release.name}@${release.version}`, selector, actor: actor.id },
      'rollout created',
    );
    this.controller.reconcileSoon(id);
    return { id, plan, selectorWarnings };
  }

  /** The answer to a create: the rollout's view now. */
  private answer({ id, plan, selectorWarnings }: Started): CreateRolloutResult {
    const view = this.budget.time(() => this.view(id, 'none', 0));
    return { rollout: view, warnings: [...selectorWarnings, ...warnings(view, plan)], dryRun: false };
  }

  /** Newest first; `before` is the `next` of the previous page. */
  list(state: RolloutState | undefined, before: number | undefined, limit: number): RolloutList {
    const rows = this.rollouts.list(state, before ?? Number.MAX_SAFE_INTEGER, limit + 1);
    const items = rows.slice(0, limit).map((row) =>
      summarize(
        row,
        this.loader.load(row).plan.waves.map((w) => w.name),
        this.rollouts.memberCount(row.id),
      ),
    );
    return { items, ...(rows.length > limit ? { next: rows[limit - 1]!.seq } : {}) };
  }

  /** The status of one rollout: waves with gates and counts, and (per `listing`) its members' states. */
  view(id: string, listing: MemberListing, limit: number): RolloutView {
    const row = this.get(id);
    const evaluation = evaluateRollout(
      { rollouts: this.rollouts, positions: this.positions, members: this.members, selection: this.selection },
      this.loader.load(row),
      this.deps.clock(),
    );
    return buildView(this.rollouts, evaluation, listing, limit, this.deps.policy);
  }

  /** Stops making changes: no wave starts and no target joins until it is resumed. */
  pause(id: string, actor: Actor, reason: string | undefined): RolloutView {
    this.deps.tx.run(() => {
      const row = this.expect(id, ['running'], 'paused');
      const text = reason ?? `paused by ${actor.id}`;
      this.rollouts.setState(id, 'paused', text, this.deps.clock(), null);
      this.deps.audit.append({
        actor,
        action: 'rollout.pause',
        subjects: [],
        outcome: 'success',
        reason: text.slice(0, 1024),
        details: { rollout: id, wave: row.current_wave, cause: 'operator' },
      });
    });
    return this.view(id, 'none', 0);
  }

  /**
   * Continues a paused rollout. The current wave's timeout and bake start over, and its gates
   * are evaluated at once: a wave still over its failure budget pauses again.
   */
  resume(id: string, actor: Actor, reason: string | undefined): RolloutView {
    const waiting = this.deps.tx.run(() => {
      const row = this.expect(id, ['paused'], 'resumed');
      const now = this.deps.clock();
      this.rollouts.setState(id, 'running', null, now, null);
      if (row.current_wave >= 0) this.rollouts.restartWave(id, row.current_wave, now);
      this.deps.audit.append({
        actor,
        action: 'rollout.resume',
        subjects: [],
        outcome: 'success',
        ...(reason === undefined ? {} : { reason }),
        details: { rollout: id, wave: row.current_wave, pausedFor: row.state_reason },
      });
      return this.rollouts.unissued(id, Number.MAX_SAFE_INTEGER);
    });
    // Members that waited through the pause were never told; their fetch issues them now.
    this.deps.desired.tell(waiting);
    this.controller.reconcile(id);
    return this.view(id, 'none', 0);
  }

  /** Stops the rollout for good; updated targets keep the release (roll back to undo). */
  abort(id: string, actor: Actor, reason: string | undefined): RolloutView {
    this.deps.tx.run(() => {
      const row = this.expect(id, ['running', 'paused'], 'aborted');
      const now = this.deps.clock();
      this.rollouts.setState(id, 'aborted', reason ?? `aborted by ${actor.id}`, now, now);
      // Members still waiting for their envelope never got the release, so they are not members.
      this.rollouts.dropUnissued(id);
      this.deps.audit.append({
        actor,
        action: 'rollout.abort',
        subjects: [],
        outcome: 'success',
        ...(reason === undefined ? {} : { reason }),
        details: { rollout: id, wave: row.current_wave, from: row.state, members: this.rollouts.memberCount(id) },
      });
    });
    this.controller.forget(id);
    return this.view(id, 'none', 0);
  }

  /**
   * Returns every updated member to the release of that name it had before (or removes the
   * release where it had none), in one transaction with the envelope bumps. Members whose
   * release was changed since are left alone and counted as skipped.
   */
  rollback(id: string, actor: Actor, reason: string | undefined): RolloutView {
    const changed: string[] = [];
    this.deps.tx.run(() => {
      const row = this.expect(id, ['running', 'paused', 'completed', 'aborted'], 'rolled back');
      this.controller.rollback(this.controller.evaluate(row), actor, reason, this.deps.clock(), changed);
    });
    this.deps.desired.announce(changed);
    return this.view(id, 'none', 0);
  }

  private get(id: string): RolloutRow {
    const parsed = RolloutId.safeParse(id);
    const row = parsed.success ? this.rollouts.get(id) : undefined;
    if (row === undefined)
      throw new FlotillaError('NOT_FOUND', `rollout ${id} does not exist; list rollouts with 'flotilla rollout ls'`);
    return row;
  }

  private expect(id: string, states: readonly RolloutState[], verb: string): RolloutRow {
    const row = this.get(id);
    if (!states.includes(row.state)) {
      const hint = TERMINAL.has(row.state)
        ? 'it is finished'
        : `only a rollout that is ${states.join(' or ')} can be ${verb}`;
      throw new FlotillaError('CONFLICT', `rollout ${id} is ${row.state}; ${hint}`, { rollout: id, state: row.state });
    }
    return row;
  }

  private resolveRelease(ref: string): ReleaseRef {
    try {
      return this.deps.releases.resolveRelease(ref);
    } catch (error) {
      if (isFlotillaError(error, 'NOT_FOUND')) {
        throw new FlotillaError('VALIDATION_FAILED', `release: ${error.message}`, { path: 'release' });
      }
      if (isFlotillaError(error)) throw new FlotillaError(error.code, `release: ${error.message}`, { path: 'release' });
      throw error;
    }
  }

  /**
   * Keys no target has are errors (a typo) in positive conditions, as in every fleet query;
   * a negation of one that looks like a typo adds its warning to `warnings`.
   */
  private selectorCheck(warnings: string[]): SelectorCheck {
    return (query, source) => {
      warnings.push(...this.deps.selectors.validate(query, source));
    };
  }

  private newRow(
    id: string,
    seq: number,
    release: ReleaseRef,
    selector: string,
    plan: RolloutPlan,
    actor: Actor,
    now: number,
  ): RolloutRow {
    return {
      id,
      seq,
      release_name: release.name,
      release_version: release.version,
      release_digest: release.digest,
      selector,
      plan,
      state: 'running',
      current_wave: -1,
      state_reason: null,
      created_at: now,
      created_by: actor,
      updated_at: now,
      finished_at: null,
    };
  }

  /**
   * A target takes one rollout of a release name at a time: the targets this rollout selects
   * must not be selected by, or members of, a running or paused rollout of the same name.
   */
  private checkConflicts(row: RolloutRow, query: Query, now: number): void {
    // Most creates have no other rollout of the release to conflict with: no selection to read.
    const others = this.rollouts.activeForRelease(row.release_name);
    if (others.length === 0) return;
    const mine = new Set(this.selection.selected(query, now).map((t) => t.id));
    if (mine.size === 0) return;
    for (const other of others) {
      const theirs = this.rollouts.memberIds(other.id);
      for (const t of this.selection.selected(this.loader.load(other).query, now)) theirs.add(t.id);
      const overlap = [...theirs].filter((t) => mine.has(t)).sort();
      if (overlap.length === 0) continue;
      const shown = overlap.slice(0, 5).join(', ') + (overlap.length > 5 ? ` and ${overlap.length - 5} more` : '');
      throw new FlotillaError(
        'CONFLICT',
        `rollout ${other.id} (${other.release_name}@${other.release_version}, ${other.state}) already covers ${overlap.length} of the targets this rollout selects: ${shown}; a target takes one rollout of a release at a time, so wait for ${other.id} to complete, abort it, or narrow the selector`,
        {
          rollout: other.id,
          release: `${other.release_name}@${other.release_version}`,
          state: other.state,
          count: overlap.length,
          targets: overlap.slice(0, CONFLICT_TARGETS_LISTED),
        },
      );
    }
  }
}

function warnings(view: RolloutView, plan: RolloutPlan): string[] {
  const list: string[] = [];
  if (view.selected === 0)
    list.push(
      `the selector '${view.selector}' matches no target now; targets that match it later join as the waves reach them`,
    );
  if (view.outside > 0) {
    const last = plan.waves.at(-1)!;
    list.push(
      `${view.outside} selected targets are in no wave (the last wave, ${last.name}, covers ${last.percent === undefined ? `only '${last.selector}'` : `${last.percent}%`}); add a final wave of 100% to update them`,
    );
  }
  return list;
}
