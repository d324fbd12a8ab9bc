/**
 * The `q` quantile (0 to 1) of samples sorted ascending, by the rule the benchmarks and the
 * fleet simulator read their percentiles with: the sample at `floor(q × n)`, the last for
 * q = 1. Undefined when there are none.
 */
export function quantile(sorted: ArrayLike<number>, q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
