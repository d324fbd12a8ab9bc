import type { Logger } from 'pino';
import { isFlotillaError, messageOf } from '@flotilla/protocol';

/**
 * The hub being away, told once: a warning when an outage starts (the first failure to reach
 * the hub), an info line when it ends (the first success) with how long it lasted and how many
 * attempts failed, and the attempts in between at debug level only, so that a long outage is
 * two lines in the log, not one per try.
 */
export class HubOutage {
  private readonly log: Logger;
  private readonly clock: () => number;
  private current: { since: number; attempts: number } | undefined;

  constructor(log: Logger, clock: () => number) {
    this.log = log;
    this.clock = clock;
  }

  /** Whether the hub is away now, as far as the last attempt knows. */
  get ongoing(): boolean {
    return this.current !== undefined;
  }

  /** An attempt to reach the hub failed; `retryInMs` is when the next one is due. */
  failed(error: unknown, retryInMs: number): void {
    const detail = { err: messageOf(error), code: isFlotillaError(error) ? error.code : undefined, retryInMs };
    if (this.current === undefined) {
      this.current = { since: this.clock(), attempts: 1 };
      this.log.warn(detail, 'hub unreachable');
      return;
    }
    this.current.attempts++;
    this.log.debug({ ...detail, attempts: this.current.attempts }, 'hub still unreachable');
  }

  /** An attempt reached the hub: the outage, if any, is over. */
  reached(): void {
    const current = this.current;
    if (current === undefined) return;
    this.current = undefined;
    this.log.info(
      { durationMs: this.clock() - current.since, failedAttempts: current.attempts },
      'hub reachable again',
    );
  }
}
