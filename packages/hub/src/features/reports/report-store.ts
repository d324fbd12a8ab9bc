import type { Report, SignedReport } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';

/** What one batch of a prune removed: how many reports, and the arrival time of the last. */
export interface PrunedBatch {
  readonly removed: number;
  /** The `received_at` of the last report removed; undefined when none was. */
  readonly lastReceivedAt: number | undefined;
}

/**
 * The reports one batch of a prune removes: received before the cutoff, from the cursor on,
 * oldest first, never a target's newest (its highest seq). Ordered on the whole key, so the
 * two statements of a batch that read it pick the same rows.
 */
const PRUNABLE = `SELECT r.target_id, r.seq FROM reports AS r
  WHERE r.received_at >= @from AND r.received_at < @cutoff
    AND EXISTS (SELECT 1 FROM reports AS n WHERE n.target_id = r.target_id AND n.seq > r.seq)
  ORDER BY r.received_at, r.target_id, r.seq LIMIT @limit`;

/** Agents' signed reports, each stored once per target and sequence number, as received. */
export class ReportStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      // Nothing at or below the target's floor: those seqs were spent on reports since pruned.
      insert: db.prepare(
        `INSERT INTO reports (target_id, seq, generation, received_at, signed)
         SELECT @targetId, CAST(@seq AS bigint), CAST(@generation AS bigint), CAST(@receivedAt AS bigint), @signed
         WHERE NOT EXISTS (SELECT 1 FROM report_floors WHERE target_id = @targetId AND pruned_through >= @seq)
         ON CONFLICT DO NOTHING`,
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
      prunedThrough: db.prepare<[string], { pruned_through: number }>(
        'SELECT pruned_through FROM report_floors WHERE target_id = ?',
      ),
      // (The larger of the two as a CASE, which both SQL dialects read.)
      raiseFloors: db.prepare<[{ from: number; cutoff: number; limit: number }]>(
        `INSERT INTO report_floors (target_id, pruned_through)
         SELECT target_id, max(seq) FROM (${PRUNABLE}) AS pruned WHERE true GROUP BY target_id
         ON CONFLICT (target_id) DO UPDATE SET pruned_through = CASE
           WHEN excluded.pruned_through > report_floors.pruned_through THEN excluded.pruned_through
           ELSE report_floors.pruned_through END`,
      ),
      prune: db.prepare<[{ from: number; cutoff: number; limit: number }], { received_at: number }>(
        `DELETE FROM reports WHERE (target_id, seq) IN (${PRUNABLE}) RETURNING received_at`,
      ),
      tally: db.prepare<[{ removed: number }]>(
        `INSERT INTO report_prune_tally (id, removed) VALUES (1, @removed)
         ON CONFLICT (id) DO UPDATE SET removed = report_prune_tally.removed + excluded.removed`,
      ),
      untallied: db.prepare<[], { removed: number }>('SELECT removed FROM report_prune_tally WHERE id = 1'),
      clearTally: db.prepare('UPDATE report_prune_tally SET removed = 0 WHERE id = 1'),
    };
  }

  /**
   * Stores a report once per (target, seq); false when that seq was stored before, or is at or
   * below the target's floor ({@link prunedThrough}).
   */
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

  /** The highest seq of the target whose report was pruned (its floor): the seqs up to it are spent; 0 when none was pruned. */
  prunedThrough(targetId: string): number {
    return this.s.prunedThrough.get(targetId)?.pruned_through ?? 0;
  }

  /**
   * Removes up to `limit` reports received before `cutoff`, from `from` on, oldest first,
   * never a target's newest; raises each target's floor to the highest seq removed and adds
   * the count to the tally the next `report.prune` entry takes. Call it in a transaction: the
   * rows, the floors and the tally change together.
   */
  pruneBatch(cutoff: number, from: number, limit: number): PrunedBatch {
    const params = { from, cutoff, limit };
    this.s.raiseFloors.run(params);
    const removed = this.s.prune.all(params);
    if (removed.length > 0) this.s.tally.run({ removed: removed.length });
    return {
      removed: removed.length,
      lastReceivedAt: removed.reduce<number | undefined>(
        (last, r) => Math.max(last ?? r.received_at, r.received_at),
        undefined,
      ),
    };
  }

  /** The reports pruned that no audit entry counted yet, and sets that count back to 0. */
  takeTally(): number {
    const removed = this.s.untallied.get()?.removed ?? 0;
    if (removed > 0) this.s.clearTally.run();
    return removed;
  }
}
