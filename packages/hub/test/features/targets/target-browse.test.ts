import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReleaseRef } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
const ids = new Map<string, string>();

const get = (path: string) => call(hub.url, 'GET', path, { token: hub.adminToken });
const release = (version: string): ReleaseRef => ({
  name: 'shop',
  version,
  digest: `sha256:${'1'.repeat(63)}${version.length}`,
});

beforeAll(async () => {
  hub = await startTestHub();
  const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 10, labels: { fleet: 'browse' } }),
  });
  const rows: [string, Record<string, unknown>, string | undefined][] = [
    ['delta', { region: 'eu-west-1', tier: 'gold' }, 'v1.30.2'],
    ['alpha', { region: 'us-east-1', tier: 'silver' }, 'v1.9.0'],
    ['charlie', { region: 'eu-west-1', tier: 'bronze', note: 'a, b' }, 'v1.29.0'],
    ['bravo', { region: 'eu-central-1', tier: 'gold' }, undefined],
  ];
  for (const [name, properties, version] of rows) {
    const agent = new ProtocolAgent(hub);
    await agent.enroll(created.body.token, name, hub.now());
    if (version !== undefined) await agent.report(hub.now(), [release('2.0.0')], { kubernetesVersion: version });
    await call(hub.url, 'PATCH', `/v1/targets/${agent.targetId}/properties`, {
      token: hub.adminToken,
      body: JSON.stringify({ set: properties }),
    });
    ids.set(name, agent.targetId);
  }
});

afterAll(async () => {
  await hub.close();
});

describe('browsing the fleet in pages', () => {
  it('sorts by name and pages by offset, with the total on every page', async () => {
    const first = await get('/v1/targets/browse?sort=name&limit=2');
    expect(first.status).toBe(200);
    expect(first.body.items.map((t: any) => t.name)).toEqual(['alpha', 'bravo']);
    expect(first.body.total).toBe(4);
    const second = await get('/v1/targets/browse?sort=name&limit=2&offset=2');
    expect(second.body.items.map((t: any) => t.name)).toEqual(['charlie', 'delta']);
  });

  it('sorts Kubernetes versions in version order, not text order, with targets lacking one last', async () => {
    const asc = await get('/v1/targets/browse?sort=kubernetesVersion');
    expect(asc.body.items.map((t: any) => t.name)).toEqual(['alpha', 'charlie', 'delta', 'bravo']);
    const desc = await get('/v1/targets/browse?sort=kubernetesVersion&order=desc');
    expect(desc.body.items.map((t: any) => t.name)).toEqual(['delta', 'charlie', 'alpha', 'bravo']);
  });

  it('narrows with a fleet query and summarizes each row', async () => {
    const answer = await get(`/v1/targets/browse?q=${encodeURIComponent('region=eu-*')}&sort=region`);
    expect(answer.body.items.map((t: any) => t.name)).toEqual(['bravo', 'charlie', 'delta']);
    expect(answer.body.items[2]).toMatchObject({
      id: ids.get('delta'),
      region: 'eu-west-1',
      tier: 'gold',
      health: 'healthy',
      kubernetesVersion: 'v1.30.2',
      running: ['shop@2.0.0'],
      status: 'active',
    });
  });

  it('answers a query error with its caret, as the other target routes do', async () => {
    const answer = await get(`/v1/targets/browse?q=${encodeURIComponent('regoin=eu')}`);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('QUERY_UNKNOWN_FIELD');
    expect(answer.body.error.details.caret).toContain('^');
  });

  it('answers a negation of a field no target has, with the warning the target list gives', async () => {
    const answer = await get(`/v1/targets/browse?q=${encodeURIComponent('!regoin')}`);
    expect(answer.status).toBe(200);
    expect(answer.body.total).toBe(4);
    expect(answer.body.warnings[0]).toContain('region');
  });

  it.each([
    ['sort=color', 'sort'],
    ['offset=-1', 'offset'],
    ['limit=5000', 'limit'],
    ['page=2', 'page'],
  ])('refuses %s with a message naming the parameter', async (params, name) => {
    const answer = await get(`/v1/targets/browse?${params}`);
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toContain(name);
  });
});

describe('completing fleet queries', () => {
  it('offers field names at the start of a condition, builtins first', async () => {
    const answer = await get(`/v1/targets/complete?q=${encodeURIComponent('re')}`);
    expect(answer.body.kind).toBe('field');
    expect(answer.body.items.map((i: any) => i.label)).toContain('region');
    expect(answer.body).toMatchObject({ from: 0, to: 2 });
  });

  it('offers the values of the field before the operator, most common first, with counts', async () => {
    const answer = await get(`/v1/targets/complete?q=${encodeURIComponent('tier=g')}`);
    expect(answer.body.kind).toBe('value');
    expect(answer.body.items).toEqual([{ insert: 'gold', label: 'gold', count: 2 }]);
    expect(answer.body).toMatchObject({ from: 5, to: 6 });
  });

  it('offers values inside an in (…) list and quotes values that need it', async () => {
    const inList = await get(`/v1/targets/complete?q=${encodeURIComponent('region in (eu-west-1, ')}`);
    expect(inList.body.items.map((i: any) => i.label)).toEqual(expect.arrayContaining(['eu-central-1', 'us-east-1']));
    const quoted = await get(`/v1/targets/complete?q=${encodeURIComponent('note=')}`);
    expect(quoted.body.items[0]).toMatchObject({ label: 'a, b', insert: '"a, b"' });
  });

  it('offers the fixed values of enumerated builtins and relative times for time fields', async () => {
    const health = await get(`/v1/targets/complete?q=${encodeURIComponent('health!=')}`);
    expect(health.body.items.map((i: any) => i.label)).toContain('degraded');
    const time = await get(`/v1/targets/complete?q=${encodeURIComponent('lastSeen<')}`);
    expect(time.body.items.map((i: any) => i.label)).toContain('now-1h');
  });

  it('completes at the cursor, not at the end of the text', async () => {
    const answer = await get(`/v1/targets/complete?q=${encodeURIComponent('tier=gold, status=active')}&at=6`);
    expect(answer.body).toMatchObject({ kind: 'value', field: 'tier', from: 5, to: 9 });
  });
});

describe('fleet facets for the overview', () => {
  it('counts targets by last-seen age, those that never reported apart', async () => {
    const answer = await get('/v1/targets/facets');
    expect(answer.body.lastSeen).toEqual({ '5m': 3, '1h': 0, '24h': 0, older: 0, never: 1 });
    hub.advance(2 * 24 * 60 * 60_000);
    const later = await get('/v1/targets/facets');
    expect(later.body.lastSeen).toEqual({ '5m': 0, '1h': 0, '24h': 0, older: 3, never: 1 });
  });
});

// Last: it enrolls one more target.
describe('a fleet that grows', () => {
  it('puts a target enrolled after the last page in its place by name', async () => {
    expect((await get('/v1/targets/browse?sort=name&limit=1')).body.items[0].name).toBe('alpha');
    const token = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: JSON.stringify({ maxUses: 1, labels: { fleet: 'browse-late' } }),
    });
    const late = new ProtocolAgent(hub);
    await late.enroll(token.body.token, 'aardvark', hub.now());
    const answer = await get(
      `/v1/targets/browse?sort=name&limit=2&q=${encodeURIComponent('fleet in (browse, browse-late)')}`,
    );
    expect(answer.body.items.map((t: any) => t.name)).toEqual(['aardvark', 'alpha']);
    expect(answer.body.total).toBe(5);
  });
});
