import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
let scopedToken = '';
const agents = new Map<string, ProtocolAgent>();

async function get(path: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const response = await request(`${hub.url}${path}`, { headers });
  const text = await response.body.text();
  return { status: response.statusCode, body: text === '' ? undefined : JSON.parse(text) };
}

/** A dashboard session of `token`: the Cookie header the browser would send. */
async function sessionCookie(token: string): Promise<Record<string, string>> {
  const response = await request(`${hub.url}/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  await response.body.text();
  expect(response.statusCode).toBe(201);
  return { cookie: String(response.headers['set-cookie']).split(';')[0]! };
}

/** The events a stream resumed at `after` replays, up to the first that `last` accepts. */
async function replay(
  headers: Record<string, string>,
  after: string,
  last: (event: { event: string; data: any }) => boolean,
): Promise<{ event: string; data: any }[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  const response = await request(`${hub.url}/v1/events`, {
    headers: { ...headers, 'last-event-id': after },
    signal: controller.signal,
  });
  expect(response.statusCode).toBe(200);
  const events: { event: string; data: any }[] = [];
  let buffer = '';
  try {
    for await (const chunk of response.body) {
      buffer += chunk.toString();
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const lines = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
        const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
        if (event === undefined) continue;
        events.push({ event, data: JSON.parse(data ?? 'null') });
        if (last(events.at(-1)!)) return events;
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

beforeAll(async () => {
  hub = await startTestHub();
  const enroll = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 4, labels: {} }),
  });
  for (const [name, region, tier] of [
    ['eu-1', 'eu-west-1', 'gold'],
    ['eu-2', 'eu-central-1', 'silver'],
    ['us-1', 'us-east-1', 'platinum'],
    ['us-2', 'us-east-2', 'platinum'],
  ] as const) {
    const agent = new ProtocolAgent(hub);
    await agent.enroll(enroll.body.token, name, hub.now());
    await call(hub.url, 'PATCH', `/v1/targets/${agent.targetId}/properties`, {
      token: hub.adminToken,
      body: JSON.stringify({ set: { region, tier } }),
    });
    agents.set(name, agent);
  }
  const created = await call(hub.url, 'POST', '/v1/tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ name: 'eu-viewer', role: 'viewer', scope: 'region=eu-*' }),
  });
  expect(created.status).toBe(201);
  scopedToken = created.body.token;
});

afterAll(async () => {
  await hub.close();
});

describe('the dashboard with a token limited to a scope', () => {
  it('signs in and says what the session is limited to', async () => {
    const answer = await get('/v1/session', await sessionCookie(scopedToken));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ name: 'eu-viewer', role: 'viewer', scope: 'region=eu-*' });
  });

  it('counts only targets in scope in the overview', async () => {
    const answer = await get('/v1/targets/facets', await sessionCookie(scopedToken));
    expect(answer.status).toBe(200);
    expect(answer.body.total).toBe(2);
  });

  it('browses only targets in scope, whatever the query asks', async () => {
    const cookie = await sessionCookie(scopedToken);
    const all = await get('/v1/targets/browse', cookie);
    expect(all.status).toBe(200);
    expect({ total: all.body.total, names: all.body.items.map((t: { name: string }) => t.name) }).toEqual({
      total: 2,
      names: ['eu-1', 'eu-2'],
    });
    const escape = await get(`/v1/targets/browse?q=${encodeURIComponent('region=us-* or name=us-1')}`, cookie);
    expect(escape.body.total).toBe(0);
  });

  it('completes values and names from targets in scope only', async () => {
    const cookie = await sessionCookie(scopedToken);
    const tiers = await get(`/v1/targets/complete?q=${encodeURIComponent('tier=')}`, cookie);
    expect(tiers.body.items.map((i: { label: string; count?: number }) => [i.label, i.count])).toEqual([
      ['gold', 1],
      ['silver', 1],
    ]);
    const names = await get(`/v1/targets/complete?q=${encodeURIComponent('name=')}`, cookie);
    expect(names.body.items.map((i: { label: string }) => i.label)).toEqual(['eu-1', 'eu-2']);
    const unscoped = await call(hub.url, 'GET', `/v1/targets/complete?q=${encodeURIComponent('tier=')}`, {
      token: hub.adminToken,
    });
    expect(unscoped.body.items[0]).toMatchObject({ label: 'platinum', count: 2 });
  });

  it('streams reports of targets in scope only, and no fleet-wide audit events', async () => {
    const before = hub.opened.hub.services.dashboard.events.lastId;
    await agents.get('us-1')!.report(hub.now(), []);
    await agents.get('eu-1')!.report(hub.now(), []);
    const events = await replay(
      await sessionCookie(scopedToken),
      before,
      (e) => e.event === 'report' && e.data.targetId === agents.get('eu-1')!.targetId,
    );
    expect(events.map((e) => [e.event, e.data.targetId])).toEqual([['report', agents.get('eu-1')!.targetId]]);
    const admin = await replay(
      { authorization: `Bearer ${hub.adminToken}` },
      before,
      (e) => e.event === 'report' && e.data.targetId === agents.get('eu-1')!.targetId,
    );
    expect(admin.filter((e) => e.event === 'report').map((e) => e.data.targetId)).toEqual([
      agents.get('us-1')!.targetId,
      agents.get('eu-1')!.targetId,
    ]);
  });
});
