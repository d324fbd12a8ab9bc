import type { Db } from '../../store/database.ts';

/** Agents' signed reports, each stored once per target and sequence number, as received. */
export class ReportStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare(
        'INSERT OR IGNORE INTO reports (target_id, seq, generation, received_at, signed) VALUES (@targetId, @seq, @generation, @receivedAt, @signed)',
      ),
      get: db.prepare<[string, number], { signed: string }>(
        'SELECT signed FROM reports WHERE target_id = ? AND seq = ?',
      ),
    };
  }

  /** Stores a report once per (target, seq); false when that seq was stored before. */
  insert(targetId: string, seq: number, generation: number, receivedAt: number, signed: string): boolean {
    return this.s.insert.run({ targetId, seq, generation, receivedAt, signed }).changes === 1;
  }

  /** The canonical JSON of a stored report, to tell a resent report from a reused seq. */
  json(targetId: string, seq: number): string | undefined {
    return this.s.get.get(targetId, seq)?.signed;
  }
}
