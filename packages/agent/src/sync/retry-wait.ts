import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryWaitOptions {
  readonly signal: AbortSignal;
  /**
   * A cheap look at whether the hub is back (its liveness probe); when given, the wait is cut
   * short as soon as it answers, rather than sleeping out a back-off of up to a minute.
   */
  readonly probe?: () => Promise<boolean>;
  /** How often to look, on average; each look is jittered by ±50% so a fleet does not look in step. */
  readonly probeMs: number;
  readonly random?: () => number;
}

/**
 * Waits `delayMs` before the next attempt, returning early when `signal` aborts or `probe` says
 * the hub answers again. True when the probe saw the hub answer.
 */
export async function waitToRetry(delayMs: number, options: RetryWaitOptions): Promise<boolean> {
  const { signal, probe } = options;
  const random = options.random ?? Math.random;
  const deadline = Date.now() + delayMs;
  for (let left = delayMs; left > 0 && !signal.aborted; left = deadline - Date.now()) {
    const step = probe === undefined ? left : Math.min(left, options.probeMs * (0.5 + random()));
    await sleep(step, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) return false;
    if (probe !== undefined && (await probe())) return true;
  }
  return false;
}
