import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeClient, LeaseElector, staticToken } from '@flotilla/agent';
import { startKubeApiServer, type JsonObject, type KubeApiServer } from './fixtures/kube-apiserver/index.ts';

const TOKEN = 'elector-token';
const NAMESPACE = 'flotilla-system';
const LEASE = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: NAMESPACE, name: 'flotilla-agent' };
const START = Date.parse('2025-03-01T12:00:00Z');

let kube: KubeApiServer;
let client: KubeClient;
let clock: number;
let events: string[];

beforeEach(async () => {
  kube = await startKubeApiServer({ tokens: [TOKEN] });
  kube.as('setup').apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  client = new KubeClient({ server: kube.url, token: staticToken(TOKEN) });
  clock = START;
  events = [];
});

afterEach(async () => {
  await client.close();
  await kube.close();
});

function candidate(
  identity: string,
  options: { schedule?: (run: () => void, delayMs: number) => () => void } = {},
): LeaseElector {
  return new LeaseElector({
    client,
    namespace: NAMESPACE,
    name: LEASE.name,
    identity,
    leaseDurationSeconds: 15,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    now: () => clock,
    onStartedLeading: () => events.push(`${identity} started leading`),
    onStoppedLeading: () => events.push(`${identity} stopped leading`),
    ...options,
  });
}

function leaseSpec(): JsonObject {
  return (kube.get(LEASE)?.['spec'] ?? {}) as JsonObject;
}

function advance(seconds: number): void {
  clock += seconds * 1000;
}

describe('LeaseElector', () => {
  it('elects exactly one of two candidates racing for a new Lease', async () => {
    const a = candidate('agent-a');
    const b = candidate('agent-b');
    const won = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
    expect(won.filter(Boolean)).toHaveLength(1);
    const leader = won[0] === true ? 'agent-a' : 'agent-b';
    expect(events).toEqual([`${leader} started leading`]);
    expect(leaseSpec()).toEqual({
      holderIdentity: leader,
      leaseDurationSeconds: 15,
      acquireTime: '2025-03-01T12:00:00.000000Z',
      renewTime: '2025-03-01T12:00:00.000000Z',
      leaseTransitions: 0,
    });
    // The loser keeps losing while the leader renews.
    const loser = leader === 'agent-a' ? b : a;
    const winner = leader === 'agent-a' ? a : b;
    advance(5);
    expect(await winner.tryAcquireOrRenew()).toBe(true);
    expect(await loser.tryAcquireOrRenew()).toBe(false);
    expect(loser.leader).toBe(leader);
    expect(leaseSpec()['renewTime']).toBe('2025-03-01T12:00:05.000000Z');
    expect(leaseSpec()['acquireTime']).toBe('2025-03-01T12:00:00.000000Z');
  });

  it('lets the other candidate take over once the leader has not renewed for the lease duration', async () => {
    const a = candidate('agent-a');
    const b = candidate('agent-b');
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);

    advance(10);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    // b saw the renewal now, so it counts the lease duration from here: 12:00:10 + 15 s.
    expect(await b.tryAcquireOrRenew()).toBe(false);

    // agent-a stops renewing (its node died); 14 s later the lease has not expired yet for b.
    advance(14);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    advance(1);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(leaseSpec()).toMatchObject({
      holderIdentity: 'agent-b',
      leaseTransitions: 1,
      acquireTime: '2025-03-01T12:00:25.000000Z',
    });

    // agent-a comes back, sees agent-b holding a fresh lease, and steps down.
    expect(await a.tryAcquireOrRenew()).toBe(false);
    expect(a.isLeader).toBe(false);
    expect(b.isLeader).toBe(true);
    expect(events).toEqual(['agent-a started leading', 'agent-b started leading', 'agent-a stopped leading']);
  });

  it('makes a leader that cannot renew within the renew deadline stop leading', async () => {
    const a = candidate('agent-a');
    expect(await a.tryAcquireOrRenew()).toBe(true);
    kube.setTokens(['another-token']);
    advance(5);
    expect(await a.tryAcquireOrRenew()).toBe(false);
    expect(a.isLeader).toBe(true);
    advance(5);
    expect(await a.tryAcquireOrRenew()).toBe(false);
    expect(a.isLeader).toBe(false);
    expect(events).toEqual(['agent-a started leading', 'agent-a stopped leading']);
  });

  it('releases the Lease on stop, so another candidate takes over without waiting', async () => {
    const scheduled: (() => void)[] = [];
    const a = candidate('agent-a', {
      schedule: (run) => {
        scheduled.push(run);
        return () => undefined;
      },
    });
    const b = candidate('agent-b');
    a.start();
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(scheduled).toHaveLength(1);

    await a.stop();
    expect(leaseSpec()).toEqual({
      leaseDurationSeconds: 1,
      acquireTime: '2025-03-01T12:00:00.000000Z',
      renewTime: '2025-03-01T12:00:00.000000Z',
      leaseTransitions: 0,
    });
    expect(events).toEqual(['agent-a started leading', 'agent-a stopped leading']);

    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(leaseSpec()).toMatchObject({ holderIdentity: 'agent-b', leaseTransitions: 1 });
  });

  it('refuses a renew deadline that is not shorter than the lease', () => {
    expect(
      () =>
        new LeaseElector({
          client,
          namespace: NAMESPACE,
          name: 'x',
          identity: 'a',
          leaseDurationSeconds: 5,
          renewDeadlineMs: 5_000,
        }),
    ).toThrow(TypeError);
  });
});
