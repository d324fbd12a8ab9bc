import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Target } from '@flotilla/protocol';
import type { Transport } from '@flotilla/agent';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { waitFor } from './fixtures/wait-for.ts';

/** A loopback port nothing listens on now (a hub may be started there later). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A logger whose messages the test reads. */
function recordingLog(): { log: pino.Logger; messages: string[] } {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      messages.push((JSON.parse(chunk.toString('utf8')) as { msg: string }).msg);
      done();
    },
  });
  return { log: pino({ level: 'warn' }, sink), messages };
}

let hub: HubFixture | undefined;
let agent: AgentFixture | undefined;

afterEach(async () => {
  await agent?.agent.stop();
  await hub?.dispose();
  agent = hub = undefined;
});

async function targets(h: HubFixture): Promise<Target[]> {
  return (await api<{ items: Target[] }>(h.url, 'GET', '/v1/targets?limit=10', { token: h.adminToken })).body.items;
}

describe('an agent given several hub URLs', () => {
  it('enrolls past a first URL that refuses connections, and converges at the live one', async () => {
    hub = await startHub();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const { log, messages } = recordingLog();
    agent = await startAgent([dead, hub.url], await hub.enrollmentToken(1), { name: 'edge', log });
    await hub.publish('app', '1.0.0', [configMap('app', { greeting: 'hello' })]);
    expect((await hub.assign(agent.targetId, ['app@1.0.0'])).status).toBe(200);

    const started = agent;
    await waitFor('the agent to apply generation 1', () => started.agent.current.appliedGeneration === 1);
    expect(messages).toContain(`hub ${dead} is not answering; moved to hub ${hub.url}`);
    expect((await targets(hub)).map((t) => t.name)).toEqual(['edge']);
  });

  it.each<Transport>(['auto', 'long-poll'])(
    'over %s, follows its hub to the second URL when it goes away, without enrolling again',
    async (transport) => {
      hub = await startHub();
      const second = `http://127.0.0.1:${await freePort()}`;
      const { log, messages } = recordingLog();
      agent = await startAgent([hub.url, second], await hub.enrollmentToken(1), { name: 'edge', log, transport });
      const first = hub.url;
      const running = agent;
      await hub.publish('app', '1.0.0', [configMap('app', { greeting: 'hello' })]);
      await hub.assign(running.targetId, ['app@1.0.0']);
      await waitFor('the agent to apply generation 1', () => running.agent.current.appliedGeneration === 1);

      // The same hub (its key, its database) comes back at the agent's second URL: a replica.
      await hub.restart(Number(new URL(second).port));
      expect(hub.url).toBe(second);
      await hub.publish('app', '1.1.0', [configMap('app', { greeting: 'hello again' })]);
      await hub.assign(running.targetId, ['app@1.1.0']);

      await waitFor(
        'the agent to apply generation 2 from the second URL',
        () => running.agent.current.appliedGeneration === 2,
      );
      expect(messages).toContain(`hub ${first} is not answering; moved to hub ${second}`);
      const listed = await targets(hub);
      expect(listed.map((t) => t.id)).toEqual([running.targetId]);
      const reported = await waitFor('the hub at the second URL to hold the report of generation 2', async () => {
        const [target] = await targets(hub!);
        return target?.observed?.generation === 2 && target;
      });
      expect(reported.observed?.phase).toBe('applied');
      if (transport === 'auto')
        await waitFor('the push stream to open at the second URL', () => running.agent.stream?.state === 'open');
    },
  );
});
