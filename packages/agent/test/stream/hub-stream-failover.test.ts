import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { STREAM_CLOSE } from '@flotilla/protocol/api';
import { Backoff } from '../../src/backoff.ts';
import { HubEndpoints } from '../../src/hub-endpoints.ts';
import { HubStream } from '../../src/stream/hub-stream.ts';

const servers: Server[] = [];

/** A stand-in replica's stream endpoint: `onStream` does what the test wants with each stream it opens. */
async function replica(onStream: (ws: WebSocket) => void): Promise<{ url: string; streams: number }> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  const state = { url: '', streams: 0 };
  wss.on('connection', (ws) => {
    state.streams++;
    onStream(ws);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

const hello = (ws: WebSocket): void => ws.send(JSON.stringify({ type: 'hello', etag: null, heartbeatSeconds: 30 }));

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise((resolve) => {
          s.closeAllConnections();
          s.close(resolve);
        }),
    ),
  );
});

/** Runs a stream over `endpoints` until `until` holds, then stops it. */
async function runUntil(endpoints: HubEndpoints, until: (stream: HubStream) => boolean): Promise<HubStream> {
  const stream = new HubStream({
    endpoints,
    targetId: 'tgt_0123456789abcdef0123456789',
    token: async () => 'token',
    invalidateToken: () => undefined,
    etag: () => undefined,
    log: pino({ level: 'silent' }),
    reconnectWindowMs: 10,
    backoff: new Backoff(5, 20),
  });
  const stop = new AbortController();
  const running = stream.run(stop.signal);
  const deadline = Date.now() + 10_000;
  while (!until(stream) && Date.now() < deadline) await stream.next(stream.changes, 50, stop.signal);
  stop.abort();
  await running;
  return stream;
}

describe('the push stream over several replicas', () => {
  it('opens again at the next replica after the first drops it without a close', async () => {
    const dropping = await replica((ws) => {
      hello(ws);
      setTimeout(() => ws.terminate(), 20);
    });
    const steady = await replica(hello);
    const endpoints = new HubEndpoints([dropping.url, steady.url]);
    await runUntil(endpoints, () => steady.streams > 0 && endpoints.current === steady.url);
    expect(endpoints.current).toBe(steady.url);
    expect(dropping.streams).toBe(1);
  });

  it('opens again at the next replica when the first closes it to restart', async () => {
    const restarting = await replica((ws) => ws.close(STREAM_CLOSE.restarting, 'restarting'));
    const steady = await replica(hello);
    const endpoints = new HubEndpoints([restarting.url, steady.url]);
    await runUntil(endpoints, () => steady.streams > 0);
    expect(endpoints.current).toBe(steady.url);
  });

  it('opens at the next replica when the first answers the upgrade with 503', async () => {
    const busy = createServer();
    busy.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n'));
    servers.push(busy);
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyUrl = `http://127.0.0.1:${(busy.address() as AddressInfo).port}`;
    const steady = await replica(hello);
    const endpoints = new HubEndpoints([busyUrl, steady.url]);
    const stream = await runUntil(endpoints, (s) => s.state === 'open');
    expect(endpoints.current).toBe(steady.url);
    expect(stream.opens).toBe(1);
  });

  it('stays on a replica that closed the stream because a newer one of the target replaced it', async () => {
    const replacing = await replica((ws) => {
      hello(ws);
      setTimeout(() => ws.close(STREAM_CLOSE.replaced, 'replaced'), 20);
    });
    const other = await replica(hello);
    const endpoints = new HubEndpoints([replacing.url, other.url]);
    await runUntil(endpoints, () => replacing.streams >= 2);
    expect(replacing.streams).toBeGreaterThanOrEqual(2);
    expect(endpoints.current).toBe(replacing.url);
    expect(other.streams).toBe(0);
  });
});
