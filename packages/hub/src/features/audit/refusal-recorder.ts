import type { Logger } from 'pino';
import type { BackgroundFailures } from '../../store/store-health.ts';
import type { AuditSink, RefusalInput, RefusalSink } from '../../audit-sink.ts';

export interface RefusalRecorderOptions {
  readonly audit: AuditSink;
  /** The hub's clock, epoch milliseconds. */
  readonly clock: () => number;
  /** Length of one counting window; default one minute. */
  readonly windowMs?: number;
  /**
   * Refusals written in full per window, across all callers; as many again may be written as
   * repeat summaries when the window closes. Default 60.
   */
  readonly perWindow?: number;
  readonly log?: Logger;
  /** Where a failed write goes (a store that cannot write is noted once); default the log. */
  readonly failures?: BackgroundFailures;
}

interface Repeats {
  readonly sample: RefusalInput;
  count: number;
  firstMs: number;
  lastMs: number;
}

interface Overflow {
  count: number;
  firstMs: number;
  lastMs: number;
  readonly byAction: Map<string, number>;
}

const DEFAULT_WINDOW_MS = 60_000;
const DEFAULT_PER_WINDOW = 60;
/** Distinct actions named in an overflow summary; actions come from hub code, so this is generous. */
const MAX_OVERFLOW_ACTIONS = 64;

/**
 * Records refused attempts in the audit log so that a flood of them cannot grow the log
 * without bound. Within a window (a minute by default):
 *
 * - the first refusal of each kind — same action, reason, remote address, subjects and
 *   details (the request, the credential kind; not the message) — is written in full;
 *   repeats of it are only counted;
 * - when the window closes, each kind that repeated gets one summary entry (the same action
 *   and actor, with `details.repeats`, `firstAt` and `lastAt`);
 * - at most `perWindow` full entries and `perWindow` summaries are written per window;
 *   whatever does not fit is counted into one `audit.refusals-suppressed` entry.
 *
 * So however many bad requests arrive, from however many addresses, the log grows by at most
 * `2 × perWindow + 1` entries a window, and every refusal is still accounted for in a count.
 * A hub with a handful of refusals sees each one written in full as it happens.
 *
 * Nothing is kept per request beyond the window, and nothing is kept of the credential itself.
 */
export class RefusalRecorder implements RefusalSink {
  private readonly audit: AuditSink;
  private readonly clock: () => number;
  private readonly windowMs: number;
  private readonly perWindow: number;
  private readonly log: Logger | undefined;
  private readonly failures: BackgroundFailures | undefined;
  private readonly seen = new Map<string, Repeats>();
  private overflow: Overflow = { count: 0, firstMs: 0, lastMs: 0, byAction: new Map() };
  private windowStart = Number.NEGATIVE_INFINITY;
  private written = 0;

  constructor(options: RefusalRecorderOptions) {
    const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    const perWindow = options.perWindow ?? DEFAULT_PER_WINDOW;
    if (!Number.isInteger(windowMs) || windowMs < 1)
      throw new TypeError(`RefusalRecorder: windowMs must be a positive integer; received ${String(windowMs)}`);
    if (!Number.isInteger(perWindow) || perWindow < 1)
      throw new TypeError(`RefusalRecorder: perWindow must be a positive integer; received ${String(perWindow)}`);
    this.audit = options.audit;
    this.clock = options.clock;
    this.windowMs = windowMs;
    this.perWindow = perWindow;
    this.log = options.log?.child({ component: 'audit-refusals' });
  }

  refused(input: RefusalInput): void {
    const now = this.clock();
    // A clock stepped back also closes the window: counts never straddle a jump.
    if (now - this.windowStart >= this.windowMs || now < this.windowStart) this.roll(now);
    const key = refusalKey(input);
    const repeats = this.seen.get(key);
    if (repeats !== undefined) {
      repeats.count++;
      repeats.lastMs = now;
      return;
    }
    if (this.written < this.perWindow) {
      this.written++;
      this.seen.set(key, { sample: input, count: 0, firstMs: now, lastMs: now });
      this.write({
        actor: input.actor,
        action: input.action,
        subjects: input.subjects ?? [],
        outcome: 'refused',
        reason: input.reason,
        details: { ...input.details, remote: input.remote },
      });
      return;
    }
    this.suppress(input.action, 1, now, now);
  }

  /** Closes the window if it has run out, writing its summaries; the hub calls this on a timer. */
  flush(): void {
    const now = this.clock();
    if (now - this.windowStart >= this.windowMs || now < this.windowStart) this.roll(now);
  }

  /** Writes the summaries of the current window now: on shutdown, so that no count is lost. */
  close(): void {
    this.roll(this.clock());
  }

  private roll(now: number): void {
    let summaries = 0;
    for (const repeats of this.seen.values()) {
      if (repeats.count === 0) continue;
      if (summaries >= this.perWindow) {
        this.suppress(repeats.sample.action, repeats.count, repeats.firstMs, repeats.lastMs);
        continue;
      }
      summaries++;
      const { sample } = repeats;
      this.write({
        actor: sample.actor,
        action: sample.action,
        subjects: sample.subjects ?? [],
        outcome: 'refused',
        reason: sample.reason,
        details: {
          ...sample.details,
          remote: sample.remote,
          repeats: repeats.count,
          firstAt: iso(repeats.firstMs),
          lastAt: iso(repeats.lastMs),
        },
      });
    }
    const overflow = this.overflow;
    if (overflow.count > 0) {
      this.write({
        actor: { kind: 'system', id: 'audit-rate-limit' },
        action: 'audit.refusals-suppressed',
        subjects: [],
        outcome: 'refused',
        reason: 'RATE_LIMITED',
        details: {
          count: overflow.count,
          byAction: Object.fromEntries(overflow.byAction),
          firstAt: iso(overflow.firstMs),
          lastAt: iso(overflow.lastMs),
          windowMs: this.windowMs,
        },
      });
      this.log?.warn(
        { count: overflow.count },
        'refused attempts beyond the audit rate limit were counted, not recorded one by one',
      );
    }
    this.seen.clear();
    this.overflow = { count: 0, firstMs: 0, lastMs: 0, byAction: new Map() };
    this.written = 0;
    this.windowStart = now;
  }

  private suppress(action: string, count: number, firstMs: number, lastMs: number): void {
    const overflow = this.overflow;
    overflow.firstMs = overflow.count === 0 ? firstMs : Math.min(overflow.firstMs, firstMs);
    overflow.lastMs = overflow.count === 0 ? lastMs : Math.max(overflow.lastMs, lastMs);
    overflow.count += count;
    const name = overflow.byAction.has(action) || overflow.byAction.size < MAX_OVERFLOW_ACTIONS ? action : 'other';
    overflow.byAction.set(name, (overflow.byAction.get(name) ?? 0) + count);
  }

  private write(input: Parameters<AuditSink['append']>[0]): void {
    try {
      this.audit.append(input);
    } catch (error) {
      // The caller is being refused anyway; a failed audit write must not turn that into a 500.
      if (this.failures !== undefined) this.failures.report(error, 'refused attempt record');
      else this.log?.error({ err: error, action: input.action }, 'could not record a refused attempt in the audit log');
    }
  }
}

/**
 * What makes two refusals "the same": action, reason, remote address, subjects and details,
 * except the human message, which may carry a time or an assertion id that differs on
 * every attempt.
 */
function refusalKey(input: RefusalInput): string {
  const { message: _message, ...details } = input.details ?? {};
  return JSON.stringify([input.action, input.reason, input.remote, input.subjects ?? [], details]);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
