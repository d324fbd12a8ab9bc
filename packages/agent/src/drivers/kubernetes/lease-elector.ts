import type { Logger } from 'pino';
import { z } from 'zod';
import { isFlotillaError, messageOf } from '@flotilla/protocol';
import { kubeHttpStatus } from './kube-api-error.ts';
import type { KubeClient } from './kube-client.ts';

const LeaseSpec = z.object({
  holderIdentity: z.string().nullish(),
  leaseDurationSeconds: z.number().nullish(),
  acquireTime: z.string().nullish(),
  renewTime: z.string().nullish(),
  leaseTransitions: z.number().nullish(),
});
type LeaseSpec = z.infer<typeof LeaseSpec>;

const Lease = z.object({
  metadata: z.looseObject({ resourceVersion: z.string().optional() }),
  spec: LeaseSpec.nullish(),
});

export interface LeaseElectorOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  /** The Lease's name, shared by every candidate. */
  readonly name: string;
  /** This candidate, unique among candidates: a pod name, for example. */
  readonly identity: string;
  /** How long others wait after the last renewal they saw before taking over. Default 15. */
  readonly leaseDurationSeconds?: number;
  /** How long the leader keeps trying to renew before it gives up leading. Default 10 s. */
  readonly renewDeadlineMs?: number;
  /** How often candidates try to acquire and the leader renews. Default 2 s. */
  readonly retryPeriodMs?: number;
  /** Milliseconds since the epoch. Default `Date.now`; tests inject their own. */
  readonly now?: () => number;
  /** Schedules the next attempt; returns a cancel function. Default `setTimeout`. */
  readonly schedule?: (run: () => void, delayMs: number) => () => void;
  readonly onStartedLeading?: () => void;
  readonly onStoppedLeading?: () => void;
  /** Called when the observed holder changes, with the new holder ('' when nobody holds it). */
  readonly onNewLeader?: (identity: string) => void;
  readonly log?: Logger;
}

/** A MicroTime as the API server writes it: RFC 3339 with six fractional digits. */
function microTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}

function sameRecord(a: LeaseSpec | undefined, b: LeaseSpec | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`LeaseElector: ${name} must be a positive number, received ${String(value)}`);
  return value;
}

/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's rules: the holder
 * renews `renewTime`; a candidate takes over only when the record it observes has not changed
 * for `leaseDurationSeconds` by its own clock (so clock skew between nodes does not matter);
 * every write carries the resourceVersion read, so of two candidates racing only one wins; the
 * leader that cannot renew within `renewDeadlineMs` stops leading; `stop` releases the lease so
 * another candidate can take over at once.
 *
 * @example
 * const elector = new LeaseElector({ client: driver.client, namespace: 'flotilla-system', name: 'flotilla-agent', identity: podName,
 *   onStartedLeading: () => agent.start(), onStoppedLeading: () => agent.pause() });
 * elector.start();
 */
export class LeaseElector {
  private readonly client: KubeClient;
  private readonly path: string;
  private readonly options: LeaseElectorOptions;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private observed: LeaseSpec | undefined;
  private observedAt = 0;
  private lastRenewedAt = 0;
  private leading = false;
  private running = false;
  private cancelNext: (() => void) | undefined;
  private reportedLeader: string | undefined;
  private pending: Promise<boolean> | undefined;

  constructor(options: LeaseElectorOptions) {
    for (const name of ['namespace', 'name', 'identity'] as const) {
      if (typeof options[name] !== 'string' || options[name] === '')
        throw new TypeError(
          `LeaseElector: ${name} must be a non-empty string, received ${JSON.stringify(options[name])}`,
        );
    }
    this.options = options;
    this.client = options.client;
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/leases/${encodeURIComponent(options.name)}`;
    const seconds = positive('leaseDurationSeconds', options.leaseDurationSeconds, 15);
    if (!Number.isInteger(seconds))
      throw new TypeError(
        `LeaseElector: leaseDurationSeconds must be a whole number of seconds (the Lease field is an integer), received ${seconds}`,
      );
    this.leaseDurationMs = seconds * 1000;
    this.renewDeadlineMs = positive('renewDeadlineMs', options.renewDeadlineMs, 10_000);
    this.retryPeriodMs = positive('retryPeriodMs', options.retryPeriodMs, 2_000);
    if (this.renewDeadlineMs >= this.leaseDurationMs) {
      throw new TypeError(
        `LeaseElector: renewDeadlineMs (${this.renewDeadlineMs}) must be shorter than the lease duration (${this.leaseDurationMs} ms), or a leader could still believe it leads after another took over`,
      );
    }
    this.now = options.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last observed, or undefined before the first look. */
  get leader(): string | undefined {
    return this.observed === undefined ? undefined : (this.observed.holderIdentity ?? '');
  }

  /**
   * One round: create the Lease, renew it, or take it over when it expired. Returns true when
   * this candidate holds the lease afterwards. Failures (a lost race, an unreachable server)
   * return false; a leader that has not renewed within the renew deadline stops leading.
   */
  async tryAcquireOrRenew(): Promise<boolean> {
    // One round at a time, so the loop and a direct call never race each other.
    if (this.pending !== undefined) return this.pending;
    this.pending = this.round().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async round(): Promise<boolean> {
    const now = this.now();
    let held: boolean;
    try {
      held = await this.attempt(now);
    } catch (error) {
      this.options.log?.warn(
        { lease: this.options.name, code: isFlotillaError(error) ? error.code : undefined, message: messageOf(error) },
        'lease attempt failed',
      );
      held = false;
    }
    if (held) {
      this.lastRenewedAt = now;
      this.becomeLeader();
    } else if (
      this.leading &&
      (this.leader !== this.options.identity || now - this.lastRenewedAt >= this.renewDeadlineMs)
    ) {
      this.loseLeadership();
    }
    return held;
  }

  private async attempt(now: number): Promise<boolean> {
    const identity = this.options.identity;
    const response = await this.client.send('GET', this.path);
    if (response.status === 404) {
      const spec: LeaseSpec = {
        holderIdentity: identity,
        leaseDurationSeconds: this.leaseDurationMs / 1000,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      };
      const created = await this.client.send('POST', this.path.slice(0, this.path.lastIndexOf('/')), {
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.options.name, namespace: this.options.namespace },
          spec,
        },
      });
      if (created.status !== 201 && created.status !== 200) return false;
      this.observe(spec, now);
      return true;
    }
    if (response.status !== 200) return false;
    const lease = Lease.parse(response.body);
    const current = lease.spec ?? {};
    if (!sameRecord(current, this.observed)) this.observe(current, now);
    const holder = current.holderIdentity ?? '';
    const expired = this.observedAt + this.leaseDurationMs <= now;
    if (holder !== '' && holder !== identity && !expired) return false;

    const renewing = holder === identity;
    const spec: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: this.leaseDurationMs / 1000,
      acquireTime: renewing ? (current.acquireTime ?? microTime(now)) : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (current.leaseTransitions ?? 0) + (renewing ? 0 : 1),
    };
    const updated = await this.client.send('PUT', this.path, {
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: this.options.name,
          namespace: this.options.namespace,
          resourceVersion: lease.metadata.resourceVersion,
        },
        spec,
      },
    });
    // 409: someone wrote the Lease since we read it; they won this round.
    if (updated.status !== 200) return false;
    this.observe(spec, now);
    return true;
  }

  private observe(spec: LeaseSpec, now: number): void {
    this.observed = spec;
    this.observedAt = now;
    const holder = spec.holderIdentity ?? '';
    if (holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      this.options.onNewLeader?.(holder);
    }
  }

  private becomeLeader(): void {
    if (this.leading) return;
    this.leading = true;
    this.options.log?.info({ lease: this.options.name, identity: this.options.identity }, 'started leading');
    this.options.onStartedLeading?.();
  }

  private loseLeadership(): void {
    if (!this.leading) return;
    this.leading = false;
    this.options.log?.warn({ lease: this.options.name, identity: this.options.identity }, 'stopped leading');
    this.options.onStoppedLeading?.();
  }

  /** Tries to acquire, then keeps renewing (or trying) every retry period until `stop`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const schedule =
      this.options.schedule ??
      ((run, delay) => {
        const timer = setTimeout(run, delay);
        return () => clearTimeout(timer);
      });
    const tick = (): void => {
      void this.tryAcquireOrRenew().then(() => {
        if (this.running) this.cancelNext = schedule(tick, this.retryPeriodMs);
      });
    };
    tick();
  }

  /**
   * Stops trying and, when leading, releases the Lease (empty holder, one-second duration) so
   * another candidate can take over without waiting for it to expire.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.cancelNext?.();
    this.cancelNext = undefined;
    await this.pending;
    if (!this.leading) return;
    try {
      const response = await this.client.send('GET', this.path);
      if (response.status === 200) {
        const lease = Lease.parse(response.body);
        if ((lease.spec?.holderIdentity ?? '') === this.options.identity) {
          const now = this.now();
          const spec: LeaseSpec = {
            leaseDurationSeconds: 1,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: lease.spec?.leaseTransitions ?? 0,
          };
          const released = await this.client.send('PUT', this.path, {
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: {
                name: this.options.name,
                namespace: this.options.namespace,
                resourceVersion: lease.metadata.resourceVersion,
              },
              spec,
            },
          });
          if (released.status === 200) this.observe(spec, now);
          else this.options.log?.warn({ lease: this.options.name, status: released.status }, 'lease release failed');
        }
      }
    } catch (error) {
      this.options.log?.warn(
        { lease: this.options.name, status: kubeHttpStatus(error), message: messageOf(error) },
        'lease release failed',
      );
    } finally {
      this.loseLeadership();
    }
  }
}
