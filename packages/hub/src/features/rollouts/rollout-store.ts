import type { Actor, ReleaseRef, Target, TargetStatus } from '@flotilla/protocol';
import type { RolloutState } from '@flotilla/protocol/api';
import type { Query } from '@flotilla/protocol/query';
import { forDialect, type Statement } from '../../store/sql.ts';
import type { Db } from '../../store/database.ts';
import { compileQuerySql } from '../targets/query-sql-store.ts';
import { dialectOf } from '../../store/sql.ts';
import type { RolloutPlan } from './rollout-plan.ts';

/** A rollout as stored: its plan and creator decoded, the rest as the columns hold it. */
export interface RolloutRow {
  readonly id: string;
  readonly seq: number;
  readonly release_name: string;
  readonly release_version: string;
  readonly release_digest: string;
  readonly selector: string;
  readonly plan: RolloutPlan;
  readonly state: RolloutState;
  readonly current_wave: number;
  readonly state_reason: string | null;
  readonly created_at: number;
  readonly created_by: Actor;
  readonly updated_at: number;
  readonly finished_at: number | null;
}

export interface WaveRow {
  readonly idx: number;
  readonly cutoff: number | null;
  readonly started_at: number;
  readonly gates_met_at: number | null;
  readonly finished_at: number | null;
}

/**
 * What decides a member's state besides its own row: a new report moves `observed_seq`, a
 * change of desired state moves `desired_generation`, a rollback sets `rolled_back_generation`.
 */
export interface MemberVersionRow {
  readonly target_id: string;
  /** 1 once the batch that signs the member's envelope committed; 0 while it waits for it. */
  readonly issued: 0 | 1;
  readonly rolled_back_generation: number | null;
  readonly status: TargetStatus;
  readonly observed_seq: number;
  readonly desired_generation: number;
}

/** A member with what the controller reads of its target. */
export interface MemberTargetRow extends MemberVersionRow {
  readonly wave: number;
  /** The generation whose envelope carries the release; 0 until the member is issued. */
  readonly generation: number;
  /** The release of that name the target had before the rollout changed it, or null. */
  readonly previous: ReleaseRef | null;
  readonly name: string;
  readonly desired_bundles: ReleaseRef[];
  readonly observed: Target['observed'];
}

type Encoded<T, K extends keyof T> = Omit<T, K> & { readonly [P in K]: string | (null extends T[P] ? null : never) };
type RolloutSqlRow = Encoded<RolloutRow, 'plan' | 'created_by'>;
type MemberSqlRow = Encoded<MemberTargetRow, 'previous' | 'desired_bundles' | 'observed'>;

function rollout(row: RolloutSqlRow): RolloutRow {
  return { ...row, plan: JSON.parse(row.plan) as RolloutPlan, created_by: JSON.parse(row.created_by) as Actor };
}

function member(row: MemberSqlRow): MemberTargetRow {
  return {
    ...row,
    previous: row.previous === null ? null : (JSON.parse(row.previous) as ReleaseRef),
    desired_bundles: JSON.parse(row.desired_bundles) as ReleaseRef[],
    observed: row.observed === null ? null : (JSON.parse(row.observed) as Target['observed']),
  };
}

export interface SelectedRow {
  readonly id: string;
  readonly name: string;
  readonly status: TargetStatus;
}

const STATEMENT_CACHE = 128;
/** Members per grouped insert: 4 parameters each, well under SQLite's limit of 32,766 and PostgreSQL's of 65,535. */
const ENLIST_ROWS = 500;
const ENLIST =
  'INSERT INTO rollout_members (rollout_id, target_id, wave, generation, previous, joined_at, issued) VALUES';
const ENLIST_ROW = '(?, ?, ?, 0, NULL, ?, 0)';
/** Member changes one prune deletes at most: a few milliseconds of deletes. */
const PRUNE_PAGE = 2_048;

/**
 * Every SQL statement of rollouts, on SQLite or PostgreSQL, prepared once (selections are
 * compiled from queries and cached by their text). Writers run inside the controller's or service's transactions, so
 * a rollout's state, its members and the envelopes it bumps commit together.
 */
export class RolloutStore {
  private readonly db: Db;
  private readonly s;
  private readonly selections = new Map<string, Statement<unknown[], SelectedRow>>();

  constructor(db: Db) {
    this.db = db;
    this.s = {
      insert:
        db.prepare(`INSERT INTO rollouts (id, seq, release_name, release_version, release_digest, selector, plan, state, current_wave, created_at, created_by, updated_at)
        VALUES (@id, @seq, @release_name, @release_version, @release_digest, @selector, @plan, 'running', -1, @created_at, @created_by, @created_at)`),
      nextSeq: db.prepare<[], { n: number }>('SELECT coalesce(max(seq), 0) + 1 AS n FROM rollouts'),
      get: db.prepare<[string], RolloutSqlRow>('SELECT * FROM rollouts WHERE id = ?'),
      list: db.prepare<[number, number], RolloutSqlRow>(
        'SELECT * FROM rollouts WHERE seq < ? ORDER BY seq DESC LIMIT ?',
      ),
      listByState: db.prepare<[string, number, number], RolloutSqlRow>(
        'SELECT * FROM rollouts WHERE state = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
      ),
      running: db.prepare<[], RolloutSqlRow>("SELECT * FROM rollouts WHERE state = 'running' ORDER BY seq"),
      anyRunning: db.prepare<[], { one: number }>("SELECT 1 AS one FROM rollouts WHERE state = 'running' LIMIT 1"),
      activeForRelease: db.prepare<[string], RolloutSqlRow>(
        "SELECT * FROM rollouts WHERE release_name = ? AND state IN ('running', 'paused') ORDER BY seq",
      ),
      setState: db.prepare(
        'UPDATE rollouts SET state = @state, state_reason = @reason, updated_at = @at, finished_at = @finished WHERE id = @id',
      ),
      setWave: db.prepare('UPDATE rollouts SET current_wave = @wave, updated_at = @at WHERE id = @id'),
      touch: db.prepare('UPDATE rollouts SET updated_at = @at WHERE id = @id'),
      waves: db.prepare<[string], WaveRow>(
        'SELECT idx, cutoff, started_at, gates_met_at, finished_at FROM rollout_waves WHERE rollout_id = ? ORDER BY idx',
      ),
      insertWave: db.prepare(
        'INSERT INTO rollout_waves (rollout_id, idx, cutoff, started_at) VALUES (@id, @idx, @cutoff, @at)',
      ),
      setGatesMet: db.prepare('UPDATE rollout_waves SET gates_met_at = @at WHERE rollout_id = @id AND idx = @idx'),
      finishWave: db.prepare('UPDATE rollout_waves SET finished_at = @at WHERE rollout_id = @id AND idx = @idx'),
      restartWave: db.prepare(
        'UPDATE rollout_waves SET started_at = @at, gates_met_at = NULL WHERE rollout_id = @id AND idx = @idx',
      ),
      members: db.prepare<
        [string],
        MemberSqlRow
      >(`SELECT m.target_id, m.wave, m.generation, m.previous, m.issued, m.rolled_back_generation, t.name, t.status, t.observed_seq, t.desired_generation, t.desired_bundles, t.observed
        FROM rollout_members m JOIN targets t ON t.id = m.target_id WHERE m.rollout_id = ?`),
      // The targets arrive as one JSON array, whatever their number: each dialect has its own
      // table function to read it. CROSS JOIN keeps SQLite's planner from putting the array
      // inside a scan of all the rollout's members: a lookup per target named, not a pass per member.
      membersOf: db.prepare<
        [string, string],
        MemberSqlRow
      >(`SELECT m.target_id, m.wave, m.generation, m.previous, m.issued, m.rolled_back_generation, t.name, t.status, t.observed_seq, t.desired_generation, t.desired_bundles, t.observed
        FROM ${forDialect(db, { sqlite: 'json_each(?) j', postgres: 'json_array_elements_text(?::json) j (value)' })}
        CROSS JOIN rollout_members m CROSS JOIN targets t
        WHERE m.rollout_id = ? AND m.target_id = j.value AND t.id = m.target_id`),
      membersAmong: db.prepare<[string, string], { target_id: string }>(
        `SELECT m.target_id FROM ${forDialect(db, { sqlite: 'json_each(?) j', postgres: 'json_array_elements_text(?::json) j (value)' })}
        CROSS JOIN rollout_members m WHERE m.rollout_id = ? AND m.target_id = j.value`,
      ),
      memberCount: db.prepare<[string], { n: number }>(
        'SELECT count(*) AS n FROM rollout_members WHERE rollout_id = ?',
      ),
      enlistGroup: db.prepare<(string | number)[]>(
        `${ENLIST} ${Array.from({ length: ENLIST_ROWS }, () => ENLIST_ROW).join(', ')}`,
      ),
      enlistOne: db.prepare<[string, string, number, number]>(`${ENLIST} ${ENLIST_ROW}`),
      unissued: db.prepare<[string, number, number], { target_id: string }>(
        'SELECT target_id FROM rollout_members WHERE rollout_id = ? AND issued = 0 AND joined_at <= ? ORDER BY joined_at, target_id LIMIT ?',
      ),
      firstUnissued: db.prepare<[string], { at: number | null }>(
        'SELECT min(joined_at) AS at FROM rollout_members WHERE rollout_id = ? AND issued = 0',
      ),
      // Each by the running rollouts (few) and the members' primary key.
      anyWaitingFor: db.prepare<[string], { one: number }>(
        `SELECT 1 AS one FROM rollout_members m JOIN rollouts r ON r.id = m.rollout_id
        WHERE m.target_id = ? AND m.issued = 0 AND r.state = 'running' LIMIT 1`,
      ),
      waitingFor: db.prepare<[string], RolloutSqlRow>(
        `SELECT r.* FROM rollout_members m JOIN rollouts r ON r.id = m.rollout_id
        WHERE m.target_id = ? AND m.issued = 0 AND r.state = 'running' ORDER BY r.seq`,
      ),
      anyUnissued: db.prepare<[], { one: number }>(
        "SELECT 1 AS one FROM rollout_members m JOIN rollouts r ON r.id = m.rollout_id WHERE m.issued = 0 AND r.state = 'running' LIMIT 1",
      ),
      setIssued: db.prepare(
        'UPDATE rollout_members SET issued = 1, generation = @generation, previous = @previous WHERE rollout_id = @id AND target_id = @target AND issued = 0',
      ),
      dropUnissued: db.prepare('DELETE FROM rollout_members WHERE rollout_id = ? AND issued = 0'),
      dropMember: db.prepare('DELETE FROM rollout_members WHERE rollout_id = ? AND target_id = ?'),
      setRolledBack: db.prepare(
        'UPDATE rollout_members SET rolled_back_generation = @generation WHERE rollout_id = @id AND target_id = @target',
      ),
      holder: db.prepare<
        [string, string, string],
        { id: string }
      >(`SELECT r.id FROM rollout_members m JOIN rollouts r ON r.id = m.rollout_id
        WHERE m.target_id = ? AND r.release_name = ? AND r.state IN ('running', 'paused') AND r.id <> ? LIMIT 1`),
      holders: db.prepare<[string, string], { target_id: string; rollout_id: string }>(
        `SELECT m.target_id, m.rollout_id FROM rollout_members m JOIN rollouts r ON r.id = m.rollout_id
        WHERE r.release_name = ? AND r.state IN ('running', 'paused') AND r.id <> ?`,
      ),
      holdersOf: db.prepare<[string, string, string], { target_id: string; rollout_id: string }>(
        `SELECT m.target_id, m.rollout_id FROM ${forDialect(db, { sqlite: 'json_each(?) j', postgres: 'json_array_elements_text(?::json) j (value)' })}
        CROSS JOIN rollout_members m CROSS JOIN rollouts r
        WHERE m.target_id = j.value AND r.id = m.rollout_id AND r.release_name = ? AND r.state IN ('running', 'paused') AND r.id <> ?`,
      ),
      memberIds: db.prepare<[string], { target_id: string }>(
        'SELECT target_id FROM rollout_members WHERE rollout_id = ?',
      ),
      // PostgreSQL counts no changes per connection; its current snapshot (the next transaction
      // id and those in progress) moves whenever a write transaction, on any replica, begins or ends.
      changeMark: db.prepare<[], { n: number | string }>(
        forDialect(db, {
          sqlite: 'SELECT total_changes() AS n',
          postgres: 'SELECT pg_current_snapshot()::text AS n',
        }),
      ),
      lastChange: db.prepare<[], { n: number }>('SELECT coalesce(max(seq), 0) AS n FROM rollout_member_changes'),
      changesSince: db.prepare<[number], { seq: number; target_id: string }>(
        'SELECT seq, target_id FROM rollout_member_changes WHERE seq > ? ORDER BY seq',
      ),
      changesPage: db.prepare<[number, number], { seq: number; target_id: string }>(
        'SELECT seq, target_id FROM rollout_member_changes WHERE seq > ? ORDER BY seq LIMIT ?',
      ),
      pruneChanges: db.prepare<[number, number]>(
        'DELETE FROM rollout_member_changes WHERE seq IN (SELECT seq FROM rollout_member_changes WHERE seq <= ? ORDER BY seq LIMIT ?)',
      ),
    };
  }

  nextSeq(): number {
    return this.s.nextSeq.get()!.n;
  }

  insert(
    row: Pick<
      RolloutRow,
      | 'id'
      | 'seq'
      | 'release_name'
      | 'release_version'
      | 'release_digest'
      | 'selector'
      | 'plan'
      | 'created_at'
      | 'created_by'
    >,
  ): void {
    this.s.insert.run({ ...row, plan: JSON.stringify(row.plan), created_by: JSON.stringify(row.created_by) });
  }

  /** What approvals of a rollout are checked against: its author, release and whether it still runs. */
  subject(id: string): { author: string; releaseDigest: string; active: boolean } | undefined {
    const row = this.get(id);
    return row === undefined
      ? undefined
      : {
          author: row.created_by.id,
          releaseDigest: row.release_digest,
          active: row.state === 'running' || row.state === 'paused',
        };
  }

  get(id: string): RolloutRow | undefined {
    const row = this.s.get.get(id);
    return row === undefined ? undefined : rollout(row);
  }

  /** Newest first, before `beforeSeq` (keyset paging). */
  list(state: RolloutState | undefined, beforeSeq: number, limit: number): RolloutRow[] {
    return (
      state === undefined ? this.s.list.all(beforeSeq, limit) : this.s.listByState.all(state, beforeSeq, limit)
    ).map(rollout);
  }

  running(): RolloutRow[] {
    return this.s.running.all().map(rollout);
  }

  hasRunning(): boolean {
    return this.s.anyRunning.get() !== undefined;
  }

  /** Running and paused rollouts of one release name, oldest first. */
  activeForRelease(name: string): RolloutRow[] {
    return this.s.activeForRelease.all(name).map(rollout);
  }

  setState(id: string, state: RolloutState, reason: string | null, at: number, finished: number | null): void {
    this.s.setState.run({ id, state, reason, at, finished });
  }

  setCurrentWave(id: string, wave: number, at: number): void {
    this.s.setWave.run({ id, wave, at });
  }

  touch(id: string, at: number): void {
    this.s.touch.run({ id, at });
  }

  waves(id: string): WaveRow[] {
    return this.s.waves.all(id);
  }

  insertWave(id: string, idx: number, cutoff: number | null, at: number): void {
    this.s.insertWave.run({ id, idx, cutoff, at });
  }

  setGatesMet(id: string, idx: number, at: number | null): void {
    this.s.setGatesMet.run({ id, idx, at });
  }

  finishWave(id: string, idx: number, at: number): void {
    this.s.finishWave.run({ id, idx, at });
  }

  /** On resume: the timeout and the bake of the current wave start over. */
  restartWave(id: string, idx: number, at: number): void {
    this.s.restartWave.run({ id, idx, at });
  }

  members(id: string): MemberTargetRow[] {
    return this.s.members.all(id).map(member);
  }

  /** The members among `targetIds` (the others are not members), in one statement however many are asked for. */
  membersOf(id: string, targetIds: readonly string[]): MemberTargetRow[] {
    if (targetIds.length === 0) return [];
    return this.s.membersOf.all(JSON.stringify(targetIds), id).map(member);
  }

  /** Those of `targetIds` that are members of the rollout, in one statement however many are asked for. */
  membersAmong(id: string, targetIds: readonly string[]): Set<string> {
    return new Set(this.s.membersAmong.all(JSON.stringify(targetIds), id).map((r) => r.target_id));
  }

  memberCount(id: string): number {
    return this.s.memberCount.get(id)!.n;
  }

  memberIds(id: string): Set<string> {
    return new Set(this.s.memberIds.all(id).map((r) => r.target_id));
  }

  /**
   * Records members whose envelopes are still to be issued (see {@link setIssued}), in grouped
   * statements: one row each would cost a statement per target of an 18,000-target wave.
   */
  enlist(id: string, members: readonly { readonly targetId: string; readonly wave: number }[], at: number): void {
    let start = 0;
    for (; start + ENLIST_ROWS <= members.length; start += ENLIST_ROWS) {
      const params: (string | number)[] = [];
      for (const m of members.slice(start, start + ENLIST_ROWS)) params.push(id, m.targetId, m.wave, at);
      this.s.enlistGroup.run(...params);
    }
    for (const m of members.slice(start)) this.s.enlistOne.run(id, m.targetId, m.wave, at);
  }

  /**
   * Up to `limit` members of the rollout still waiting for their envelope, oldest first (then in
   * target order); with `joinedBy`, only those recorded at or before then.
   */
  unissued(id: string, limit: number, joinedBy = Number.MAX_SAFE_INTEGER): string[] {
    return this.s.unissued.all(id, joinedBy, limit).map((r) => r.target_id);
  }

  /** When the rollout's earliest member still waiting for its envelope was recorded, or undefined. */
  firstUnissuedAt(id: string): number | undefined {
    return this.s.firstUnissued.get(id)?.at ?? undefined;
  }

  /** Whether the target is a member of a running rollout still waiting for its envelope: what every fetch asks. */
  isWaiting(targetId: string): boolean {
    return this.s.anyWaitingFor.get(targetId) !== undefined;
  }

  /** The running rollouts, oldest first, in which the target is a member still waiting for its envelope. */
  waitingFor(targetId: string): RolloutRow[] {
    return this.s.waitingFor.all(targetId).map(rollout);
  }

  /** Whether a running rollout has a member waiting for its envelope: what a started hub resumes. */
  hasUnissued(): boolean {
    return this.s.anyUnissued.get() !== undefined;
  }

  /**
   * The member's envelope is signed: it carries the release from `generation` on. False when it
   * was not waiting (another transaction issued it first).
   */
  setIssued(id: string, target: string, generation: number, previous: ReleaseRef | null): boolean {
    return (
      this.s.setIssued.run({
        id,
        target,
        generation,
        previous: previous === null ? null : JSON.stringify(previous),
      }).changes === 1
    );
  }

  /** Forgets the members never issued (the rollout stops): they never got its release. */
  dropUnissued(id: string): number {
    return this.s.dropUnissued.run(id).changes;
  }

  /** Forgets one member, for a target that can no longer be given the release (revoked since). */
  dropMember(id: string, target: string): void {
    this.s.dropMember.run(id, target);
  }

  setRolledBack(id: string, target: string, generation: number): void {
    this.s.setRolledBack.run({ id, target, generation });
  }

  /** Another running or paused rollout of `releaseName` that has updated the target, if any. */
  holder(targetId: string, releaseName: string, exceptId: string): string | undefined {
    return this.s.holder.get(targetId, releaseName, exceptId)?.id;
  }

  /** Every target another running or paused rollout of `releaseName` has updated, with that rollout: {@link holder} for a whole wave in one read. */
  holders(releaseName: string, exceptId: string): Map<string, string> {
    return new Map(this.s.holders.all(releaseName, exceptId).map((r) => [r.target_id, r.rollout_id]));
  }

  /** {@link holders} among `targetIds` alone: for a slice of a wave, without reading the other rollouts' every member. */
  holdersOf(targetIds: readonly string[], releaseName: string, exceptId: string): Map<string, string> {
    return new Map(
      this.s.holdersOf.all(JSON.stringify(targetIds), releaseName, exceptId).map((r) => [r.target_id, r.rollout_id]),
    );
  }

  /**
   * The targets a query selects now, revoked ones left out: they never fetch desired state
   * again. With `exceptMembersOf`, only those that are not members of that rollout.
   */
  selected(query: Query, now: number, exceptMembersOf?: string): SelectedRow[] {
    const { where, params } = compileQuerySql(query, { now, alias: 't', dialect: dialectOf(this.db) });
    const members =
      exceptMembersOf === undefined
        ? ''
        : ' AND NOT EXISTS (SELECT 1 FROM rollout_members m WHERE m.rollout_id = ? AND m.target_id = t.id)';
    if (exceptMembersOf !== undefined) params.push(exceptMembersOf);
    const sql = `SELECT t.id, t.name, t.status FROM targets t WHERE (${where}) AND t.status <> 'revoked'${members} ORDER BY t.id`;
    let statement = this.selections.get(sql);
    if (statement === undefined) {
      if (this.selections.size >= STATEMENT_CACHE) this.selections.delete(this.selections.keys().next().value!);
      statement = this.db.prepare<unknown[], SelectedRow>(sql);
      this.selections.set(sql, statement);
    }
    return statement.all(...params);
  }

  /** The number of the newest member change (migration 036), 0 when none was ever recorded. */
  lastChange(): number {
    return this.s.lastChange.get()!.n;
  }

  /** The member changes after `seq`, oldest first (at most `limit`): the targets whose members need reading again. */
  changesSince(seq: number, limit?: number): { readonly seq: number; readonly target_id: string }[] {
    return limit === undefined ? this.s.changesSince.all(seq) : this.s.changesPage.all(seq, limit);
  }

  /**
   * Deletes the oldest `limit` member changes up to `seq`, which the reader has taken in; true
   * when none up to `seq` is left. A rollout's 18,000 reports leave tens of thousands, and
   * deleting them at once held the event loop for 60–130 ms. Best effort: a store that cannot
   * write keeps them (false), and the next prune takes them.
   */
  pruneChanges(seq: number, limit = PRUNE_PAGE): boolean {
    try {
      return this.s.pruneChanges.run(seq, limit).changes < limit;
    } catch {
      // Left for the next prune; reading never depends on it.
      return false;
    }
  }

  /** Whether a transaction is open on the store: what is read now may yet roll back. */
  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  /**
   * A value that moves when the store changed, a cheap "did anything happen": on SQLite the
   * rows changed through this connection since it opened; on PostgreSQL the server's current
   * snapshot, which also moves for writes by other replicas (and other databases: it may say
   * something happened when nothing did here, never the reverse).
   */
  changeMark(): number | string {
    return this.s.changeMark.get()!.n;
  }
}
