import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Resource, Target } from '@flotilla/protocol';
import { Agent, ManifestsDirDriver, manifestFileName, type ObservedResource } from '@flotilla/agent';
import {
  api,
  configMap,
  silent,
  startAgent,
  startHub,
  type AgentFixture,
  type HubFixture,
} from './fixtures/hub-fixture.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

const FLEET = 20;

describe('a hub and 20 agents on loopback', () => {
  let hub: HubFixture;
  let agents: AgentFixture[];

  beforeAll(async () => {
    hub = await startHub();
    const token = await hub.enrollmentToken(FLEET, { env: 'test' });
    agents = await Promise.all(
      Array.from({ length: FLEET }, (_, i) => startAgent(hub.url, token, { name: `edge-${i}` })),
    );
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.agent.stop()));
    await hub.dispose();
  });

  async function targets(): Promise<Target[]> {
    const answer = await api<{ items: Target[] }>(hub.url, 'GET', '/v1/targets?limit=1000', { token: hub.adminToken });
    return answer.body.items;
  }

  it("enrolls every agent as its own target with the token's preset labels", async () => {
    const list = await targets();
    expect(list).toHaveLength(FLEET);
    expect(new Set(list.map((t) => t.id)).size).toBe(FLEET);
    expect(list.every((t) => t.labels['env'] === 'test' && t.status === 'active')).toBe(true);
  });

  it('converges every agent on an assigned release, and the hub holds their reports', async () => {
    const resources = [configMap('app', { greeting: 'hello' }), configMap('extra', { keep: 'me' })];
    await hub.publish('app', '1.0.0', resources);
    for (const { targetId } of agents) expect((await hub.assign(targetId, ['app@1.0.0'])).status).toBe(200);

    await waitFor('every agent to apply generation 1', () =>
      agents.every((a) => a.agent.current.appliedGeneration === 1),
    );
    for (const a of agents) {
      const written = parse(readFileSync(join(a.root, manifestFileName(resources[0]!)), 'utf8'));
      expect(written).toEqual(resources[0]);
    }
    const reported = await waitFor('the hub to hold an applied report of every target', async () => {
      const list = await targets();
      return (
        list.every(
          (t) => t.observed?.generation === 1 && t.observed.phase === 'applied' && t.observed.health === 'healthy',
        ) && list
      );
    });
    expect(reported.every((t) => t.observed?.bundles[0]?.version === '1.0.0')).toBe(true);
    expect(reported.every((t) => t.facts.driver === 'manifests-dir' && t.lastSeenAt !== null)).toBe(true);
  });

  it('prunes a resource that left the desired state, and only it', async () => {
    await hub.publish('app', '1.1.0', [configMap('app', { greeting: 'hello again' })]);
    for (const { targetId } of agents) await hub.assign(targetId, ['app@1.1.0']);
    await waitFor('every agent to apply generation 2', () =>
      agents.every((a) => a.agent.current.appliedGeneration === 2),
    );
    for (const a of agents) {
      expect(existsSync(join(a.root, manifestFileName(configMap('extra', {}))))).toBe(false);
      expect(parse(readFileSync(join(a.root, manifestFileName(configMap('app', {}))), 'utf8')).data).toEqual({
        greeting: 'hello again',
      });
    }
  });
});

/** The manifests-dir driver, counting its observe passes. */
class CountingDriver extends ManifestsDirDriver {
  observed = 0;

  override async observe(desired: readonly Resource[]): Promise<ObservedResource[]> {
    this.observed++;
    return super.observe(desired);
  }
}

describe("an agent's first observe pass", () => {
  it('is told of once, after its report reached the hub, however many passes follow', async () => {
    const hub = await startHub();
    const dir = tempDir('flotilla-agent-');
    const driver = new CountingDriver(join(dir.path, 'root'));
    const told: { passes: number; observed: Promise<Target['observed']> }[] = [];
    const agent = new Agent({
      hubUrl: hub.url,
      stateDir: join(dir.path, 'state'),
      driver,
      log: silent,
      enrollToken: await hub.enrollmentToken(1),
      observeIntervalMs: 20,
      backoff: { baseMs: 20, maxMs: 200 },
      onFirstObserved: () =>
        told.push({
          passes: driver.observed,
          observed: api<Target>(hub.url, 'GET', `/v1/targets/${agent.current.targetId}`, {
            token: hub.adminToken,
          }).then((answer) => answer.body.observed),
        }),
    });
    try {
      await agent.start();
      await waitFor('five observe passes', () => driver.observed >= 5);
      // Told once; a slow report may let the next pass begin before the hub has it.
      expect(told).toHaveLength(1);
      expect(told[0]!.passes).toBeGreaterThanOrEqual(1);
      expect(await told[0]!.observed).toMatchObject({ phase: 'idle' });
    } finally {
      await agent.stop();
      await hub.dispose();
      dir.remove();
    }
  });
});
