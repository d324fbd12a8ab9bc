import type { ReportsFileSummary } from './read-reports-file.ts';
import { toSeqRanges, type SeqRange } from './seq-ranges.ts';

/** What the hub holds of one target's reports; its store answers. */
export interface ReportHistory {
  /** `digestOf` the signed report the hub holds for `seq`, or undefined when it holds none. */
  reportDigest(seq: number): string | undefined;
  /** The seqs from `from` to `to` (inclusive) the hub holds no report for, as increasing ranges. */
  missing(from: number, to: number): readonly SeqRange[];
  /**
   * The highest seq whose report the hub pruned past its retention (0 or absent: none). The
   * seqs up to it are spent: one the hub no longer holds is not ingested again but taken as a
   * duplicate, and is no gap.
   */
  readonly prunedThrough?: number;
}

/** What importing a verified reports file does; the receipt says the same to the agent. */
export interface ReportsIngestPlan {
  readonly targetId: string;
  /** Reports to ingest, in increasing seq order: those the hub does not hold. */
  readonly accept: readonly number[];
  /** Reports the hub already holds with the same content (a file imported again, a report sent online too), or pruned past retention. */
  readonly duplicates: readonly SeqRange[];
  /** Seqs the hub holds with other content: the agent's history forked there. Not ingested. */
  readonly forks: readonly number[];
  /** Seqs the file's chain skips (the agent no longer had them) that the hub does not hold either: lost. */
  readonly gaps: readonly SeqRange[];
}

/**
 * Decides, for a verified reports file, which reports the hub ingests: exactly the ones it
 * does not hold, in seq order, so a file imported twice, or after the same reports came
 * online, changes nothing. A report the hub holds with other content is a fork: never
 * ingested over what is there, and named in the receipt. Seqs the chain skips are gaps. Seqs
 * at or below what the hub pruned past retention are spent: never ingested again, never gaps.
 */
export function planReportsIngest(summary: ReportsFileSummary, history: ReportHistory): ReportsIngestPlan {
  const accept: number[] = [];
  const duplicates: number[] = [];
  const forks: number[] = [];
  const gaps: SeqRange[] = [];
  const pruned = history.prunedThrough ?? 0;
  let previous = summary.base.seq;
  for (const entry of summary.entries) {
    const skipped = Math.max(previous, pruned) + 1;
    if (entry.seq > skipped) gaps.push(...history.missing(skipped, entry.seq - 1));
    previous = entry.seq;
    const held = history.reportDigest(entry.seq);
    if (held === undefined && entry.seq <= pruned) duplicates.push(entry.seq);
    else if (held === undefined) accept.push(entry.seq);
    else if (held === entry.report) duplicates.push(entry.seq);
    else forks.push(entry.seq);
  }
  return { targetId: summary.targetId, accept, duplicates: toSeqRanges(duplicates), forks, gaps };
}
