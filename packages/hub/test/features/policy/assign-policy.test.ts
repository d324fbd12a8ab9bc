import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type ProtocolAgent, type TestHub } from '../../support.ts';
import { startPolicyHub, type PolicyHub } from './policy-hub.ts';

let policyHub: PolicyHub;
let hub: TestHub;
let agents: ReadonlyMap<string, ProtocolAgent>;
let digest = '';
let deployer = '';

const post = (path: string, body: unknown, token?: string) => policyHub.post(path, body, token);
const get = (path: string) => policyHub.get(path);
const assign = (name: string) =>
  post(`/v1/targets/${agents.get(name)!.targetId}/assign`, { bundles: ['payments@1.0.0'] }, deployer);

async function desiredDigests(name: string): Promise<string[]> {
  const target = await get(`/v1/targets/${agents.get(name)!.targetId}`);
  return target.body.desired.bundles.map((b: { digest: string }) => b.digest);
}

async function envelopeOf(
  name: string,
): Promise<{ policy?: { releaseDigest: string; rules: { policy: string }[] }[] }> {
  const agent = agents.get(name)!;
  const answer = await call(hub.url, 'GET', `/v1/targets/${agent.targetId}/envelope`, {
    token: await agent.accessToken(hub.now()),
  });
  return answer.body.envelope;
}

async function lastBlock(): Promise<{ outcome: string; subjects: string[]; details: Record<string, unknown> }> {
  return (await get('/v1/audit?action=policy.block&limit=1')).body.entries[0];
}

beforeAll(async () => {
  policyHub = await startPolicyHub({
    placement: { workloadClass: 'payments' },
    targets: [
      ['acme-1', { tenant: 'acme' }],
      ['berlin-1', { region: 'eu-central-1', timezone: 'Europe/Berlin' }],
      ['plain-1', { compliance: 'none' }],
      ['both-1', { compliance: 'none', tenant: 'acme', tier: 'secure' }],
      ['secure-1', { tier: 'secure' }],
      ['free-1', { region: 'us-east-1' }],
    ],
  });
  ({ hub, digest, agents } = policyHub);
  await policyHub.policy('acme-dual', 'tenant=acme', { approvals: { required: 2 } });
  await policyHub.policy('berlin-hours', 'region=eu-central-1', { windows: { allow: ['Mon-Fri 09:00-16:00'] } });
  await policyHub.policy('no-payments', 'compliance=none', { placement: { deniedClasses: ['payments'] } });
  await policyHub.policy('two-signers', 'tier=secure', { artifacts: { minSignatures: 2 } });
  deployer = await policyHub.token('carol@acme.example', 'deployer');
});
afterAll(async () => {
  await hub.close();
});

describe('flotilla assign under policy', () => {
  it('assigns a release to a target no policy governs', async () => {
    expect((await assign('free-1')).status).toBe(200);
    expect(await desiredDigests('free-1')).toEqual([digest]);
  });

  it.each([
    ['placement', 'plain-1', 'no-payments@1', 'placement.deniedClasses'],
    ['an artifact rule', 'secure-1', 'two-signers@1', 'artifacts.minSignatures'],
    ['missing approvals', 'acme-1', 'acme-dual@1', 'approvals.required'],
    ['a closed window', 'berlin-1', 'berlin-hours@1', 'windows.allow'],
  ])('refuses an assignment %s blocks, changes nothing and audits the block', async (_, name, policy, rule) => {
    const answer = await assign(name);
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('POLICY_REFUSED');
    expect(answer.body.error.details.reasons).toEqual([
      expect.objectContaining({ policy, rule, release: 'payments@1.0.0' }),
    ]);
    expect(answer.body.error.message).toContain(`${policy} ${rule}`);
    expect(await desiredDigests(name)).toEqual([]);
    expect(await lastBlock()).toMatchObject({
      outcome: 'refused',
      subjects: [agents.get(name)!.targetId],
      details: { assign: true, release: 'payments@1.0.0', policies: [policy] },
    });
  });

  it('names every reason when several policies block one target', async () => {
    const answer = await assign('both-1');
    expect(answer.status).toBe(403);
    expect(answer.body.error.details.reasons.map((r: { policy: string }) => r.policy).sort()).toEqual([
      'acme-dual@1',
      'no-payments@1',
      'two-signers@1',
    ]);
  });

  it('assigns once the window is open, and the envelope carries the window for the agent to check again', async () => {
    hub.advance(Date.parse('2030-01-02T09:00:00Z') - hub.now());
    expect((await assign('berlin-1')).status).toBe(200);
    expect(await desiredDigests('berlin-1')).toEqual([digest]);
    const envelope = await envelopeOf('berlin-1');
    expect(envelope.policy).toEqual([
      expect.objectContaining({
        releaseDigest: digest,
        rules: [
          expect.objectContaining({
            policy: 'berlin-hours@1',
            windows: expect.objectContaining({ timezone: 'Europe/Berlin' }),
          }),
        ],
      }),
    ]);
  });

  it('re-assigning a release the target already runs brings nothing new, so policy has nothing to refuse', async () => {
    hub.advance(Date.parse('2030-01-02T20:00:00Z') - hub.now());
    expect((await assign('berlin-1')).status).toBe(200);
  });
});
