import type { Logger } from 'pino';
import type { Agent, AgentStatus } from './agent.ts';
import type { AgentRuntime } from './agent-runtime.ts';
import { isIdentityConflict } from './agent-state.ts';

/** The callbacks an elector calls, as `LeaseElector` takes them. */
export interface ElectionEvents {
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly onNewLeader: (identity: string) => void;
}

/** What `ElectedAgent` needs of an elector; `LeaseElector` is one. */
export interface Election {
  start(): void;
  /** Stops campaigning and releases the lease if held (calling `onStoppedLeading`). */
  stop(): Promise<void>;
  readonly isLeader: boolean;
  /** The holder last observed: undefined before the first look, '' when nobody holds it. */
  readonly leader: string | undefined;
}

export interface ElectedAgentOptions {
  /** Builds the elector with the given callbacks. */
  readonly elect: (events: ElectionEvents) => Election;
  /** Builds a fresh Agent for each term of leadership; it reads the identity anew each time. */
  readonly agent: () => Agent;
  /** This candidate: the pod name. */
  readonly identity: string;
  /** The node this pod runs on, for logs and status. */
  readonly node?: string | undefined;
  readonly log: Logger;
  /** Called when a term fails in a way a retry cannot fix, such as a refused enrollment. */
  readonly onFatal?: (error: Error) => void;
  /** Releases what the caller opened for the election and the agents, after `stop`. */
  readonly close?: () => Promise<void>;
  /** How long to wait before a new term after the identity Secret was found changed. Default 1 s. */
  readonly retryTermMs?: number;
}

export interface ElectedAgentStatus {
  readonly role: 'leader' | 'standby';
  readonly identity: string;
  readonly node: string | undefined;
  /** The pod that holds the Lease, as last seen; '' when nobody does. */
  readonly leader: string | undefined;
  /** How many terms of leadership this pod has begun. */
  readonly terms: number;
  /** The sync loop, while this pod leads. */
  readonly agent: AgentStatus | undefined;
  readonly lastError: string | undefined;
}

interface Term {
  readonly agent: Agent;
  readonly started: Promise<unknown>;
}

/**
 * The agent as one pod of a DaemonSet: every pod campaigns for one Lease, and only the pod that
 * holds it runs the sync loop for the cluster (envelope, apply, prune, observe, report), with the
 * identity the store shares between pods. The others stand by: they keep campaigning, serve the
 * health endpoint, log who leads, and do not talk to the hub at all, since the leader's facts
 * already cover every node. When the leader stops or its Lease expires, a standby begins a term
 * with a fresh Agent, which reads the shared identity and re-applies the current envelope.
 * A leader that loses the Lease stops its Agent at once (an apply in flight finishes).
 */
export class ElectedAgent implements AgentRuntime {
  private readonly options: ElectedAgentOptions;
  private readonly election: Election;
  private readonly log: Logger;
  private term: Term | undefined;
  private stopping: Promise<void> = Promise.resolve();
  private terms = 0;
  private stopped = false;
  private failure: Error | undefined;
  private lastError: string | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: ElectedAgentOptions) {
    if (typeof options.identity !== 'string' || options.identity === '')
      throw new TypeError(
        `ElectedAgent: identity must be a non-empty string, received ${JSON.stringify(options.identity)}`,
      );
    this.options = options;
    this.log = options.log.child({
      component: 'election',
      identity: options.identity,
      ...(options.node === undefined ? {} : { node: options.node }),
    });
    this.election = options.elect({
      onStartedLeading: () => this.beginTerm(),
      onStoppedLeading: () => void this.endTerm(),
      onNewLeader: (leader) =>
        this.log.info(
          { leader: leader === '' ? null : leader },
          leader === options.identity ? 'this pod leads' : 'leader changed',
        ),
    });
  }

  /** Starts campaigning. Resolves at once: this pod may stand by for a long time. */
  async start(): Promise<void> {
    this.log.info('standing by for the lease');
    this.election.start();
  }

  /** Stops campaigning, releases the Lease if held, and stops the term's Agent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.election.stop();
    await this.endTerm();
    await this.options.close?.();
  }

  get current(): ElectedAgentStatus {
    return {
      role: this.term === undefined ? 'standby' : 'leader',
      identity: this.options.identity,
      node: this.options.node,
      leader: this.election.leader,
      terms: this.terms,
      agent: this.term?.agent.current,
      lastError: this.failure?.message ?? this.lastError,
    };
  }

  live(): boolean {
    return this.failure === undefined;
  }

  ready(): boolean {
    if (this.failure !== undefined) return false;
    if (this.term !== undefined) return this.term.agent.current.targetId !== undefined;
    return this.election.leader !== undefined;
  }

  status(): Record<string, unknown> {
    const current = this.current;
    return {
      role: current.role,
      pod: current.identity,
      ...(current.node === undefined ? {} : { node: current.node }),
      leader: current.leader ?? null,
      terms: current.terms,
      ...(current.agent === undefined
        ? {}
        : {
            targetId: current.agent.targetId,
            hub: current.agent.hub,
            phase: current.agent.phase,
            appliedGeneration: current.agent.appliedGeneration,
          }),
      ...(current.lastError === undefined ? {} : { lastError: current.lastError }),
    };
  }

  private beginTerm(): void {
    if (this.term !== undefined || this.stopped || this.failure !== undefined) return;
    const agent = this.options.agent();
    this.terms++;
    const term: Term = {
      agent,
      started: agent.start().then(
        (enrollment) =>
          this.log.info({ target: enrollment.targetId, term: this.terms }, 'leading: syncing the cluster'),
        (error: Error) => this.termFailed(term, error),
      ),
    };
    this.term = term;
  }

  private termFailed(term: Term, error: Error): void {
    if (this.term !== term || this.stopped) return;
    void this.endTerm();
    // The identity Secret changed under this term (another leader wrote it): begin again, reading it anew.
    if (isIdentityConflict(error)) {
      this.lastError = error.message;
      this.log.warn({ err: error.message }, 'identity changed while starting; starting the term again');
      this.retryTimer = setTimeout(() => {
        if (this.election.isLeader) this.beginTerm();
      }, this.options.retryTermMs ?? 1_000);
      return;
    }
    this.failure = error;
    this.log.error({ err: error.message, code: (error as { code?: string }).code }, 'the agent cannot start');
    // Let another pod try: it may be configured differently (an enrollment token this one lacks).
    void this.election.stop().catch(() => undefined);
    this.options.onFatal?.(error);
  }

  private endTerm(): Promise<void> {
    const term = this.term;
    if (term === undefined) return this.stopping;
    this.term = undefined;
    this.lastError = term.agent.current.lastError;
    this.log.info('standing by: stopping the sync loop');
    this.stopping = this.stopping.then(() =>
      term.agent.stop().catch((error: Error) => {
        this.log.warn({ err: error.message }, 'the sync loop did not stop cleanly');
      }),
    );
    return this.stopping;
  }
}
