import type { ReportsFileSummary } from './read-reports-file.ts';
import { toSeqRanges, type SeqRange } from './seq-ranges.ts';

/** What the hub holds of one target's reports; its store answers. */
export interface ReportHistory {
  /** `digestOf` the signed report the hub holds for `seq`, or undefined when it holds none. */
  reportDigest(seq: number): string | undefined;
  /** The seqs from `from` to `to` (inclusive) the hub holds no report for, as increasing ranges. */
  missing(from: number, to: number): readonly SeqRange[];
}

/** What importing a verified reports file does; the receipt says the same to the agent. */
export interface ReportsIngestPlan {
  readonly targetId: string;
  /** Reports to ingest, in increasing seq order: those the hub does not hold. */
  readonly accept: readonly number[];
  /** Reports the hub already holds with the same content: a file imported again, a report sent online too. */
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
 * ingested over what is there, and named in the receipt. Seqs the chain skips are gaps.
 */
export function planReportsIngest(summary: ReportsFileSummary, history: ReportHistory): ReportsIngestPlan {
  const accept: number[] = [];
  const duplicates: number[] = [];
  const forks: number[] = [];
  const gaps: SeqRange[] = [];
  let previous = summary.base.seq;
  for (const entry of summary.entries) {
    if (entry.seq > previous + 1) gaps.push(...history.missing(previous + 1, entry.seq - 1));
    previous = entry.seq;
    const held = history.reportDigest(entry.seq);
    if (held === undefined) accept.push(entry.seq);
    else if (held === entry.report) duplicates.push(entry.seq);
    else forks.push(entry.seq);
  }
  return { targetId: summary.targetId, accept, duplicates: toSeqRanges(duplicates), forks, gaps };
}
