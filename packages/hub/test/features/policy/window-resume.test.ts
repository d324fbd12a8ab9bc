import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TestHub } from '../../support.ts';
import { startPolicyHub, type PolicyHub } from './policy-hub.ts';

let policyHub: PolicyHub;
let hub: TestHub;
const ids = new Map<string, string>();
let digest = '';
let rolloutId = '';

const patch = (path: string, body: unknown) => policyHub.patch(path, body);
const get = (path: string) => policyHub.get(path);

async function member(name: string): Promise<{ state: string; reason?: string } | undefined> {
  const view = await get(`/v1/rollouts/${rolloutId}`);
  return view.body.members.find((m: { name: string }) => m.name === name);
}

async function carries(name: string): Promise<boolean> {
  await policyHub.fetchEnvelope(name);
  const target = await get(`/v1/targets/${ids.get(name)}`);
  return target.body.desired.bundles.some((b: { digest: string }) => b.digest === digest);
}

/** Waits for the controller's own timer to act: nothing here calls reconcile. */
async function eventually(name: string): Promise<void> {
  await vi.waitFor(async () => expect(await carries(name)).toBe(true), { timeout: 20_000, interval: 25 });
}

beforeAll(async () => {
  const berlin = { region: 'eu-central-1', timezone: 'Europe/Berlin' };
  policyHub = await startPolicyHub({
    targets: [
      ['berlin-1', berlin],
      ['berlin-2', berlin],
    ],
  });
  ({ hub, digest } = policyHub);
  // The controller polls often but reconciles on its own only when something is due: an hour
  // between routine passes, so only a wake-up at the window's opening can move the rollout.
  hub.opened.hub.services.rollouts.start({ pollMs: 20, intervalMs: 3_600_000 });
  for (const [name, agent] of policyHub.agents) ids.set(name, agent.targetId);
  await patch(`/v1/targets/${ids.get('berlin-1')}/labels`, { set: { fleet: 'eu' } });
  await policyHub.policy('berlin-hours', 'region=eu-central-1', { windows: { allow: ['Mon-Fri 09:00-16:00'] } });
  const created = await policyHub.post('/v1/rollouts', { release: 'payments@1.0.0', selector: 'fleet=eu' });
  expect(created.status).toBe(201);
  rolloutId = created.body.rollout.id;
});
afterAll(async () => {
  await hub.close();
});

describe('a change held by a closed window', () => {
  it('waits, showing when the window opens', async () => {
    expect(await member('berlin-1')).toMatchObject({
      state: 'blocked',
      reason: expect.stringMatching(/^blocked: window, opens 2030-01-02T08:00:00\.000Z/),
    });
    expect(await carries('berlin-1')).toBe(false);
  });

  it('goes out by itself when the window opens, without an operator', async () => {
    hub.advance(Date.parse('2030-01-02T08:00:01Z') - hub.now());
    await eventually('berlin-1');
    const joined = await get(`/v1/audit?action=rollout.member.join&limit=1`);
    expect(joined.body.entries[0]).toMatchObject({ actor: { kind: 'system' }, subjects: [ids.get('berlin-1')] });
  });

  it('holds a target that joins the wave after its window closed until the window reopens', async () => {
    hub.advance(Date.parse('2030-01-02T15:30:00Z') - hub.now());
    await patch(`/v1/targets/${ids.get('berlin-2')}/labels`, { set: { fleet: 'eu' } });
    await vi.waitFor(
      async () =>
        expect(await member('berlin-2')).toMatchObject({
          state: 'blocked',
          reason: expect.stringMatching(/^blocked: window, opens 2030-01-03T08:00:00\.000Z/),
        }),
      { timeout: 20_000, interval: 25 },
    );
    expect(await carries('berlin-2')).toBe(false);
    hub.advance(Date.parse('2030-01-03T08:00:00Z') - hub.now());
    await eventually('berlin-2');
  });
});
