/**
 * Orders JSON pointers so that removing fields one after another keeps every later pointer
 * valid: children before their parent, and within a list the higher index first. Segments
 * that are both list indexes compare as numbers, others by code unit. Written by hand rather
 * than with `localeCompare(…, { numeric: true })`, whose collator loads ICU's collation data
 * into the agent's resident memory (about 4 MB) for a comparison that needs none of it.
 */
export function removalOrder(a: string, b: string): number {
  const left = a.split('/');
  const right = b.split('/');
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = compareSegments(left[i]!, right[i]!);
    if (order !== 0) return -order;
  }
  return right.length - left.length;
}

const INDEX = /^(?:0|[1-9]\d*)$/;

function compareSegments(a: string, b: string): number {
  if (INDEX.test(a) && INDEX.test(b)) return Number(a) - Number(b);
  return ordinal(a, b);
}

/** Code-unit order: deterministic and free of locale data. */
export function ordinal(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
