/**
 * Exponential backoff with full jitter: each delay is uniform in [0, min(max, base·2^n)], so
 * a fleet that lost its hub at the same moment does not come back at the same moment.
 */
export class Backoff {
  private attempt = 0;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(baseMs: number, maxMs: number, random: () => number = Math.random) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.random = random;
    if (!(baseMs > 0) || !(maxMs >= baseMs))
      throw new TypeError(`backoff needs 0 < baseMs <= maxMs, received baseMs=${baseMs} maxMs=${maxMs}`);
  }

  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(1, Math.round(this.random() * ceiling));
  }

  reset(): void {
    this.attempt = 0;
  }
}
