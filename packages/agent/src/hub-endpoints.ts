import type { Logger } from 'pino';
import { parseHubUrls } from '@flotilla/protocol';

/** Answers of a proxy or a replica that say this replica cannot serve now, not that the request is wrong. */
const REPLICA_DOWN_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * How a request to a hub failed, as far as failing over goes: `down` (refused, reset, timed
 * out, cut short, a stream dropped without a close), or a `status` something answered.
 */
export type HubFailure = { readonly kind: 'down' } | { readonly kind: 'status'; readonly status: number };

/** Whether a failure means the replica stopped answering, so the agent should try the next. */
export function isReplicaDown(failure: HubFailure): boolean {
  return failure.kind === 'down' || REPLICA_DOWN_STATUSES.has(failure.status);
}

/**
 * The hub replicas an agent may talk to (its `--hub` list, in order of preference), and the one
 * it uses now. Every request and the push stream go to {@link current}; a request that finds
 * that replica down (connection refused or reset, a timeout, 502/503/504, a dropped stream)
 * reports it with {@link failed}, which moves the agent to the next replica in the list (round
 * the end, back to the first). The caller retries after its usual jittered backoff, so a fleet
 * leaving a dead replica does not arrive at the next one at the same moment. A 4xx is an answer,
 * not a replica being down (401, 403, 409 mean something else), and moves nothing. Tokens and
 * the journal belong to the agent, not to a replica, so they go along unchanged: replicas share
 * the hub key and the database.
 */
export class HubEndpoints {
  readonly urls: readonly string[];
  private index = 0;
  /** Moves since a replica last answered: past one round of the list, all are down, and moving is not news. */
  private moves = 0;
  private readonly log: Logger | undefined;

  /** @param urls one hub URL or several (a list, or comma-separated), validated by `parseHubUrls` */
  constructor(urls: string | readonly string[], log?: Logger) {
    this.urls = parseHubUrls(urls, 'hub');
    this.log = log;
  }

  /** The replica requests go to now, as a base URL without a trailing slash. */
  get current(): string {
    return this.urls[this.index]!;
  }

  /**
   * A request to `url` failed with `failure`. When that means the replica is down and `url` is
   * still the current one (a stream and a request failing at once on the same dead replica move
   * the agent once, not twice), the next replica becomes current. True when the agent moved.
   */
  failed(url: string, failure: HubFailure, reason: string): boolean {
    if (!isReplicaDown(failure) || url !== this.current || this.urls.length < 2) return false;
    this.index = (this.index + 1) % this.urls.length;
    this.moves++;
    // Every replica down is one outage (HubOutage tells it): each further round is logged at debug only.
    const level = this.moves < this.urls.length ? 'warn' : 'debug';
    this.log?.[level](
      { from: url, to: this.current, reason },
      `hub ${url} is not answering; moved to hub ${this.current}`,
    );
    return true;
  }

  /** A request to `url` was answered: the replicas are not all down. */
  reached(url: string): void {
    if (url === this.current) this.moves = 0;
  }
}
