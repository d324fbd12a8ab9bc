import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type KeyPair } from '@flotilla/protocol';
import { signApproval } from '@flotilla/protocol/policy';
import { call, type TestHub } from '../../support.ts';
import { startPolicyHub, type PolicyHub } from './policy-hub.ts';

let policyHub: PolicyHub;
let hub: TestHub;
let digest = '';
let rolloutId = '';
let viewerToken = '';
let approvers = new Map<string, KeyPair>();

const status = (token = hub.adminToken) => {
  hub.opened.hub.services.rollouts.controller.reconcile(rolloutId);
  return call(hub.url, 'GET', `/v1/rollouts/${rolloutId}/approval-status`, { token });
};

async function approve(who: string): Promise<void> {
  const approval = signApproval(
    {
      apiVersion: API_VERSION,
      kind: 'Approval',
      action: 'approve',
      rolloutId,
      releaseDigest: digest,
      approver: who,
      approvedAt: new Date(hub.now()).toISOString(),
    },
    approvers.get(who)!,
  );
  expect((await policyHub.post(`/v1/rollouts/${rolloutId}/approvals`, { approval })).status).toBe(201);
}

beforeAll(async () => {
  policyHub = await startPolicyHub({
    targets: [
      ['acme-1', { tenant: 'acme' }],
      ['acme-2', { tenant: 'acme' }],
      ['berlin-1', { region: 'eu-central-1', timezone: 'Europe/Berlin' }],
    ],
  });
  ({ hub, digest } = policyHub);
  await policyHub.policy('acme-dual', 'tenant=acme', { approvals: { required: 2, approvers: ['*@acme.example'] } });
  await policyHub.policy('unrelated-dual', 'tenant=other', { approvals: { required: 3 } });
  await policyHub.policy('berlin-hours', 'region=eu-central-1', {
    windows: { allow: ['Mon-Fri 09:00-16:00'], emergencyOverride: { approvals: 1 } },
  });
  approvers = await policyHub.approvers(['alice@acme.example', 'bob@acme.example']);
  const author = await policyHub.token('carol@acme.example', 'deployer');
  viewerToken = await policyHub.token('vera', 'viewer');
  const created = await policyHub.post('/v1/rollouts', { release: 'payments@1.0.0', selector: '' }, author);
  expect(created.status).toBe(201);
  rolloutId = created.body.rollout.id;
});
afterAll(async () => {
  await hub.close();
});

describe('a rollout’s approval status', () => {
  it('names the policies that hold it, how many approvals each needs, and the author who may not give one', async () => {
    const answer = await status(viewerToken);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      rolloutId,
      author: 'carol@acme.example',
      releaseDigest: digest,
      active: true,
      waiting: { approval: 2, window: 1 },
      approvals: [],
    });
    expect(answer.body.requirements).toEqual([
      {
        policy: 'acme-dual@1',
        action: 'approve',
        required: 2,
        approvers: ['*@acme.example'],
        counted: [],
        needed: 2,
        waiting: 2,
      },
      {
        policy: 'berlin-hours@1',
        action: 'override-window',
        required: 1,
        approvers: null,
        counted: [],
        needed: 1,
        waiting: 1,
      },
    ]);
  });

  it('counts an approval given and says how many are still needed', async () => {
    await approve('alice@acme.example');
    const answer = await status();
    expect(answer.body.requirements[0]).toMatchObject({
      policy: 'acme-dual@1',
      counted: [{ approver: 'alice@acme.example' }],
      needed: 1,
      waiting: 2,
    });
    expect(answer.body.approvals).toEqual([
      expect.objectContaining({ approver: 'alice@acme.example', action: 'approve', valid: true }),
    ]);
  });

  it('drops a rule once it is met, keeping the approvals listed', async () => {
    await approve('bob@acme.example');
    const answer = await status();
    expect(answer.body.waiting.approval).toBe(0);
    expect(answer.body.requirements.map((r: { policy: string }) => r.policy)).toEqual(['berlin-hours@1']);
    expect(answer.body.approvals).toHaveLength(2);
  });

  it('answers 404 for a rollout that does not exist', async () => {
    const answer = await call(hub.url, 'GET', '/v1/rollouts/ro_0123456789abcdef/approval-status', {
      token: hub.adminToken,
    });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('NOT_FOUND');
  });
});
