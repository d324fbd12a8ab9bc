import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HubClient, HubUnavailableError } from '../src/hub-client.ts';
import { HubEndpoints } from '../src/hub-endpoints.ts';

const TARGET = 'tgt_0123456789abcdef0123456789';

/** A logger whose lines the test reads. */
function recordingLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

const servers: Server[] = [];

/** A stand-in hub on loopback answering every request with `answer`; counts what it received. */
async function standIn(
  answer: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    answer(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

/** A loopback URL nothing listens on: connecting is refused. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function json(status: number, body: unknown): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('HubEndpoints', () => {
  it('starts at the first replica and moves to the next, round the end, when one is down', () => {
    const endpoints = new HubEndpoints('http://a:1,http://b:2');
    expect(endpoints.current).toBe('http://a:1');
    expect(endpoints.failed('http://a:1', { kind: 'down' }, 'refused')).toBe(true);
    expect(endpoints.current).toBe('http://b:2');
    expect(endpoints.failed('http://b:2', { kind: 'status', status: 503 }, '503')).toBe(true);
    expect(endpoints.current).toBe('http://a:1');
  });

  it('logs which hub the agent left and which it moved to', () => {
    const { log, lines } = recordingLog();
    new HubEndpoints(['http://a:1', 'http://b:2'], log).failed('http://a:1', { kind: 'down' }, 'connect ECONNREFUSED');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        from: 'http://a:1',
        to: 'http://b:2',
        reason: 'connect ECONNREFUSED',
        msg: 'hub http://a:1 is not answering; moved to hub http://b:2',
      }),
    ]);
  });

  it('tells each move of a round at warn, and further rounds while every replica is down at debug', () => {
    const { log, lines } = recordingLog();
    log.level = 'debug';
    const endpoints = new HubEndpoints('http://a:1,http://b:2', log);
    for (const url of ['http://a:1', 'http://b:2', 'http://a:1', 'http://b:2'])
      endpoints.failed(url, { kind: 'down' }, 'refused');
    expect(lines.map((l) => l['level'])).toEqual([40, 20, 20, 20]);
    endpoints.reached('http://a:1');
    endpoints.failed('http://a:1', { kind: 'down' }, 'refused');
    expect(lines.at(-1)?.['level']).toBe(40);
  });

  it.each([400, 401, 403, 404, 409, 429, 500])('stays on a replica that answered %i', (status) => {
    const endpoints = new HubEndpoints('http://a:1,http://b:2');
    expect(endpoints.failed('http://a:1', { kind: 'status', status }, String(status))).toBe(false);
    expect(endpoints.current).toBe('http://a:1');
  });

  it.each([502, 504])('moves on from a replica behind a proxy that answered %i', (status) => {
    const endpoints = new HubEndpoints('http://a:1,http://b:2');
    expect(endpoints.failed('http://a:1', { kind: 'status', status }, String(status))).toBe(true);
  });

  it('moves once when a request and the stream find the same replica down at the same time', () => {
    const endpoints = new HubEndpoints('http://a:1,http://b:2,http://c:3');
    endpoints.failed('http://a:1', { kind: 'down' }, 'stream dropped');
    endpoints.failed('http://a:1', { kind: 'down' }, 'long-poll reset');
    expect(endpoints.current).toBe('http://b:2');
  });

  it('with one hub URL (a load-balanced name) stays on it and logs nothing', () => {
    const { log, lines } = recordingLog();
    const endpoints = new HubEndpoints('https://hub.example.com', log);
    expect(endpoints.failed('https://hub.example.com', { kind: 'down' }, 'refused')).toBe(false);
    expect(lines).toEqual([]);
  });
});

describe('HubClient over several replicas', () => {
  it('moves past a replica that refuses connections, and the retry reaches the next', async () => {
    const dead = await deadUrl();
    const live = await standIn(json(200, { last: null }));
    const client = new HubClient([dead, live.url]);
    try {
      const first = await client.lastReport(TARGET, 'token').catch((error: unknown) => error);
      expect(first).toBeInstanceOf(HubUnavailableError);
      expect((first as HubUnavailableError).message).toContain(`cannot reach the hub at ${dead}`);
      expect(client.url).toBe(live.url);
      expect(await client.lastReport(TARGET, 'token')).toEqual({ last: null });
      expect(live.hits).toEqual([`GET /v1/targets/${TARGET}/reports/last`]);
    } finally {
      await client.close();
    }
  });

  it('moves past a replica answering 503, naming it in the error', async () => {
    const busy = await standIn(
      json(503, { error: { code: 'STORE_UNAVAILABLE', message: 'the store is unavailable' } }),
    );
    const live = await standIn(json(200, { last: null }));
    const client = new HubClient([busy.url, live.url]);
    try {
      await expect(client.lastReport(TARGET, 'token')).rejects.toThrow(
        `the hub at ${busy.url} answered 503 to GET /v1/targets/${TARGET}/reports/last: STORE_UNAVAILABLE`,
      );
      expect(client.url).toBe(live.url);
      expect(await client.lastReport(TARGET, 'token')).toEqual({ last: null });
    } finally {
      await client.close();
    }
  });

  it('stays on a replica that refuses the token: a 401 is an answer, not a replica down', async () => {
    const refusing = await standIn(json(401, { error: { code: 'UNAUTHENTICATED', message: 'token expired' } }));
    const other = await standIn(json(200, { last: null }));
    const client = new HubClient([refusing.url, other.url]);
    try {
      await expect(client.lastReport(TARGET, 'token')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      expect(client.url).toBe(refusing.url);
      expect(other.hits).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('probes the liveness of the replica it moved to', async () => {
    const dead = await deadUrl();
    const live = await standIn(json(200, { status: 'ok' }));
    const client = new HubClient([dead, live.url]);
    try {
      expect(await client.alive()).toBe(false);
      await client.lastReport(TARGET, 'token').catch(() => undefined);
      expect(await client.alive()).toBe(true);
    } finally {
      await client.close();
    }
  });
});
