import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { Target } from '@flotilla/protocol';
import { manifestFileName, type Transport } from '@flotilla/agent';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { startAgentProcess, type RunningProcess } from './fixtures/processes.ts';
import { tempDir } from './fixtures/temp-dir.ts';
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

/** A stand-in for a replica that is up but cannot serve: it answers 503 to everything. */
async function unavailable(): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'STORE_UNAVAILABLE', message: 'the store is unavailable' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/**
 * A plain HTTP proxy on `port` to whatever `target()` names, recording the method and path of
 * each request it passes on; 502 while the target does not answer.
 */
async function countingProxy(port: number, target: () => string): Promise<{ seen: string[]; server: Server }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = { ...req.headers };
      delete headers['host'];
      delete headers['content-length'];
      delete headers['connection'];
      request(`${target()}${req.url ?? '/'}`, {
        method: req.method as 'GET',
        headers,
        ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
      })
        .then(async (answer) => {
          seen.push(`${req.method} ${(req.url ?? '').split('?')[0]}`);
          const body = Buffer.from(await answer.body.arrayBuffer());
          const out = Object.fromEntries(
            Object.entries(answer.headers).filter(
              ([k]) => !['transfer-encoding', 'connection', 'keep-alive'].includes(k),
            ),
          );
          res.writeHead(answer.statusCode, out).end(body);
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(502).end();
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { seen, server };
}

let hub: HubFixture | undefined;
let agent: AgentFixture | undefined;
const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  await agent?.agent.stop();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
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

  it('flotilla-agent run --hub with a replica answering 503 first enrolls at the next and converges', async () => {
    hub = await startHub();
    const busy = await unavailable();
    cleanups.push(() => new Promise((resolve) => busy.server.close(resolve)));
    const dir = tempDir('flotilla-agent-');
    cleanups.push(() => dir.remove());
    const root = join(dir.path, 'root');
    const process: RunningProcess = await startAgentProcess({
      hubUrl: `${busy.url},${hub.url}`,
      stateDir: join(dir.path, 'state'),
      root,
      enrollToken: await hub.enrollmentToken(1),
      name: 'edge',
    });
    cleanups.push(() => process.kill('SIGTERM'));
    const moved = await process.waitForLog(`hub ${busy.url} is not answering; moved to hub ${hub.url}`);
    expect(moved['reason']).toContain('answered 503');
    const app = configMap('app', { greeting: 'hello' });
    await hub.publish('app', '1.0.0', [app]);
    const [target] = await targets(hub);
    await hub.assign(target!.id, ['app@1.0.0']);
    await waitFor('the agent process to write the release', () => existsSync(join(root, manifestFileName(app))));
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
      expect(running.agent.current.hub).toBe(second);
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

  it('keeps its access token and enrollment at the replica it moved to', async () => {
    hub = await startHub();
    const hubPort = await freePort();
    const proxied = await countingProxy(await freePort(), () => `http://127.0.0.1:${hubPort}`);
    cleanups.push(() => {
      proxied.server.closeAllConnections();
      return new Promise((resolve) => proxied.server.close(resolve));
    });
    const second = `http://127.0.0.1:${(proxied.server.address() as AddressInfo).port}`;
    agent = await startAgent([hub.url, second], await hub.enrollmentToken(1), { transport: 'long-poll' });
    const running = agent;
    await hub.publish('app', '1.0.0', [configMap('app', { greeting: 'hello' })]);
    await hub.assign(running.targetId, ['app@1.0.0']);
    await waitFor('the agent to apply generation 1', () => running.agent.current.appliedGeneration === 1);

    await hub.restart(hubPort);
    await hub.assign(running.targetId, []);
    await waitFor(
      'the agent to apply generation 2 through the second URL',
      () => running.agent.current.appliedGeneration === 2,
    );
    expect(proxied.seen).toContain(`GET /v1/targets/${running.targetId}/envelope`);
    expect(proxied.seen.filter((r) => r === 'POST /v1/token' || r === 'POST /v1/enroll')).toEqual([]);
  });
});
