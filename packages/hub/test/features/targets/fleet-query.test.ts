import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { ReleaseRef, Target } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

const DAY = 24 * 60 * 60_000;
const MISSION = 'region in (eu-*), owner=atlas, running.app=4.2, lastChanged<now-30d';

let hub: TestHub;
const fleet = new Map<string, ProtocolAgent>();

function release(version: string): ReleaseRef {
  return { name: 'app', version, digest: `sha256:${'0'.repeat(63)}${version.length}` };
}

async function patch(
  id: string,
  kind: 'labels' | 'properties',
  set: Record<string, unknown>,
  remove: string[] = [],
): Promise<{ status: number; body: any }> {
  return call(hub.url, 'PATCH', `/v1/targets/${id}/${kind}`, {
    token: hub.adminToken,
    body: JSON.stringify({ set, remove }),
  });
}

async function select(q: string, extra = ''): Promise<{ status: number; body: any }> {
  return call(hub.url, 'GET', `/v1/targets?q=${encodeURIComponent(q)}${extra}`, { token: hub.adminToken });
}

const names = (items: Target[]): string[] => items.map((t) => t.name).sort();

beforeAll(async () => {
  hub = await startTestHub();
  const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 10, labels: { fleet: 'query-test' } }),
  });
  const rows: [string, Record<string, unknown>, string][] = [
    ['eu-atlas-old', { region: 'eu-west-1', owner: 'atlas', tier: 'production' }, '4.2.1'],
    ['eu-atlas-old-2', { region: 'eu-central-1', owner: 'atlas', tier: 'staging' }, '4.2.0'],
    ['eu-atlas-touched', { region: 'eu-west-1', owner: 'atlas', tier: 'production' }, '4.2.1'],
    ['eu-atlas-newer-app', { region: 'eu-west-1', owner: 'atlas', tier: 'production' }, '4.3.0'],
    ['us-atlas-old', { region: 'us-east-1', owner: 'atlas', tier: 'production' }, '4.2.1'],
    ['eu-borealis-old', { region: 'eu-west-1', owner: 'borealis', tier: 'production' }, '4.2.1'],
  ];
  for (const [name, properties, version] of rows) {
    const agent = new ProtocolAgent(hub);
    await agent.enroll(created.body.token, name, hub.now());
    await agent.report(hub.now(), [release(version)], { kubernetesVersion: 'v1.29.3' });
    expect((await patch(agent.targetId, 'properties', properties)).status).toBe(200);
    fleet.set(name, agent);
  }
  hub.advance(31 * DAY);
  expect((await patch(fleet.get('eu-atlas-touched')!.targetId, 'labels', { incident: 'inc-7' })).status).toBe(200);
});

afterAll(async () => {
  await hub.close();
});

describe('the fleet query through the hub API', () => {
  it('answers the mission query: running app 4.2 in the EU, owned by Atlas, untouched for 30 days', async () => {
    const answer = await select(MISSION);
    expect(answer.status).toBe(200);
    expect(names(answer.body.items)).toEqual(['eu-atlas-old', 'eu-atlas-old-2']);
    expect(answer.body.total).toBe(2);
  });

  it('pages with a keyset cursor and reports the total on every page', async () => {
    const first = await select('fleet=query-test', '&limit=4');
    expect(first.body.items).toHaveLength(4);
    expect(first.body.total).toBe(6);
    const second = await select('fleet=query-test', `&limit=4&after=${first.body.next}`);
    expect(second.body.items).toHaveLength(2);
    expect(second.body.next).toBeUndefined();
    expect(new Set([...first.body.items, ...second.body.items].map((t: Target) => t.id)).size).toBe(6);
  });

  it.each([
    ['fleet=query-test', '&limit=4'],
    ['fleet=query-test, !labels.incidnet', ''],
    ['', '&limit=2'],
  ])('sends the page for %j as the JSON of the documents each target read returns, byte for byte', async (q, extra) => {
    const text = async (path: string): Promise<string> =>
      (await request(`${hub.url}${path}`, { headers: { authorization: `Bearer ${hub.adminToken}` } })).body.text();
    const sent = await text(`/v1/targets?q=${encodeURIComponent(q)}${extra}`);
    const page = JSON.parse(sent) as { items: Target[]; total: number; next?: string; warnings?: string[] };
    expect(page.items.length).toBeGreaterThan(0);
    const items = await Promise.all(page.items.map(async (t) => JSON.parse(await text(`/v1/targets/${t.id}`))));
    const { total, next, warnings } = page;
    expect(sent).toBe(JSON.stringify({ items, total, next, warnings }));
  });

  it('compares versions as versions, not as text', async () => {
    expect(names((await select('running.app>=4.2.1')).body.items)).toHaveLength(5);
    expect(names((await select('running.app>4.2.9')).body.items)).toEqual(['eu-atlas-newer-app']);
  });

  it('counts facets over the targets a query selects', async () => {
    const answer = await call(hub.url, 'GET', `/v1/targets/facets?q=${encodeURIComponent('owner=atlas')}`, {
      token: hub.adminToken,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.total).toBe(5);
    expect(answer.body.region).toEqual({ 'eu-west-1': 3, 'eu-central-1': 1, 'us-east-1': 1 });
    expect(answer.body.running.app).toEqual({ '4.2.1': 3, '4.2.0': 1, '4.3.0': 1 });
    expect(answer.body.status).toEqual({ active: 5 });
  });

  it('points at the column of a syntax error, with a caret under it', async () => {
    const answer = await select('region in (eu-*, owner=atlas');
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('QUERY_SYNTAX');
    expect(answer.body.error.details.column).toBe(23);
    expect(answer.body.error.details.caret).toBe('region in (eu-*, owner=atlas\n                      ^');
  });

  it('refuses a field no target has, suggesting the one meant, instead of answering nothing', async () => {
    const answer = await select('regoin=eu-west-1');
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('QUERY_UNKNOWN_FIELD');
    expect(answer.body.error.message).toMatch(/region/);
  });

  it.each([
    ['fleet=query-test, !labels.maintenance'],
    ['fleet=query-test, labels.frozen!=x'],
    ['fleet=query-test, maintenance notin (x)'],
    ['fleet=query-test, not (labels.maintenance=on and owner=atlas)'],
  ])('answers %j, a negation of a key no target has, with every target', async (q) => {
    const answer = await select(q);
    expect(answer.status).toBe(200);
    expect(answer.body.total).toBe(6);
    expect(answer.body.warnings).toBeUndefined();
  });

  it('answers a negation of a likely misspelt key, with a warning naming the key meant', async () => {
    const answer = await select('fleet=query-test, !labels.incidnet');
    expect(answer.status).toBe(200);
    expect(answer.body.total).toBe(6);
    expect(answer.body.warnings).toEqual([
      "no target has the label 'incidnet', so its negation holds for every target; did you mean 'labels.incident'? (at column 20)",
    ]);
  });

  it('checks a query it answered before against the fields the fleet has now', async () => {
    const q = 'fleet=query-test, !labels.incidnet';
    expect((await select(q)).body.warnings).toHaveLength(1);
    const target = fleet.get('us-atlas-old')!.targetId;
    expect((await patch(target, 'labels', { incidnet: 'typo' })).status).toBe(200);
    const answer = await select(q);
    expect(answer.body.total).toBe(5);
    expect(answer.body.warnings).toBeUndefined();
    expect((await patch(target, 'labels', {}, ['incidnet'])).status).toBe(200);
  });
});

describe('labels and properties', () => {
  it('refuses a property value or reported fact holding U+0000 with 400, storing nothing, on either store', async () => {
    const agent = fleet.get('eu-borealis-old')!;
    const refused = await patch(agent.targetId, 'properties', { note: 'a\u0000b' });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/NUL character \(U\+0000\)/);
    await expect(agent.report(hub.now(), [release('4.2.1')], { os: 'linux\u0000' })).rejects.toThrow(
      /NUL character \(U\+0000\)/,
    );
    const target = await call(hub.url, 'GET', `/v1/targets/${agent.targetId}`, { token: hub.adminToken });
    expect(target.body.properties).not.toHaveProperty('note');
    expect(target.body.facts?.os).toBeUndefined();
  });

  it('keeps property types and records who changed them and when', async () => {
    const id = fleet.get('us-atlas-old')!.targetId;
    const answer = await patch(id, 'properties', { nodes: 12, pci: true, version: '4.10' }, ['tier']);
    expect(answer.status).toBe(200);
    expect(answer.body.properties).toEqual({
      region: 'us-east-1',
      owner: 'atlas',
      nodes: 12,
      pci: true,
      version: '4.10',
    });
    expect(answer.body.lastChangedBy).toEqual({ kind: 'user', id: 'admin' });
    expect(names((await select('properties.nodes>10, pci=true')).body.items)).toEqual(['us-atlas-old']);
  });

  it('refuses an invalid label whole, leaving the target as it was', async () => {
    const id = fleet.get('eu-borealis-old')!.targetId;
    const answer = await patch(id, 'labels', { good: 'yes', 'bad key!': 'x' });
    expect(answer.status).toBe(400);
    const target = await call(hub.url, 'GET', `/v1/targets/${id}`, { token: hub.adminToken });
    expect(target.body.labels).toEqual({ fleet: 'query-test' });
  });
});

describe('the in-memory fleet index', () => {
  it('follows writes made after it was built, and ignores a write that rolled back', async () => {
    const id = fleet.get('eu-borealis-old')!.targetId;
    expect(names((await select('owner=borealis')).body.items)).toEqual(['eu-borealis-old']);
    expect((await patch(id, 'properties', { owner: 'cygnus' })).status).toBe(200);
    expect((await select('owner=borealis')).body.total).toBe(0);
    expect(names((await select('owner=cygnus')).body.items)).toEqual(['eu-borealis-old']);

    const { tx, targets } = hub.opened.hub.services;
    expect(() =>
      tx.run(() => {
        targets.editMetadata(id, 'properties', { owner: 'draco' }, [], { kind: 'user', id: 'test' });
        throw new Error('abandoned');
      }),
    ).toThrow('abandoned');
    expect(names((await select('owner=cygnus')).body.items)).toEqual(['eu-borealis-old']);
  });
});

describe('paging a query with relative times', () => {
  const RECENT = 'fleet=paging, lastChanged>now-45s';

  beforeAll(async () => {
    const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: JSON.stringify({ maxUses: 3, labels: { fleet: 'paging' } }),
    });
    for (const name of ['paging-a', 'paging-b', 'paging-c']) {
      const agent = new ProtocolAgent(hub);
      await agent.enroll(created.body.token, name, hub.now());
    }
  });

  it('evaluates now once, on the first page, and carries it in the cursor to the last', async () => {
    const first = await select(RECENT, '&limit=1');
    expect(first.body.total).toBe(3);
    const seen: Target[] = [...first.body.items];
    let next: string | undefined = first.body.next;
    while (next !== undefined) {
      // Every target changed more than 45 seconds ago by the time the next page is asked for.
      hub.advance(60_000);
      const page = await select(RECENT, `&limit=1&after=${encodeURIComponent(next)}`);
      expect(page.status).toBe(200);
      expect(page.body.total).toBe(3);
      seen.push(...page.body.items);
      next = page.body.next;
    }
    expect(names(seen)).toEqual(['paging-a', 'paging-b', 'paging-c']);
    expect((await select(RECENT)).body.total).toBe(0);
  });

  it.each([
    ['not a cursor', 'garbage!'],
    ['an unknown version', Buffer.from('v9:0:tgt_00000000000000000000:0').toString('base64url')],
    ['a time that is not a number', Buffer.from('t1:soon:tgt_00000000000000000000:00000000').toString('base64url')],
    ['an id that is no target id', Buffer.from('t1:1:nobody:00000000').toString('base64url')],
  ])('refuses %s as the cursor with 400 QUERY_CURSOR_INVALID', async (_what, cursor) => {
    const answer = await select(RECENT, `&after=${encodeURIComponent(cursor)}`);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('QUERY_CURSOR_INVALID');
  });

  it('refuses a cursor issued for another query, and accepts it for the same query spelt differently', async () => {
    const first = await select('fleet=paging, lastChanged<now+1h', '&limit=1');
    expect(first.body.next).toBeDefined();
    const other = await select('fleet=paging', `&limit=1&after=${encodeURIComponent(first.body.next)}`);
    expect(other.status).toBe(400);
    expect(other.body.error.code).toBe('QUERY_CURSOR_INVALID');
    expect(other.body.error.message).toMatch(/another query/);
    const same = await select(
      'fleet = paging ,  lastChanged < now+60m',
      `&limit=1&after=${encodeURIComponent(first.body.next)}`,
    );
    expect(same.status).toBe(200);
  });
});
