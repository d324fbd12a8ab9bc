import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, signBundle } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
const ids = new Map<string, string>();
const rollouts = new Map<string, string>();
let eu = '';
let euAdmin = '';

const as = (token: string) => ({
  get: (path: string) => call(hub.url, 'GET', path, { token }),
  post: (path: string, body: unknown) => call(hub.url, 'POST', path, { token, body: JSON.stringify(body) }),
  patch: (path: string, body: unknown) => call(hub.url, 'PATCH', path, { token, body: JSON.stringify(body) }),
});
const admin = () => as(hub.adminToken);

async function lastRefusal(): Promise<{ actor: { id: string }; details: Record<string, unknown> }> {
  return (await admin().get('/v1/audit?action=auth.refused&limit=1')).body.entries[0];
}

beforeAll(async () => {
  hub = await startTestHub();
  const release = generateKeyPair();
  await admin().post('/v1/trust-root/release-keys', { publicKey: release.publicKey });
  for (const name of ['eu-app', 'all-app', 'us-app', 'team-app']) {
    const bundle = signBundle(
      {
        apiVersion: API_VERSION,
        kind: 'Bundle',
        name,
        version: '1.0.0',
        resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: {} }],
      },
      [release],
    );
    expect((await admin().post('/v1/bundles', bundle)).status).toBe(201);
  }
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
    ids.set(name, agent.targetId);
  }
  await admin().patch(`/v1/targets/${ids.get('eu-a')}/labels`, { set: { team: 'pay' } });
  eu = (await admin().post('/v1/tokens', { name: 'eu-deployer', role: 'deployer', scope: 'region=eu-*' })).body.token;
  euAdmin = (await admin().post('/v1/tokens', { name: 'eu-admin', role: 'admin', scope: 'region=eu-*' })).body.token;
  const create = async (token: string, release: string, selector: string): Promise<string> => {
    const created = await as(token).post('/v1/rollouts', { release, selector });
    expect(created.status).toBe(201);
    return created.body.rollout.id as string;
  };
  rollouts.set('eu', await create(eu, 'eu-app@1.0.0', ''));
  rollouts.set('all', await create(hub.adminToken, 'all-app@1.0.0', ''));
  rollouts.set('us', await create(hub.adminToken, 'us-app@1.0.0', 'region=us-*'));
  rollouts.set('team', await create(hub.adminToken, 'team-app@1.0.0', 'team=pay'));
  await admin().patch(`/v1/targets/${ids.get('us-b')}/labels`, { set: { owner: 'ops' } });
  await admin().patch(`/v1/targets/${ids.get('eu-b')}/labels`, { set: { owner: 'ops' } });
});
afterAll(async () => {
  await hub.close();
});

describe('rollouts seen through a token scoped to region=eu-*', () => {
  it('lists only the rollouts whose every target lies inside the scope', async () => {
    const listed = await as(eu).get('/v1/rollouts');
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((r: { id: string }) => r.id).sort()).toEqual(
      [rollouts.get('eu'), rollouts.get('team')].sort(),
    );
    expect((await admin().get('/v1/rollouts')).body.items).toHaveLength(4);
  });

  it('shows a rollout inside the scope', async () => {
    const shown = await as(eu).get(`/v1/rollouts/${rollouts.get('eu')}`);
    expect(shown.status).toBe(200);
    expect(shown.body.members.map((m: { name: string }) => m.name).sort()).toEqual(['eu-a', 'eu-b']);
  });

  it.each(['all', 'us'])('does not reveal the %s rollout asked for by id, and audits the attempt', async (which) => {
    const id = rollouts.get(which)!;
    const shown = await as(eu).get(`/v1/rollouts/${id}`);
    expect(shown.status).toBe(404);
    expect(shown.body.error.message).toContain('region=eu-*');
    expect(await lastRefusal()).toMatchObject({
      actor: { id: 'eu-deployer' },
      details: { cause: 'out-of-scope', rollout: id, scope: 'region=eu-*' },
    });
  });

  it.each(['pause', 'abort', 'rollback'])('refuses to %s a rollout reaching outside the scope', async (verb) => {
    const id = rollouts.get('all')!;
    const answer = await as(eu).post(`/v1/rollouts/${id}/${verb}`, {});
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('FORBIDDEN');
    expect(answer.body.error.message).toContain("'region=eu-*'");
    expect((await admin().get(`/v1/rollouts/${id}?members=none`)).body.state).toBe('running');
    expect(await lastRefusal()).toMatchObject({ details: { cause: 'out-of-scope', rollout: id } });
  });

  it('steers a rollout inside the scope', async () => {
    const id = rollouts.get('eu')!;
    expect((await as(eu).post(`/v1/rollouts/${id}/pause`, {})).status).toBe(200);
    expect((await as(eu).post(`/v1/rollouts/${id}/resume`, {})).status).toBe(200);
  });

  it('loses sight of a rollout once its selector reaches a target outside the scope', async () => {
    const id = rollouts.get('team')!;
    expect((await as(eu).get(`/v1/rollouts/${id}`)).status).toBe(200);
    await admin().patch(`/v1/targets/${ids.get('us-a')}/labels`, { set: { team: 'pay' } });
    expect((await as(eu).get(`/v1/rollouts/${id}`)).status).toBe(404);
    expect((await as(eu).post(`/v1/rollouts/${id}/pause`, {})).status).toBe(403);
  });
});

describe('the audit trail seen through a token scoped to region=eu-*', () => {
  it('queries only entries about targets inside the scope', async () => {
    const page = await as(eu).get('/v1/audit?limit=1000');
    expect(page.status).toBe(200);
    const inside = new Set([ids.get('eu-a'), ids.get('eu-b')]);
    expect(page.body.entries.length).toBeGreaterThan(0);
    for (const entry of page.body.entries as { subjects: string[] }[]) {
      expect(entry.subjects.length).toBeGreaterThan(0);
      for (const id of entry.subjects) expect(inside.has(id)).toBe(true);
    }
    expect(page.body.entries).toContainEqual(
      expect.objectContaining({ action: 'target.label', subjects: [ids.get('eu-b')] }),
    );
  });

  it('hides entries about no target, and entries about targets outside it even when asked by id', async () => {
    expect((await as(eu).get('/v1/audit?action=token.create')).body.entries).toEqual([]);
    const asked = await as(eu).get(`/v1/audit?target=${ids.get('us-b')}`);
    expect(asked.status).toBe(200);
    expect(asked.body.entries).toEqual([]);
    expect((await admin().get(`/v1/audit?target=${ids.get('us-b')}`)).body.entries.length).toBeGreaterThan(0);
  });

  it("refuses a target's history outside the scope", async () => {
    expect((await as(eu).get(`/v1/targets/${ids.get('us-b')}/history`)).status).toBe(404);
    expect((await as(eu).get(`/v1/targets/${ids.get('eu-b')}/history`)).status).toBe(200);
  });

  it('exports in full only entries about targets inside the scope, the rest elided', async () => {
    const answer = await call(hub.url, 'GET', '/v1/audit/export', { token: euAdmin });
    expect(answer.status).toBe(200);
    const lines = (answer.body as string)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; subjects?: string[] });
    const entries = lines.filter((line) => line.kind === 'entry');
    expect(entries.length).toBeGreaterThan(0);
    expect(lines.some((line) => line.kind === 'elided')).toBe(true);
    const inside = new Set([ids.get('eu-a'), ids.get('eu-b')]);
    for (const entry of entries) {
      expect(entry.subjects!.length).toBeGreaterThan(0);
      for (const id of entry.subjects!) expect(inside.has(id)).toBe(true);
    }
    expect(answer.body).not.toContain(ids.get('us-b'));
  });
});
