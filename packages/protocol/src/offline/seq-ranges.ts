import { z } from 'zod';

/** An inclusive range of report seqs. */
export const SeqRange = z.strictObject({
  from: z.number().int().min(1),
  to: z.number().int().min(1),
});
export type SeqRange = z.infer<typeof SeqRange>;

/** Ranges in increasing order, none empty, none touching or overlapping the next. */
export const SeqRanges = z
  .array(SeqRange)
  .max(100_000)
  .refine(
    (ranges) => ranges.every((r, i) => r.from <= r.to && (i === 0 || r.from > ranges[i - 1]!.to + 1)),
    'ranges are increasing, non-empty and apart',
  );

/** Increasing seqs as the fewest ranges: [1, 2, 3, 7] becomes 1-3 and 7-7. */
export function toSeqRanges(seqs: readonly number[]): SeqRange[] {
  const ranges: SeqRange[] = [];
  for (const seq of seqs) {
    const last = ranges.at(-1);
    if (last !== undefined && seq <= last.to) throw new TypeError(`toSeqRanges: seq ${seq} does not increase`);
    if (last !== undefined && seq === last.to + 1) ranges[ranges.length - 1] = { from: last.from, to: seq };
    else ranges.push({ from: seq, to: seq });
  }
  return ranges;
}

/** True when `seq` lies in one of the ranges. */
export function inSeqRanges(ranges: readonly SeqRange[], seq: number): boolean {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const range = ranges[mid]!;
    if (seq < range.from) high = mid - 1;
    else if (seq > range.to) low = mid + 1;
    else return true;
  }
  return false;
}

/** The union of two range lists, as one list in the form {@link SeqRanges} requires. */
export function unionSeqRanges(a: readonly SeqRange[], b: readonly SeqRange[]): SeqRange[] {
  const all = [...a, ...b].sort((x, y) => x.from - y.from);
  const out: SeqRange[] = [];
  for (const range of all) {
    const last = out.at(-1);
    if (last !== undefined && range.from <= last.to + 1)
      out[out.length - 1] = { from: last.from, to: Math.max(last.to, range.to) };
    else out.push({ ...range });
  }
  return out;
}
