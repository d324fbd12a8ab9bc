import type { Report, SignedReport } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';

/** Agents' signed reports, each stored once per target and sequence number, as received. */
export class ReportStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare(
        'INSERT INTO reports (target_id, seq, generation, received_at, signed) VALUES (@targetId, @seq, @generation, @receivedAt, @signed) ON CONFLICT DO NOTHING',
      ),
      get: db.prepare<[string, number], { signed: string }>(
        'SELECT signed FROM reports WHERE target_id = ? AND seq = ?',
      ),
      lastSeq: db.prepare<[string], { seq: number | null }>('SELECT max(seq) AS seq FROM reports WHERE target_id = ?'),
      last: db.prepare<[string], { signed: string }>(
        'SELECT signed FROM reports WHERE target_id = ? ORDER BY seq DESC LIMIT 1',
      ),
      held: db.prepare<[string, number, number], { seq: number }>(
        'SELECT seq FROM reports WHERE target_id = ? AND seq BETWEEN ? AND ? ORDER BY seq',
      ),
      highest: db.prepare<[string], { seq: number; generation: number }>(
        'SELECT seq, generation FROM reports WHERE target_id = ? ORDER BY seq DESC LIMIT 1',
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

  /** The seqs from `from` to `to` (inclusive) stored for the target, increasing. */
  heldSeqs(targetId: string, from: number, to: number): number[] {
    return this.s.held.all(targetId, from, to).map((r) => r.seq);
  }

  /** The highest seq stored for the target (0 for none) and the generation that report applied. */
  highest(targetId: string): { readonly seq: number; readonly generation: number | null } {
    const row = this.s.highest.get(targetId);
    return { seq: row?.seq ?? 0, generation: row?.generation ?? null };
  }

  /** The canonical JSON of a stored report, to tell a resent report from a reused seq. */
  json(targetId: string, seq: number): string | undefined {
    return this.s.get.get(targetId, seq)?.signed;
  }
}
