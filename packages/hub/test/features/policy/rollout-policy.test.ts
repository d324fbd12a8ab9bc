import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, type KeyPair } from '@flotilla/protocol';
import { signApproval, type SignedApproval } from '@flotilla/protocol/policy';
import type { TestHub } from '../../support.ts';
import { startPolicyHub, type PolicyHub } from './policy-hub.ts';

let policyHub: PolicyHub;
let hub: TestHub;
const ids = new Map<string, string>();
let digest = '';
let rolloutId = '';
let author = '';
let approverToken = '';
let approvers = new Map<string, KeyPair>();

const post = (path: string, body: unknown, token?: string) => policyHub.post(path, body, token);
const get = (path: string) => policyHub.get(path);

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
  await policyHub.fetchEnvelope(name);
  const target = await get(`/v1/targets/${ids.get(name)}`);
  return target.body.desired.bundles.some((b: { digest: string }) => b.digest === digest);
}

beforeAll(async () => {
  policyHub = await startPolicyHub({
    placement: { workloadClass: 'payments' },
    targets: [
      ['acme-1', { tenant: 'acme' }],
      ['berlin-1', { region: 'eu-central-1', timezone: 'Europe/Berlin' }],
      ['plain-1', { compliance: 'none' }],
      ['free-1', { region: 'us-east-1' }],
    ],
  });
  ({ hub, digest } = policyHub);
  for (const [name, agent] of policyHub.agents) ids.set(name, agent.targetId);
  await policyHub.policy('acme-dual', 'tenant=acme', { approvals: { required: 2 } });
  await policyHub.policy('berlin-hours', 'region=eu-central-1', {
    windows: { allow: ['Mon-Fri 09:00-16:00'], emergencyOverride: { approvals: 1 } },
  });
  await policyHub.policy('no-payments', 'compliance=none', { placement: { deniedClasses: ['payments'] } });
  approvers = await policyHub.approvers(['alice@acme.example', 'bob@acme.example', 'carol@acme.example']);
  author = await policyHub.token('carol@acme.example', 'deployer');
  approverToken = await policyHub.token('approvals-desk', 'approver');
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
