/** Runs `work(i)` for i in 0..count-1, `concurrency` at once; the elapsed ms of each, and of all. */
export async function burst(
  count: number,
  concurrency: number,
  work: (i: number) => Promise<void>,
): Promise<{ ms: number; each: Float64Array }> {
  const each = new Float64Array(count);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await work(i);
        each[i] = performance.now() - t;
      }
    }),
  );
  return { ms: performance.now() - started, each };
}
