import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, signBundle } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
const agents = new Map<string, ProtocolAgent>();

const as = (token: string) => ({
  get: (path: string) => call(hub.url, 'GET', path, { token }),
  post: (path: string, body: unknown) => call(hub.url, 'POST', path, { token, body: JSON.stringify(body) }),
  patch: (path: string, body: unknown) => call(hub.url, 'PATCH', path, { token, body: JSON.stringify(body) }),
  del: (path: string) => call(hub.url, 'DELETE', path, { token }),
});
const admin = () => as(hub.adminToken);

async function createToken(body: Record<string, unknown>): Promise<string> {
  const created = await admin().post('/v1/tokens', body);
  expect(created.status).toBe(201);
  return created.body.token as string;
}

async function refusals(): Promise<any[]> {
  const page = await admin().get('/v1/audit?action=auth.refused&limit=50');
  return page.body.entries;
}

beforeAll(async () => {
  hub = await startTestHub();
  const release = generateKeyPair();
  await admin().post('/v1/trust-root/release-keys', { publicKey: release.publicKey });
  const bundle = signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'app',
      version: '1.0.0',
      resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: {} }],
    },
    [release],
  );
  expect((await admin().post('/v1/bundles', bundle)).status).toBe(201);
  const enroll = (await admin().post('/v1/enrollment-tokens', { maxUses: 4, labels: {} })).body.token as string;
  for (const [name, region] of [
    ['eu-a', 'eu-west-1'],
    ['eu-b', 'eu-central-1'],
    ['us-a', 'us-east-1'],
    ['us-b', 'us-west-2'],
  ] as const) {
    const agent = new ProtocolAgent(hub);
    await agent.enroll(enroll, name, hub.now());
    await admin().patch(`/v1/targets/${agent.targetId}/properties`, { set: { region } });
    agents.set(name, agent);
  }
});
afterAll(async () => {
  await hub.close();
});

describe('operator tokens', () => {
  it('shows the secret once, stores only its hash, and audits the creation', async () => {
    const created = await admin().post('/v1/tokens', { name: 'vera', role: 'viewer' });
    expect(created.body).toMatchObject({ name: 'vera', role: 'viewer', createdBy: 'admin' });
    expect(created.body.token).toMatch(/^fl_viewer_/);
    const listed = await admin().get('/v1/tokens');
    const vera = listed.body.items.find((t: { name: string }) => t.name === 'vera');
    expect(vera).toEqual({ ...created.body, token: undefined });
    const db = hub.openDb();
    const stored = db.prepare('SELECT * FROM api_tokens WHERE name = ?').get('vera') as Record<string, unknown>;
    db.close();
    expect(stored['token_hash']).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(created.body.token);
    const audit = await admin().get('/v1/audit?action=token.create&limit=1');
    expect(audit.body.entries[0]).toMatchObject({ actor: { id: 'admin' }, details: { name: 'vera', role: 'viewer' } });
  });

  it('refuses a second live token under one name', async () => {
    await createToken({ name: 'dup', role: 'viewer' });
    const again = await admin().post('/v1/tokens', { name: 'dup', role: 'admin' });
    expect(again.status).toBe(409);
  });

  it('lets a viewer read but not change', async () => {
    const viewer = await createToken({ name: 'reader', role: 'viewer' });
    expect((await as(viewer).get('/v1/targets')).status).toBe(200);
    const refused = await as(viewer).post('/v1/rollouts', { release: 'app@1.0.0', selector: '' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');
  });

  it('keeps token management to admins', async () => {
    const deployer = await createToken({ name: 'dee', role: 'deployer' });
    expect((await as(deployer).post('/v1/tokens', { name: 'mine', role: 'admin' })).status).toBe(403);
    expect((await as(deployer).get('/v1/tokens')).status).toBe(403);
  });

  it('refuses a revoked token at once', async () => {
    const token = await createToken({ name: 'gone', role: 'viewer' });
    expect((await as(token).get('/v1/targets')).status).toBe(200);
    expect((await admin().del('/v1/tokens/gone')).status).toBe(200);
    const refused = await as(token).get('/v1/targets');
    expect(refused.status).toBe(401);
    expect((await refusals())[0]).toMatchObject({ actor: { id: 'gone' }, reason: 'UNAUTHENTICATED' });
  });

  it('refuses a token after its lifetime', async () => {
    const token = await createToken({ name: 'brief', role: 'viewer', ttlSeconds: 3600 });
    expect((await as(token).get('/v1/targets')).status).toBe(200);
    hub.advance(3_600_001);
    const refused = await as(token).get('/v1/targets');
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('TOKEN_EXPIRED');
  });
});

describe('a deployer scoped to region=eu-*', () => {
  let eu: string;
  beforeAll(async () => {
    eu = await createToken({ name: 'eu-deployer', role: 'deployer', scope: 'region=eu-*' });
  });

  it('lists only the targets inside its scope, whatever it asks', async () => {
    const all = await as(eu).get('/v1/targets');
    expect(all.body.items.map((t: { name: string }) => t.name).sort()).toEqual(['eu-a', 'eu-b']);
    const asked = await as(eu).get(`/v1/targets?q=${encodeURIComponent('region=us-*')}`);
    expect(asked.body.items).toEqual([]);
  });

  it('cannot read or change a target outside it, and the attempt is audited', async () => {
    const us = agents.get('us-a')!.targetId;
    const read = await as(eu).get(`/v1/targets/${us}`);
    expect(read.status).toBe(404);
    const edit = await as(eu).patch(`/v1/targets/${us}/labels`, { set: { x: 'y' } });
    expect(edit.status).toBe(404);
    const assign = await as(eu).post(`/v1/targets/${us}/assign`, { bundles: ['app@1.0.0'] });
    expect(assign.status).toBe(404);
    const [last] = await refusals();
    expect(last).toMatchObject({
      actor: { id: 'eu-deployer' },
      subjects: [us],
      details: { cause: 'out-of-scope', scope: 'region=eu-*' },
    });
    expect((await admin().get(`/v1/targets/${us}`)).body.labels).toEqual({});
  });

  it('reads and changes a target inside it', async () => {
    const own = agents.get('eu-a')!.targetId;
    expect((await as(eu).get(`/v1/targets/${own}`)).status).toBe(200);
    expect((await as(eu).patch(`/v1/targets/${own}/labels`, { set: { team: 'eu' } })).status).toBe(200);
  });

  it('creates rollouts that include only targets inside it', async () => {
    const created = await as(eu).post('/v1/rollouts', { release: 'app@1.0.0', selector: '', dryRun: true });
    expect(created.status).toBe(200);
    expect(created.body.rollout.selected).toBe(2);
    expect(created.body.rollout.selector).toContain('region=eu-*');
  });

  it('is refused on routes that reach the whole fleet', async () => {
    for (const path of ['/v1/drift', '/v1/policies']) {
      const answer = await as(eu).get(path);
      expect(answer.status, path).toBe(403);
    }
  });
});
