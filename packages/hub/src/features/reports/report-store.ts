import type { Report, SignedReport } from '@flotilla/protocol';
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
      lastSeq: db.prepare<[string], { seq: number | null }>('SELECT max(seq) AS seq FROM reports WHERE target_id = ?'),
      last: db.prepare<[string], { signed: string }>(
        'SELECT signed FROM reports WHERE target_id = ? ORDER BY seq DESC LIMIT 1',
      ),
    };
  }

  /** Stores a report once per (target, seq); false when that seq was stored before. */
  insert(targetId: string, seq: number, generation: number, receivedAt: number, signed: string): boolean {
    return this.s.insert.run({ targetId, seq, generation, receivedAt, signed }).changes === 1;
  }

  /** The highest seq stored for a target; 0 before its first report. */
  lastSeq(targetId: string): number {
    return this.s.lastSeq.get(targetId)?.seq ?? 0;
  }

  /** The target's report with the highest seq, as stored; undefined before its first. */
  last(targetId: string): Report | undefined {
    const row = this.s.last.get(targetId);
    return row === undefined ? undefined : (JSON.parse(row.signed) as SignedReport).report;
  }

  /** The canonical JSON of a stored report, to tell a resent report from a reused seq. */
  json(targetId: string, seq: number): string | undefined {
    return this.s.get.get(targetId, seq)?.signed;
  }
}
