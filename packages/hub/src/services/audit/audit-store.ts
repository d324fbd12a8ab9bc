import type Database from 'better-sqlite3';

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
 * The SQL of the audit tables (migration 002-audit.sql), each statement prepared once. Only
 * the audit log calls it; it knows tables, not chains.
 */
export class AuditStore {
  readonly db: Database.Database;
  private readonly s;
  private readonly dynamic = new Map<string, Database.Statement<unknown[], { entry: string }>>();

  constructor(db: Database.Database) {
    this.db = db;
    this.s = {
      insertEntry: db.prepare<[AuditEntryRow]>(`INSERT INTO audit_entries (seq, time_ms, actor_kind, actor_id, action, outcome, hash, prev_hash, entry)
        VALUES (@seq, @time_ms, @actor_kind, @actor_id, @action, @outcome, @hash, @prev_hash, @entry)`),
      insertSubject: db.prepare<[string, number]>('INSERT INTO audit_subjects (target_id, seq) VALUES (?, ?)'),
      head: db.prepare<[], AuditHeadRow>('SELECT seq, hash, time_ms FROM audit_entries ORDER BY seq DESC LIMIT 1'),
      entryAt: db.prepare<[number], AuditHeadRow>('SELECT seq, hash, time_ms FROM audit_entries WHERE seq = ?'),
      // Time never decreases with seq, so the first row in time order is the lowest seq.
      firstAtOrAfter: db.prepare<[number], { seq: number }>('SELECT seq FROM audit_entries WHERE time_ms >= ? ORDER BY time_ms, seq LIMIT 1'),
      lastBefore: db.prepare<[number], { seq: number }>('SELECT seq FROM audit_entries WHERE time_ms < ? ORDER BY time_ms DESC, seq DESC LIMIT 1'),
      page: db.prepare<[number, number, number], Pick<AuditEntryRow, 'seq' | 'hash' | 'entry'>>('SELECT seq, hash, entry FROM audit_entries WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?'),
      subjectSeqs: db.prepare<[string, number, number], { seq: number }>('SELECT DISTINCT seq FROM audit_subjects WHERE target_id IN (SELECT value FROM json_each(?)) AND seq BETWEEN ? AND ?'),
      insertCheckpoint: db.prepare<[Omit<AuditCheckpointRow, 'id'>]>(`INSERT INTO audit_checkpoints (seq, hash, reason, key_id, public_key, created_ms, signed)
        VALUES (@seq, @hash, @reason, @key_id, @public_key, @created_ms, @signed)`),
      checkpointsBetween: db.prepare<[number, number], AuditCheckpointRow>('SELECT * FROM audit_checkpoints WHERE seq BETWEEN ? AND ? ORDER BY seq, id'),
      lastCheckpoint: db.prepare<[], AuditCheckpointRow>('SELECT * FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1'),
      anchor: db.prepare<[], AuditAnchorRow>('SELECT * FROM audit_anchors ORDER BY seq DESC LIMIT 1'),
      insertAnchor: db.prepare<[AuditAnchorRow]>('INSERT INTO audit_anchors (seq, hash, time_ms, removed, pruned_ms, signed) VALUES (@seq, @hash, @time_ms, @removed, @pruned_ms, @signed)'),
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
    return this.s.subjectSeqs.all(JSON.stringify(targets), from, to).map((r) => r.seq);
  }

  insertCheckpoint(row: Omit<AuditCheckpointRow, 'id'>): number {
    return Number(this.s.insertCheckpoint.run(row).lastInsertRowid);
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

  /** Runs a query built by {@link buildAuditQuery}; statements are prepared once per shape. */
  select(sql: string, params: readonly unknown[]): { entry: string }[] {
    let statement = this.dynamic.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare<unknown[], { entry: string }>(sql);
      this.dynamic.set(sql, statement);
    }
    return statement.all(...params);
  }
}
