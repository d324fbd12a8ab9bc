import { afterEach, describe, expect, it } from 'vitest';
import type { Transport } from '@flotilla/agent';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { waitFor } from './fixtures/wait-for.ts';

/*
 * A wave's members hear of it when it starts, not when their envelope is issued: their agents
 * fetch at once and the fetch issues the envelope (docs/rollouts.md, "How a wave reaches its
 * targets"). The hubs here give members an hour before a background batch would issue them, so
 * every envelope the agents apply was issued by their own fetch.
 */
describe("a rollout's wave reaching its members' agents", () => {
  let hub: HubFixture | undefined;
  const agents: AgentFixture[] = [];

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.agent.stop()));
    await hub?.dispose();
    hub = undefined;
  });

  async function rollOut(transport: Transport): Promise<void> {
    hub = await startHub({ rolloutIssueDelayMs: 3_600_000 });
    const token = await hub.enrollmentToken(2, { env: 'prod' });
    // Long-polls of a minute, longer than the wait below: only a wake-up answers them in time.
    for (let i = 0; i < 2; i++)
      agents.push(await startAgent(hub.url, token, { name: `edge-${i}`, transport, waitSeconds: 60 }));
    if (transport === 'auto')
      await waitFor('every agent to hold a stream', () =>
        agents.every((a) => hub!.hub.services.streams.connected(a.targetId)),
      );
    else await waitFor('every agent to long-poll', () => hub!.hub.services.desired.waitingAgents() === 2);
    await hub.publish('app', '1.0.0', [configMap('app', { v: '1' })]);
    const created = await api(hub.url, 'POST', '/v1/rollouts', {
      token: hub.adminToken,
      body: { release: 'app@1.0.0', selector: 'env=prod', waves: 'all:100%' },
    });
    expect(created.status).toBe(201);
    await waitFor('every agent to apply generation 1', () =>
      agents.every((a) => a.agent.current.appliedGeneration === 1),
    );
  }

  it('tells agents on the stream when the wave starts, and their fetches issue their envelopes', async () => {
    await rollOut('auto');
    expect(hub!.hub.services.rollouts.controller.issuer.stats).toMatchObject({ issued: 2, onFetch: 2, batches: 0 });
  });

  it('wakes long-polling agents when the wave starts, and their fetches issue their envelopes', async () => {
    await rollOut('long-poll');
    expect(hub!.hub.services.rollouts.controller.issuer.stats).toMatchObject({ issued: 2, onFetch: 2, batches: 0 });
    expect(hub!.hub.services.streams.stats.opened).toBe(0);
  });
});
