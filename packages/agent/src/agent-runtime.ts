import type { Agent } from './agent.ts';
import type { HealthCheck } from './health-server.ts';

/**
 * A running agent process as `flotilla-agent run` drives it: one `Agent`, or an `ElectedAgent`
 * that runs an `Agent` only while it holds the Lease. It answers the health endpoint's probes.
 */
export interface AgentRuntime extends HealthCheck {
  /** Resolves once the runtime is underway: enrolled, or standing by for the Lease. */
  start(): Promise<void>;
  /** Stops syncing (and releases the Lease, if held) and closes connections. */
  stop(): Promise<void>;
}

/** An agent that runs alone, as on an edge host or with leader election turned off. */
export class SingleAgentRuntime implements AgentRuntime {
  private readonly agent: Agent;
  private readonly facts: Readonly<Record<string, string>>;
  private readonly close: () => Promise<void>;
  private failure: Error | undefined;

  /**
   * @param options.facts shown in the health status, such as the pod and node.
   * @param options.close releases what the caller opened for this agent, after it stopped.
   */
  constructor(agent: Agent, options: { facts?: Readonly<Record<string, string>>; close?: () => Promise<void> } = {}) {
    this.agent = agent;
    this.facts = options.facts ?? {};
    this.close = options.close ?? (async () => undefined);
  }

  async start(): Promise<void> {
    try {
      await this.agent.start();
    } catch (error) {
      this.failure = error as Error;
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.agent.stop();
    await this.close();
  }

  live(): boolean {
    return this.failure === undefined;
  }

  ready(): boolean {
    return this.failure === undefined && this.agent.current.targetId !== undefined;
  }

  status(): Record<string, unknown> {
    const current = this.agent.current;
    return {
      role: 'single',
      ...this.facts,
      targetId: current.targetId,
      hub: current.hub,
      phase: current.phase,
      appliedGeneration: current.appliedGeneration,
      ...(current.lastError === undefined ? {} : { lastError: current.lastError }),
    };
  }
}
