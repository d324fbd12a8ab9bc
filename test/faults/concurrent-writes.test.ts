import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from '../fixtures/hub-fixture.ts';
import { tempDir } from '../fixtures/temp-dir.ts';
import { waitFor } from '../fixtures/wait-for.ts';

/*
 * Many writes at once, as a fleet of scripts or a retrying client sends them: each is made
 * once or refused, none is lost, and no check-then-write lets two through.
 */

let hub: HubFixture;
let dir: ReturnType<typeof tempDir>;
let agent: AgentFixture;

beforeAll(async () => {
  hub = await startHub();
  dir = tempDir('flotilla-concurrent-');
  await hub.publish('app', '1.0.0', [configMap('app', { version: '1' })]);
  agent = await startAgent(hub.url, await hub.enrollmentToken(1, { env: 'test' }), { dir: dir.path });
});

afterAll(async () => {
  await agent?.agent.stop();
  await hub?.dispose();
  dir?.remove();
});

describe('200 writes at once', () => {
  it('create one of 100 overlapping rollouts asked for at once, and each of 100 enrollment tokens sent alongside', async () => {
    // A long bake keeps the one rollout running, so every other one overlaps it.
    const rollout = () =>
      api(hub.url, 'POST', '/v1/rollouts', {
        token: hub.adminToken,
        body: { release: 'app@1.0.0', selector: 'env=test', waves: 'all:100%', bake: '1h' },
      });
    const token = (i: number) =>
      api<{ token: string }>(hub.url, 'POST', '/v1/enrollment-tokens', {
        token: hub.adminToken,
        body: { maxUses: 1, description: `batch ${i}` },
      });
    const [rollouts, tokens] = await Promise.all([
      Promise.all(Array.from({ length: 100 }, rollout)),
      Promise.all(Array.from({ length: 100 }, (_, i) => token(i))),
    ]);

    expect(rollouts.filter((r) => r.status === 201)).toHaveLength(1);
    expect(rollouts.filter((r) => r.status !== 201).map((r) => [r.status, r.body.error.code])).toEqual(
      Array(99).fill([409, 'CONFLICT']),
    );
    const listed = await api<{ items: unknown[] }>(hub.url, 'GET', '/v1/rollouts', { token: hub.adminToken });
    expect(listed.body.items).toHaveLength(1);
    // The member's envelope is issued when its agent, told of the wave, fetches it: once, for the one rollout.
    const generation = async (): Promise<number> =>
      (
        await api<{ desired: { generation: number } }>(hub.url, 'GET', `/v1/targets/${agent.targetId}`, {
          token: hub.adminToken,
        })
      ).body.desired.generation;
    await waitFor('the member to be issued', async () => (await generation()) > 0);
    expect(await generation()).toBe(1);

    expect(tokens.map((t) => t.status)).toEqual(Array(100).fill(201));
    expect(new Set(tokens.map((t) => t.body.token)).size).toBe(100);
    const stored = await api<{ items: { description?: string }[] }>(hub.url, 'GET', '/v1/enrollment-tokens', {
      token: hub.adminToken,
    });
    const batch = stored.body.items.filter((t) => t.description?.startsWith('batch '));
    expect(batch).toHaveLength(100);
    const verify = await api(hub.url, 'GET', '/v1/audit/verify', { token: hub.adminToken });
    expect(verify.body).toMatchObject({ ok: true });
  });
});
