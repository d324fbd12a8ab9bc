import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { FlotillaError } from '@flotilla/protocol';
import type { Agent, AgentStatus } from '../src/agent.ts';
import { identityConflict } from '../src/agent-state.ts';
import { ElectedAgent, type Election, type ElectionEvents } from '../src/elected-agent.ts';

const log = pino({ level: 'silent' });

class FakeElection implements Election {
  events: ElectionEvents;
  isLeader = false;
  leader: string | undefined;
  stopped = false;
  constructor(events: ElectionEvents) {
    this.events = events;
  }
  start(): void {}
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.isLeader) this.lose();
  }
  win(identity: string): void {
    this.isLeader = true;
    this.leader = identity;
    this.events.onNewLeader(identity);
    this.events.onStartedLeading();
  }
  lose(to = ''): void {
    this.isLeader = false;
    this.leader = to;
    this.events.onNewLeader(to);
    this.events.onStoppedLeading();
  }
  see(leader: string): void {
    this.leader = leader;
    this.events.onNewLeader(leader);
  }
}

/** An Agent stand-in whose start the test settles. */
class FakeAgent {
  status: AgentStatus = {
    targetId: undefined,
    hub: 'https://hub-1.example.com',
    appliedGeneration: 0,
    phase: 'starting',
    lastError: undefined,
  };
  stops = 0;
  private settle!: { resolve: () => void; reject: (error: Error) => void };
  readonly started = new Promise<{ targetId: string }>((resolve, reject) => {
    this.settle = {
      resolve: () => {
        this.status = { ...this.status, targetId: 'tgt_0123456789abcdef0123', phase: 'idle' };
        resolve({ targetId: 'tgt_0123456789abcdef0123' });
      },
      reject,
    };
  });
  get current(): AgentStatus {
    return this.status;
  }
  start(): Promise<{ targetId: string }> {
    return this.started;
  }
  async stop(): Promise<void> {
    this.stops++;
    this.settle.reject(new Error('the agent was stopped while starting'));
  }
  enrolled(): void {
    this.settle.resolve();
  }
  fail(error: Error): void {
    this.settle.reject(error);
  }
}

function setup(options: { onFatal?: (error: Error) => void; retryTermMs?: number } = {}) {
  const agents: FakeAgent[] = [];
  let election!: FakeElection;
  const runtime = new ElectedAgent({
    identity: 'agent-a',
    node: 'node-1',
    log,
    elect: (events) => (election = new FakeElection(events)),
    agent: () => {
      const agent = new FakeAgent();
      agents.push(agent);
      return agent as unknown as Agent;
    },
    ...options,
  });
  return { runtime, agents, election: () => election };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ElectedAgent', () => {
  it('stands by until it leads, runs one agent per term, and stops it when the lease is lost', async () => {
    const { runtime, agents, election } = setup();
    await runtime.start();
    expect(runtime.current).toMatchObject({ role: 'standby', leader: undefined, terms: 0 });
    expect(runtime.ready()).toBe(false);
    election().see('agent-b');
    expect(runtime.ready()).toBe(true);
    expect(runtime.status()).toEqual({ role: 'standby', pod: 'agent-a', node: 'node-1', leader: 'agent-b', terms: 0 });
    expect(agents).toHaveLength(0);

    election().win('agent-a');
    expect(runtime.current).toMatchObject({ role: 'leader', terms: 1 });
    expect(runtime.ready()).toBe(false);
    agents[0]!.enrolled();
    await tick();
    expect(runtime.ready()).toBe(true);
    expect(runtime.status()).toMatchObject({
      role: 'leader',
      leader: 'agent-a',
      targetId: 'tgt_0123456789abcdef0123',
      hub: 'https://hub-1.example.com',
    });

    election().lose('agent-b');
    await tick();
    expect(agents[0]!.stops).toBe(1);
    expect(runtime.current).toMatchObject({ role: 'standby', leader: 'agent-b', agent: undefined });

    election().win('agent-a');
    expect(agents).toHaveLength(2);
    expect(runtime.current.terms).toBe(2);
    await runtime.stop();
    expect(election().stopped).toBe(true);
    expect(agents[1]!.stops).toBe(1);
    expect(runtime.live()).toBe(true);
  });

  it('stops an agent that is still enrolling when the lease is lost, without calling it fatal', async () => {
    const onFatal = vi.fn();
    const { runtime, agents, election } = setup({ onFatal });
    await runtime.start();
    election().win('agent-a');
    election().lose('agent-b');
    await tick();
    expect(agents[0]!.stops).toBe(1);
    expect(onFatal).not.toHaveBeenCalled();
    expect(runtime.live()).toBe(true);
  });

  it('begins the term again when another agent changed the identity Secret meanwhile', async () => {
    const { runtime, agents, election } = setup({ retryTermMs: 5 });
    await runtime.start();
    election().win('agent-a');
    agents[0]!.fail(identityConflict('Secret flotilla-system/flotilla-agent-identity', ['enrollment.json']));
    await vi.waitFor(() => expect(agents).toHaveLength(2));
    expect(runtime.current).toMatchObject({ role: 'leader', terms: 2 });
    expect(runtime.live()).toBe(true);
    await runtime.stop();
  });

  it('gives up on a refusal no retry can fix: not live, and onFatal is told', async () => {
    const onFatal = vi.fn();
    const { runtime, agents, election } = setup({ onFatal });
    await runtime.start();
    election().win('agent-a');
    const refused = new FlotillaError('ENROLL_TOKEN_USED_UP', 'the enrollment token has been used up');
    agents[0]!.fail(refused);
    await tick();
    expect(onFatal).toHaveBeenCalledWith(refused);
    expect(runtime.live()).toBe(false);
    expect(runtime.ready()).toBe(false);
    expect(runtime.status()).toMatchObject({ role: 'standby', lastError: 'the enrollment token has been used up' });
    await runtime.stop();
  });
});
