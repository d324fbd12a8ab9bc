import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WireClock } from '../scripts/sim/wire-clock.ts';

/*
 * The fleet simulator's agents share a few connections per process; the wire clock tells when
 * a report went on one, so that its latency leaves out the wait for a connection. Checked
 * against a real undici pool and a real server on loopback that holds its answers.
 */
describe('the fleet simulator’s wire clock', () => {
  const cleanups: (() => unknown)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A server that answers each request only when told; a pool of one connection to it. */
  async function heldServer(): Promise<{ pool: Pool; held: ServerResponse[] }> {
    const held: ServerResponse[] = [];
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => held.push(res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1 });
    cleanups.push(() => pool.destroy());
    return { pool, held };
  }

  function watchPosts(): WireClock {
    const clock = new WireClock((method) => method === 'POST');
    cleanups.push(() => clock.close());
    return clock;
  }

  it('notes a request when it goes on a connection, not while it waits in the pool for one', async () => {
    const { pool, held } = await heldServer();
    const clock = watchPosts();
    const first = pool.request({ method: 'POST', path: '/a', body: 'a' });
    const second = pool.request({ method: 'POST', path: '/b', body: 'b' });
    await vi.waitFor(() => expect(held).toHaveLength(1));
    const firstSent = clock.take('POST', '/a');
    expect(firstSent).toBeTypeOf('number');
    // The pool's one connection carries the first: the second waits, and is not on the wire.
    expect(clock.take('POST', '/b')).toBeUndefined();

    held[0]!.end('a');
    await (await first).body.text();
    const firstAnswered = performance.now();
    await vi.waitFor(() => expect(held).toHaveLength(2));
    expect(clock.take('POST', '/b')).toBeGreaterThanOrEqual(firstAnswered);
    held[1]!.end('b');
    await (await second).body.text();
  });

  it('tells each request once', async () => {
    const { pool, held } = await heldServer();
    const clock = watchPosts();
    const answer = pool.request({ method: 'POST', path: '/once', body: 'x' });
    await vi.waitFor(() => expect(held).toHaveLength(1));
    held[0]!.end();
    await (await answer).body.text();
    expect(clock.take('POST', '/once')).toBeTypeOf('number');
    expect(clock.take('POST', '/once')).toBeUndefined();
  });

  it('notes only the requests it watches, and nothing once closed', async () => {
    const { pool, held } = await heldServer();
    const clock = watchPosts();
    const get = pool.request({ method: 'GET', path: '/read' });
    await vi.waitFor(() => expect(held).toHaveLength(1));
    held[0]!.end();
    await (await get).body.text();
    expect(clock.take('GET', '/read')).toBeUndefined();

    clock.close();
    const post = pool.request({ method: 'POST', path: '/after', body: 'x' });
    await vi.waitFor(() => expect(held).toHaveLength(2));
    held[1]!.end();
    await (await post).body.text();
    expect(clock.take('POST', '/after')).toBeUndefined();
  });
});
