import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubClient, HubUnavailableError } from '../src/hub-client.ts';

let hub: Server;
let client: HubClient;
/** The headers the hub stand-in sends with its 429. */
let headers: Record<string, string>;

beforeEach(async () => {
  headers = {};
  hub = createServer((_req, res) => {
    res
      .writeHead(429, { 'content-type': 'application/json', ...headers })
      .end('{"error":{"code":"RATE_LIMITED","message":"the hub sheds load"}}');
  });
  await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
  client = new HubClient(`http://127.0.0.1:${(hub.address() as AddressInfo).port}`);
});

afterEach(async () => {
  await client.close();
  hub.closeAllConnections();
  await new Promise((resolve) => hub.close(resolve));
});

describe('a hub that sheds load with 429', () => {
  it('is a hub to come back to after its Retry-After, not a refusal of the request', async () => {
    headers = { 'retry-after': '7' };
    const error = await client.token('assertion').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubUnavailableError);
    expect(error).toMatchObject({ code: 'HUB_UNAVAILABLE', reachable: true, status: 429, retryAfterMs: 7000 });
  });

  it('is retried with the agent’s own backoff when it names no Retry-After', async () => {
    const error = await client.token('assertion').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubUnavailableError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: undefined });
  });
});
