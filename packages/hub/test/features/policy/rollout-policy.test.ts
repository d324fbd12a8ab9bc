import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, signBundle, type KeyPair } from '@flotilla/protocol';
import { signApproval, type SignedApproval } from '@flotilla/protocol/policy';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
const ids = new Map<string, string>();
let digest = '';
let rolloutId = '';
let author = '';
let approverToken = '';
const approvers = new Map<string, KeyPair>();
// A Wednesday, 04:00 in Berlin: before the 09:00-16:00 window opens.
const WEDNESDAY = Date.parse('2030-01-02T03:00:00Z');

const post = (path: string, body: unknown, token = hub.adminToken) =>
  call(hub.url, 'POST', path, { token, body: JSON.stringify(body) });
const get = (path: string) => call(hub.url, 'GET', path, { token: hub.adminToken });

function approval(who: string, key: KeyPair, action: 'approve' | 'override-window' = 'approve'): SignedApproval {
  return signApproval(
    {
      apiVersion: API_VERSION,
      kind: 'Approval',
      action,
      rolloutId,
      releaseDigest: digest,
      approver: who,
      approvedAt: new Date(hub.now()).toISOString(),
    },
    key,
  );
}

async function member(name: string): Promise<{ state: string; reason?: string }> {
  hub.opened.hub.services.rollouts.controller.reconcile(rolloutId);
  const view = await get(`/v1/rollouts/${rolloutId}`);
  return view.body.members.find((m: { name: string }) => m.name === name);
}

async function carries(name: string): Promise<boolean> {
  const target = await get(`/v1/targets/${ids.get(name)}`);
  return target.body.desired.bundles.some((b: { digest: string }) => b.digest === digest);
}

beforeAll(async () => {
  hub = await startTestHub();
  hub.advance(WEDNESDAY - hub.now());
  const release = generateKeyPair();
  await post('/v1/trust-root/release-keys', { publicKey: release.publicKey });
  const bundle = signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'payments',
      version: '1.0.0',
      resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pay', namespace: 'pay' }, data: {} }],
      placement: { workloadClass: 'payments' },
    },
    [release],
  );
  digest = bundle.digest;
  expect((await post('/v1/bundles', bundle)).status).toBe(201);
  const enroll = (await post('/v1/enrollment-tokens', { maxUses: 4, labels: {} })).body.token as string;
  for (const [name, properties] of [
    ['acme-1', { tenant: 'acme' }],
    ['berlin-1', { region: 'eu-central-1', timezone: 'Europe/Berlin' }],
    ['plain-1', { compliance: 'none' }],
    ['free-1', { region: 'us-east-1' }],
  ] as const) {
    const agent = new ProtocolAgent(hub);
    await agent.enroll(enroll, name, hub.now());
    await call(hub.url, 'PATCH', `/v1/targets/${agent.targetId}/properties`, {
      token: hub.adminToken,
      body: JSON.stringify({ set: properties }),
    });
    ids.set(name, agent.targetId);
  }
  const policy = (name: string, scope: string, spec: Record<string, unknown>) => ({
    document: { apiVersion: 'flotilla.io/v1', kind: 'Policy', metadata: { name }, spec: { scope, ...spec } },
  });
  await post('/v1/policies', policy('acme-dual', 'tenant=acme', { approvals: { required: 2 } }));
  await post(
    '/v1/policies',
    policy('berlin-hours', 'region=eu-central-1', {
      windows: { allow: ['Mon-Fri 09:00-16:00'], emergencyOverride: { approvals: 1 } },
    }),
  );
  await post('/v1/policies', policy('no-payments', 'compliance=none', { placement: { deniedClasses: ['payments'] } }));
  for (const who of ['alice@acme.example', 'bob@acme.example', 'carol@acme.example']) {
    const key = generateKeyPair();
    approvers.set(who, key);
    expect((await post('/v1/trust-root/approver-keys', { publicKey: key.publicKey, identity: who })).status).toBe(200);
  }
  author = (await post('/v1/tokens', { name: 'carol@acme.example', role: 'deployer' })).body.token;
  approverToken = (await post('/v1/tokens', { name: 'approvals-desk', role: 'approver' })).body.token;
  const created = await post('/v1/rollouts', { release: 'payments@1.0.0', selector: '' }, author);
  expect(created.status).toBe(201);
  rolloutId = created.body.rollout.id;
});
afterAll(async () => {
  await hub.close();
});

describe('a rollout across three policy scopes', () => {
  it('updates the target no policy holds back', async () => {
    expect(await carries('free-1')).toBe(true);
  });

  it('excludes the target placement bars, saying which policy', async () => {
    expect(await member('plain-1')).toMatchObject({
      state: 'blocked',
      reason: expect.stringMatching(/^excluded by policy: no-payments@1 placement\.deniedClasses/),
    });
    expect(await carries('plain-1')).toBe(false);
  });

  it('holds the dual-approval target, and the wave with it, awaiting approval', async () => {
    expect(await member('acme-1')).toMatchObject({
      state: 'blocked',
      reason: expect.stringMatching(/^awaiting-approval: acme-dual@1 approvals\.required/),
    });
    expect(await carries('acme-1')).toBe(false);
    const view = await get(`/v1/rollouts/${rolloutId}?members=none`);
    expect(view.body.state).toBe('running');
  });

  it('holds the target whose window is closed, with the next opening', async () => {
    expect(await member('berlin-1')).toMatchObject({
      state: 'blocked',
      reason: expect.stringMatching(/^blocked: window, opens 2030-01-02T08:00:00\.000Z/),
    });
    expect(await carries('berlin-1')).toBe(false);
  });
});

describe('approvals', () => {
  it.each([
    ['by the rollout author', () => approval('carol@acme.example', approvers.get('carol@acme.example')!), 'author'],
    ['signed by a key not in the trust root', () => approval('dave@acme.example', generateKeyPair()), 'key-unknown'],
    [
      "naming someone else than the key's owner",
      () => approval('bob@acme.example', approvers.get('alice@acme.example')!),
      'identity-mismatch',
    ],
  ])('refuses an approval %s, records nothing and audits it', async (_, make, reason) => {
    const answer = await post(`/v1/rollouts/${rolloutId}/approvals`, { approval: make() }, approverToken);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'APPROVAL_INVALID', details: { reason } });
    expect((await get(`/v1/rollouts/${rolloutId}/approvals`)).body.items).toEqual([]);
    const audit = await get('/v1/audit?action=rollout.approve&limit=1');
    expect(audit.body.entries[0]).toMatchObject({ outcome: 'refused', reason });
  });

  it('refuses registering one key for a second person', async () => {
    const answer = await post('/v1/trust-root/approver-keys', {
      publicKey: approvers.get('alice@acme.example')!.publicKey,
      identity: 'mallory@acme.example',
    });
    expect(answer.status).toBe(409);
  });

  it('counts one person once: a second approval by alice is refused and the target still waits', async () => {
    const alice = approvers.get('alice@acme.example')!;
    expect(
      (
        await post(
          `/v1/rollouts/${rolloutId}/approvals`,
          { approval: approval('alice@acme.example', alice) },
          approverToken,
        )
      ).status,
    ).toBe(201);
    const again = await post(
      `/v1/rollouts/${rolloutId}/approvals`,
      { approval: approval('Alice@acme.example', alice) },
      approverToken,
    );
    expect(again.status).toBe(409);
    expect((await member('acme-1')).reason).toMatch(/^awaiting-approval/);
  });

  it('keeps approvals to the approver role', async () => {
    const bob = approval('bob@acme.example', approvers.get('bob@acme.example')!);
    expect((await post(`/v1/rollouts/${rolloutId}/approvals`, { approval: bob }, author)).status).toBe(403);
  });

  it('lets the target through once two distinct people approved', async () => {
    const bob = approval('bob@acme.example', approvers.get('bob@acme.example')!);
    expect((await post(`/v1/rollouts/${rolloutId}/approvals`, { approval: bob }, approverToken)).status).toBe(201);
    expect(await member('acme-1')).toMatchObject({ state: 'pending' });
    expect(await carries('acme-1')).toBe(true);
  });
});

describe('change windows', () => {
  it('lets the target through a closed window on an emergency override, itself a signed, audited approval', async () => {
    expect(await carries('berlin-1')).toBe(false);
    const override = approval('alice@acme.example', approvers.get('alice@acme.example')!, 'override-window');
    expect((await post(`/v1/rollouts/${rolloutId}/approvals`, { approval: override }, approverToken)).status).toBe(201);
    expect(await member('berlin-1')).toMatchObject({ state: 'pending' });
    expect(await carries('berlin-1')).toBe(true);
    const audit = await get('/v1/audit?action=rollout.override-window&limit=1');
    expect(audit.body.entries[0]).toMatchObject({ outcome: 'success', details: { approver: 'alice@acme.example' } });
  });
});
