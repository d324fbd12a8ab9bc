import type { Db } from '../../store/database.ts';
import { dialectOf, type Dialect, type Statement } from '../../store/sql.ts';
import type { AuditEntry, AuditOutcome } from '@flotilla/protocol/audit';
import type { AuditOrder } from './audit-cursor.ts';
import type { AuditQueryFilter } from './audit-filter.ts';

export interface AuditEntryRow {
  seq: number;
  time_ms: number;
  actor_kind: string;
  actor_id: string;
  action: string;
  outcome: string;
  hash: string;
  prev_hash: string;
  entry: string;
}

export interface AuditHeadRow {
  seq: number;
  hash: string;
  time_ms: number;
}

export interface AuditCheckpointRow {
  id: number;
  seq: number;
  hash: string;
  reason: 'interval' | 'export' | 'prune' | 'manual';
  key_id: string;
  public_key: string;
  created_ms: number;
  signed: string;
}

export interface AuditAnchorRow {
  seq: number;
  hash: string;
  time_ms: number;
  removed: number;
  pruned_ms: number;
  signed: string;
}

/**
 * "Is one of these targets", as each dialect says it with one parameter: SQLite reads a JSON
 * array, PostgreSQL takes a text array (whose `= ANY` uses the subjects key as `IN` does).
 */
const TARGET_IN: Readonly<Record<Dialect, { sql: string; param(targets: readonly string[]): unknown }>> = {
  sqlite: { sql: 'IN (SELECT value FROM json_each(?))', param: (targets) => JSON.stringify(targets) },
  postgres: { sql: '= ANY (?::text[])', param: (targets) => [...targets] },
};

/**
 * The SQL of the audit tables (migration 002-audit.sql), each statement prepared once, on
 * SQLite or PostgreSQL. Only the audit log calls it; it knows tables, not chains.
 */
export class AuditStore {
  readonly db: Db;
  private readonly s;
  private readonly dynamic = new Map<string, Statement<unknown[], { entry: string }>>();
  private readonly targetIn;

  constructor(db: Db) {
    this.db = db;
    this.targetIn = TARGET_IN[dialectOf(db)];
    this.s = {
      insertEntry: db.prepare<
        [AuditEntryRow]
      >(`INSERT INTO audit_entries (seq, time_ms, actor_kind, actor_id, action, outcome, hash, prev_hash, entry)
        VALUES (@seq, @time_ms, @actor_kind, @actor_id, @action, @outcome, @hash, @prev_hash, @entry)`),
      insertSubject: db.prepare<[string, number]>('INSERT INTO audit_subjects (target_id, seq) VALUES (?, ?)'),
      head: db.prepare<[], AuditHeadRow>('SELECT seq, hash, time_ms FROM audit_entries ORDER BY seq DESC LIMIT 1'),
      entryAt: db.prepare<[number], AuditHeadRow>('SELECT seq, hash, time_ms FROM audit_entries WHERE seq = ?'),
      // Time never decreases with seq, so the first row in time order is the lowest seq.
      firstAtOrAfter: db.prepare<[number], { seq: number }>(
        'SELECT seq FROM audit_entries WHERE time_ms >= ? ORDER BY time_ms, seq LIMIT 1',
      ),
      lastBefore: db.prepare<[number], { seq: number }>(
        'SELECT seq FROM audit_entries WHERE time_ms < ? ORDER BY time_ms DESC, seq DESC LIMIT 1',
      ),
      page: db.prepare<[number, number, number], Pick<AuditEntryRow, 'seq' | 'hash' | 'entry'>>(
        'SELECT seq, hash, entry FROM audit_entries WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?',
      ),
      subjectSeqs: db.prepare<[unknown, number, number], { seq: number }>(
        `SELECT DISTINCT seq FROM audit_subjects WHERE target_id ${this.targetIn.sql} AND seq BETWEEN ? AND ?`,
      ),
      // RETURNING rather than the last rowid, which PostgreSQL does not have.
      insertCheckpoint: db.prepare<[Omit<AuditCheckpointRow, 'id'>], { id: number }>(
        `INSERT INTO audit_checkpoints (seq, hash, reason, key_id, public_key, created_ms, signed)
        VALUES (@seq, @hash, @reason, @key_id, @public_key, @created_ms, @signed) RETURNING id`,
      ),
      checkpointsBetween: db.prepare<[number, number], AuditCheckpointRow>(
        'SELECT * FROM audit_checkpoints WHERE seq BETWEEN ? AND ? ORDER BY seq, id',
      ),
      lastCheckpoint: db.prepare<[], AuditCheckpointRow>(
        'SELECT * FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1',
      ),
      anchor: db.prepare<[], AuditAnchorRow>('SELECT * FROM audit_anchors ORDER BY seq DESC LIMIT 1'),
      insertAnchor: db.prepare<[AuditAnchorRow]>(
        'INSERT INTO audit_anchors (seq, hash, time_ms, removed, pruned_ms, signed) VALUES (@seq, @hash, @time_ms, @removed, @pruned_ms, @signed)',
      ),
      deleteSubjects: db.prepare<[number]>('DELETE FROM audit_subjects WHERE seq <= ?'),
      deleteEntries: db.prepare<[number]>('DELETE FROM audit_entries WHERE seq <= ?'),
      deleteCheckpoints: db.prepare<[number]>('DELETE FROM audit_checkpoints WHERE seq < ?'),
    };
  }

  insertEntry(row: AuditEntryRow, subjects: readonly string[]): void {
    this.s.insertEntry.run(row);
    for (const subject of subjects) this.s.insertSubject.run(subject, row.seq);
  }

  head(): AuditHeadRow | undefined {
    return this.s.head.get();
  }

  entryAt(seq: number): AuditHeadRow | undefined {
    return this.s.entryAt.get(seq);
  }

  firstSeqAtOrAfter(timeMs: number): number | undefined {
    return this.s.firstAtOrAfter.get(timeMs)?.seq;
  }

  lastSeqBefore(timeMs: number): number | undefined {
    return this.s.lastBefore.get(timeMs)?.seq;
  }

  /** Entries `from` … `to` in seq order, at most `limit` of them. */
  page(from: number, to: number, limit: number): Pick<AuditEntryRow, 'seq' | 'hash' | 'entry'>[] {
    return this.s.page.all(from, to, limit);
  }

  /** The seqs within `from` … `to` whose entries name any of the targets. */
  subjectSeqs(targets: readonly string[], from: number, to: number): number[] {
    return this.s.subjectSeqs.all(this.targetIn.param(targets), from, to).map((r) => r.seq);
  }

  insertCheckpoint(row: Omit<AuditCheckpointRow, 'id'>): number {
    return this.s.insertCheckpoint.get(row)!.id;
  }

  checkpointsBetween(from: number, to: number): AuditCheckpointRow[] {
    return this.s.checkpointsBetween.all(from, to);
  }

  lastCheckpoint(): AuditCheckpointRow | undefined {
    return this.s.lastCheckpoint.get();
  }

  anchor(): AuditAnchorRow | undefined {
    return this.s.anchor.get();
  }

  /** Records the anchor, then removes what it replaces; the anchor must come first for the delete trigger. */
  pruneThrough(anchor: AuditAnchorRow): void {
    this.s.insertAnchor.run(anchor);
    this.s.deleteSubjects.run(anchor.seq);
    this.s.deleteEntries.run(anchor.seq);
    this.s.deleteCheckpoints.run(anchor.seq);
  }

  /**
   * The entries with seq in `from` … `to` that pass the filter (whose times are already folded
   * into that range, as numbers), in `order`, at most `limit`. Statements are prepared once per shape.
   */
  query(filter: AuditQueryFilter, from: number, to: number, order: AuditOrder, limit: number): AuditEntry[] {
    const { sql, params } = buildAuditQuery(filter, from, to, order, limit, this.targetIn);
    let statement = this.dynamic.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare<unknown[], { entry: string }>(sql);
      this.dynamic.set(sql, statement);
    }
    return statement.all(...params).map((row) => decodeAuditEntry(row.entry));
  }

  /** Every stored checkpoint and prune anchor from `from` to `to`, as the signed documents they are, for a verifier to check. */
  checkpointDocuments(from: number, to: number): unknown[] {
    return this.s.checkpointsBetween.all(from, to).map((row) => JSON.parse(row.signed) as unknown);
  }

  /** Entries from `from` on, at most `limit`, as the documents they are, for a verifier to check. */
  entryDocuments(from: number, limit: number): { readonly seq: number; readonly document: unknown }[] {
    return this.s.page
      .all(from, Number.MAX_SAFE_INTEGER, limit)
      .map((row) => ({ seq: row.seq, document: JSON.parse(row.entry) as unknown }));
  }
}

/** An entry as stored: the JSON this store wrote from the entry the audit log built and hashed. */
export function decodeAuditEntry(json: string): AuditEntry {
  return JSON.parse(json) as AuditEntry;
}

/**
 * The SQL for one page: entries with seq in `from` … `to` (time bounds and the cursor are
 * already folded into that range) that pass the filter, in `order`, `limit` of them.
 *
 * One target is read through the subjects primary key in seq order, so a target's history
 * costs the same however large the log; several targets go through an IN over the same key.
 */
function buildAuditQuery(
  filter: AuditQueryFilter,
  from: number,
  to: number,
  order: AuditOrder,
  limit: number,
  targetIn: (typeof TARGET_IN)[Dialect],
): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  let source = 'audit_entries e';
  let seq = 'e.seq';
  const targets = filter.targets;
  if (targets !== undefined && targets.length === 1) {
    source = 'audit_subjects s JOIN audit_entries e ON e.seq = s.seq';
    seq = 's.seq';
    where.push('s.target_id = ?');
    params.push(targets[0]);
  }
  where.push(`${seq} BETWEEN ? AND ?`);
  params.push(from, to);
  if (targets !== undefined && targets.length !== 1) {
    where.push(`e.seq IN (SELECT seq FROM audit_subjects WHERE target_id ${targetIn.sql} AND seq BETWEEN ? AND ?)`);
    params.push(targetIn.param(targets), from, to);
  }
  if (filter.actor?.kind !== undefined) {
    where.push('e.actor_kind = ?');
    params.push(filter.actor.kind);
  }
  if (filter.actor?.id !== undefined) {
    where.push('e.actor_id = ?');
    params.push(filter.actor.id);
  }
  if (filter.action !== undefined) {
    if (filter.action.endsWith('.*')) {
      // A range, not LIKE: it uses the (action, seq) index and needs no escaping. '/' sorts right after '.'.
      const prefix = filter.action.slice(0, -1);
      where.push('e.action >= ? AND e.action < ?');
      params.push(prefix, `${prefix.slice(0, -1)}/`);
    } else {
      where.push('e.action = ?');
      params.push(filter.action);
    }
  }
  if (filter.outcome !== undefined) {
    const outcomes: readonly AuditOutcome[] = typeof filter.outcome === 'string' ? [filter.outcome] : filter.outcome;
    where.push(`e.outcome IN (${outcomes.map(() => '?').join(', ')})`);
    params.push(...outcomes);
  }
  params.push(limit);
  return {
    sql: `SELECT e.entry AS entry FROM ${source} WHERE ${where.join(' AND ')} ORDER BY ${seq} ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT ?`,
    params,
  };
}
