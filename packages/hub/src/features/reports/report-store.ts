import type { Report, SignedReport } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';

/**
 * Where a prune goes on: at a target (whose old reports the last batch left some of), or after
 * one, in id order.
 */
export type PruneCursor = { readonly at: string } | { readonly after: string };

/** Where a prune starts: before the first target. */
export const PRUNE_START: PruneCursor = { after: '' };

/** What one batch of a prune removed, and where the next goes on; no cursor once every target was seen. */
export interface PrunedBatch {
  readonly removed: number;
  readonly cursor: PruneCursor | undefined;
}

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
      // A page of targets, each with whether it has a report to prune: its oldest received
      // before the cutoff and not its newest. One statement a page, so a fleet with nothing old
      // costs a round trip per page on PostgreSQL, not one per target.
      targetsAfter: db.prepare<[{ after: string; cutoff: number; limit: number }], { id: string; prunable: number }>(
        `SELECT t.id, CASE WHEN EXISTS (
           SELECT 1 FROM reports AS o
           WHERE o.target_id = t.id AND o.received_at < @cutoff
             AND o.seq = (SELECT min(m.seq) FROM reports AS m WHERE m.target_id = t.id)
             AND EXISTS (SELECT 1 FROM reports AS n WHERE n.target_id = t.id AND n.seq > o.seq)
         ) THEN 1 ELSE 0 END AS prunable
         FROM (SELECT id FROM targets WHERE id > @after ORDER BY id LIMIT @limit) AS t
         ORDER BY t.id`,
      ),
      oldest: db.prepare<[string, number], { seq: number; received_at: number }>(
        'SELECT seq, received_at FROM reports WHERE target_id = ? ORDER BY seq LIMIT ?',
      ),
      pruneThrough: db.prepare('DELETE FROM reports WHERE target_id = ? AND seq <= ?'),
      // (The larger of the two as a CASE, which both SQL dialects read.)
      raiseFloor: db.prepare(
        `INSERT INTO report_floors (target_id, pruned_through) VALUES (@targetId, @seq)
         ON CONFLICT (target_id) DO UPDATE SET pruned_through = CASE
           WHEN excluded.pruned_through > report_floors.pruned_through THEN excluded.pruned_through
           ELSE report_floors.pruned_through END`,
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
   * One batch of a prune: from `cursor`, target by target in id order, removes each target's
   * reports received before `cutoff` that come before its first one received since (in seq
   * order), never its newest; raises its floor to the highest seq removed, and adds the count
   * to the tally the next `report.prune` entry takes. Stops at `limit` reports removed or
   * `limit` targets seen. Reads the reports of each target that has some to prune by its key,
   * oldest first and at most `limit` + 1 of them, so it needs no index on arrival, which each
   * report's insert would pay for. Call it in a transaction: rows, floors and tally change
   * together.
   */
  pruneBatch(cutoff: number, cursor: PruneCursor, limit: number): PrunedBatch {
    const page = (after: string, count: number) =>
      count === 0 ? [] : this.s.targetsAfter.all({ after, cutoff, limit: count });
    const targets =
      'at' in cursor ? [{ id: cursor.at, prunable: 1 }, ...page(cursor.at, limit - 1)] : page(cursor.after, limit);
    let removed = 0;
    for (const { id: targetId, prunable } of targets) {
      if (prunable === 0) continue;
      const budget = limit - removed;
      if (budget === 0) return this.tallied(removed, { at: targetId });
      const oldest = this.s.oldest.all(targetId, budget + 1);
      const newest = oldest.length <= budget ? oldest.at(-1)?.seq : this.lastSeq(targetId);
      let through: number | undefined;
      let count = 0;
      for (const { seq, received_at } of oldest) {
        if (received_at >= cutoff || seq === newest || count === budget) break;
        through = seq;
        count++;
      }
      if (through === undefined) continue;
      this.s.pruneThrough.run(targetId, through);
      this.s.raiseFloor.run({ targetId, seq: through });
      removed += count;
      // The budget ran out on this target: it may have more, which the next batch takes.
      if (count === budget) return this.tallied(removed, { at: targetId });
    }
    const last = targets.at(-1)?.id;
    return this.tallied(removed, targets.length < limit || last === undefined ? undefined : { after: last });
  }

  private tallied(removed: number, cursor: PruneCursor | undefined): PrunedBatch {
    if (removed > 0) this.s.tally.run({ removed });
    return { removed, cursor };
  }

  /** The reports pruned that no audit entry counted yet, and sets that count back to 0. */
  takeTally(): number {
    const removed = this.s.untallied.get()?.removed ?? 0;
    if (removed > 0) this.s.clearTally.run();
    return removed;
  }
}
