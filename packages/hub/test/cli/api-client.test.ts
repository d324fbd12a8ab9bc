import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiClient } from '../../src/cli/api-client.ts';

const Answer = z.object({ ok: z.boolean() });

interface StandIn {
  readonly url: string;
  /** What it received: method, path and body of each request. */
  readonly received: string[];
}

const servers: Server[] = [];

/** A stand-in hub on loopback: reads each request whole, records it, then lets `answer` reply. */
async function standIn(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<StandIn> {
  const received: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push(`${req.method} ${req.url} ${Buffer.concat(chunks).toString('utf8')}`.trimEnd());
      answer(req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

const ok = (_req: IncomingMessage, res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"ok":true}');
};
const status =
  (code: number) =>
  (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ error: { code: code === 401 ? 'UNAUTHENTICATED' : 'HUB_UNAVAILABLE', message: `${code}` } }),
    );
  };
/** Takes the request, then drops the connection without an answer: the hub may have acted on it. */
const reset = (req: IncomingMessage): void => {
  req.socket.destroy();
};

/** A loopback URL nothing listens on: connecting is refused, so nothing was sent. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

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

describe('the CLI over several hub replicas', () => {
  it('reads one hub or several, comma-separated, and names a bad entry', () => {
    expect(new ApiClient('http://a:1/, http://b:2', undefined).hubs).toEqual(['http://a:1', 'http://b:2']);
    expect(() => new ApiClient('http://a:1,b:2', undefined)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: "--hub: 'b:2' must use http or https" }),
    );
  });

  it('sends a request to the next replica when the first refuses connections', async () => {
    const live = await standIn(ok);
    const client = new ApiClient(`${await deadUrl()},${live.url}`, 't');
    expect(await client.call(Answer, 'POST', '/v1/things', { a: 1 })).toEqual({ ok: true });
    expect(live.received).toEqual(['POST /v1/things {"a":1}']);
  });

  it.each([502, 503, 504])('sends a GET to the next replica when the first answers %i', async (code) => {
    const failing = await standIn(status(code));
    const live = await standIn(ok);
    const client = new ApiClient(`${failing.url},${live.url}`, 't');
    expect(await client.call(Answer, 'GET', '/v1/things')).toEqual({ ok: true });
    expect(live.received).toEqual(['GET /v1/things']);
  });

  it('sends a POST on after a 503: the replica did not take it', async () => {
    const busy = await standIn(status(503));
    const live = await standIn(ok);
    await new ApiClient(`${busy.url},${live.url}`, 't').call(Answer, 'POST', '/v1/things', { a: 1 });
    expect(live.received).toEqual(['POST /v1/things {"a":1}']);
  });

  it.each([502, 504])('never sends a POST twice after a %i: it may have reached the hub', async (code) => {
    const gateway = await standIn(status(code));
    const other = await standIn(ok);
    await expect(
      new ApiClient(`${gateway.url},${other.url}`, 't').call(Answer, 'POST', '/v1/things', { a: 1 }),
    ).rejects.toMatchObject({
      code: 'HUB_UNAVAILABLE',
      message: `the hub at ${gateway.url} did not answer POST /v1/things (it answered ${code}); it may have received it, so it was not sent to another hub: check whether it took effect before running the command again`,
    });
    expect(other.received).toEqual([]);
  });

  it('never sends a POST twice after the connection dropped with the request sent', async () => {
    const dropping = await standIn(reset);
    const other = await standIn(ok);
    await expect(
      new ApiClient(`${dropping.url},${other.url}`, 't').call(Answer, 'POST', '/v1/things', { a: 1 }),
    ).rejects.toMatchObject({
      code: 'HUB_UNAVAILABLE',
      message: expect.stringMatching(
        new RegExp(`^the hub at ${dropping.url} did not answer POST /v1/things \\(.+\\); it may have received it`),
      ),
    });
    expect(dropping.received).toEqual(['POST /v1/things {"a":1}']);
    expect(other.received).toEqual([]);
  });

  it('with one hub, says it could not reach it when a POST got no answer', async () => {
    const dropping = await standIn(reset);
    await expect(new ApiClient(dropping.url, 't').call(Answer, 'POST', '/v1/things', { a: 1 })).rejects.toMatchObject({
      code: 'HUB_UNAVAILABLE',
      message: expect.stringMatching(new RegExp(`^cannot reach the hub at ${dropping.url} \\(.+\\); is it running\\?`)),
    });
  });

  it('sends a GET again to the next replica after the connection dropped', async () => {
    const dropping = await standIn(reset);
    const live = await standIn(ok);
    expect(await new ApiClient(`${dropping.url},${live.url}`, 't').call(Answer, 'GET', '/v1/things')).toEqual({
      ok: true,
    });
  });

  it('sends a repeatable upload again, its body read afresh, after the connection dropped', async () => {
    const dropping = await standIn(reset);
    const live = await standIn(ok);
    const client = new ApiClient(`${dropping.url},${live.url}`, 't');
    const answer = await client.upload(
      Answer,
      '/v1/offline/reports',
      'application/x-ndjson',
      () => Readable.from(['{"seq":1}\n', '{"seq":2}\n']),
      { repeatable: true },
    );
    expect(answer).toEqual({ ok: true });
    expect(live.received).toEqual(['POST /v1/offline/reports {"seq":1}\n{"seq":2}']);
  });

  it('stays on a replica that refuses the token: a 401 is an answer', async () => {
    const refusing = await standIn(status(401));
    const other = await standIn(ok);
    await expect(
      new ApiClient(`${refusing.url},${other.url}`, 't', '--token').call(Answer, 'GET', '/v1/things'),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(other.received).toEqual([]);
  });

  it('names every replica it tried when none answers', async () => {
    const [a, b] = [await deadUrl(), await deadUrl()];
    await expect(new ApiClient(`${a},${b}`, 't').call(Answer, 'GET', '/v1/things')).rejects.toMatchObject({
      code: 'HUB_UNAVAILABLE',
      message: expect.stringMatching(
        new RegExp(
          `^cannot reach the hub at ${a} \\(.*ECONNREFUSED.*\\), nor at ${b} \\(.*ECONNREFUSED.*\\); is it running\\?`,
        ),
      ),
    });
  });

  it("reads the last replica's 503 as its error when every replica is busy", async () => {
    const [a, b] = [await standIn(status(503)), await standIn(status(503))];
    await expect(new ApiClient(`${a.url},${b.url}`, 't').call(Answer, 'GET', '/v1/things')).rejects.toMatchObject({
      code: 'HUB_UNAVAILABLE',
      message: '503',
    });
    expect([a.received.length, b.received.length]).toEqual([1, 1]);
  });
});
