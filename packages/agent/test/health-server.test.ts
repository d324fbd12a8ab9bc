import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer, type HealthCheck, type HealthServer } from '../src/health-server.ts';

let server: HealthServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function check(state: { live: boolean; ready: boolean }): HealthCheck {
  return {
    live: () => state.live,
    ready: () => state.ready,
    status: () => ({ role: 'standby', pod: 'agent-x', leader: 'agent-y' }),
  };
}

async function get(
  path: string,
  method: 'GET' | 'HEAD' | 'POST' = 'GET',
): Promise<{ status: number; body: string; type: string | undefined }> {
  const answer = await request(`${server!.url}${path}`, { method });
  return {
    status: answer.statusCode,
    body: await answer.body.text(),
    type: answer.headers['content-type'] as string | undefined,
  };
}

describe('the health endpoint', () => {
  it.each([
    [
      { live: true, ready: true },
      '/healthz',
      200,
      { status: 'ok', role: 'standby', pod: 'agent-x', leader: 'agent-y' },
    ],
    [{ live: true, ready: true }, '/readyz', 200, { status: 'ok', role: 'standby', pod: 'agent-x', leader: 'agent-y' }],
    [
      { live: true, ready: false },
      '/readyz',
      503,
      { status: 'not ready', role: 'standby', pod: 'agent-x', leader: 'agent-y' },
    ],
    [
      { live: true, ready: false },
      '/healthz',
      200,
      { status: 'ok', role: 'standby', pod: 'agent-x', leader: 'agent-y' },
    ],
    [
      { live: false, ready: false },
      '/healthz',
      503,
      { status: 'failing', role: 'standby', pod: 'agent-x', leader: 'agent-y' },
    ],
    [
      { live: true, ready: true },
      '/readyz?verbose=1',
      200,
      { status: 'ok', role: 'standby', pod: 'agent-x', leader: 'agent-y' },
    ],
  ])('answers %j on %s with %i', async (state, path, status, body) => {
    server = await startHealthServer({ port: 0, host: '127.0.0.1', check: check(state) });
    const answer = await get(path);
    expect(answer.status).toBe(status);
    expect(answer.type).toBe('application/json');
    expect(JSON.parse(answer.body)).toEqual(body);
  });

  it('follows the agent as its state changes', async () => {
    const state = { live: true, ready: false };
    server = await startHealthServer({ port: 0, host: '127.0.0.1', check: check(state) });
    expect((await get('/readyz')).status).toBe(503);
    state.ready = true;
    expect((await get('/readyz')).status).toBe(200);
  });

  it('answers 404 elsewhere, 405 to other methods, and HEAD without a body', async () => {
    server = await startHealthServer({ port: 0, host: '127.0.0.1', check: check({ live: true, ready: true }) });
    expect((await get('/')).status).toBe(404);
    expect((await get('/metrics')).status).toBe(404);
    expect((await get('/healthz', 'POST')).status).toBe(405);
    const head = await get('/healthz', 'HEAD');
    expect(head).toMatchObject({ status: 200, body: '' });
  });

  it('reports a check that throws as failing, not as a crash', async () => {
    server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      check: {
        live: () => {
          throw new Error('boom');
        },
        ready: () => true,
        status: () => ({}),
      },
    });
    const answer = await get('/healthz');
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body)).toEqual({ status: 'failing', error: 'boom' });
  });

  it('refuses a port that is not one', async () => {
    await expect(startHealthServer({ port: 70_000, check: check({ live: true, ready: true }) })).rejects.toThrow(
      TypeError,
    );
  });
});
