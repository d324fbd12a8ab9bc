import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, signBundle } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
const ids = new Map<string, string>();
// A Wednesday, 04:00 in Berlin: before the 09:00-16:00 window opens.
const WEDNESDAY = Date.parse('2030-01-02T03:00:00Z');

const post = (path: string, body: unknown, token = hub.adminToken) =>
  call(hub.url, 'POST', path, { token, body: JSON.stringify(body) });

function policy(name: string, scope: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'flotilla.io/v1', kind: 'Policy', metadata: { name }, spec: { scope, ...spec } };
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
      resources: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'api', namespace: 'pay' },
          spec: { template: { spec: { containers: [{ name: 'api', image: 'ghcr.io/acme/api:1.0' }] } } },
        },
      ],
      placement: { workloadClass: 'payments', capabilities: ['pci-dss'] },
    },
    [release],
  );
  expect((await post('/v1/bundles', bundle)).status).toBe(201);
  const enroll = (await post('/v1/enrollment-tokens', { maxUses: 5, labels: {} })).body.token as string;
  const fleet: [string, Record<string, unknown>][] = [
    ['acme-1', { tenant: 'acme', region: 'eu-west-1', 'capability.pci-dss': true }],
    ['berlin-1', { region: 'eu-central-1', timezone: 'Europe/Berlin', 'capability.pci-dss': true }],
    ['plain-1', { region: 'us-east-1', compliance: 'none', 'capability.pci-dss': true }],
    ['pci-1', { region: 'us-west-2', compliance: 'pci', 'capability.pci-dss': true }],
    ['pci-2', { region: 'us-west-2', compliance: 'pci' }],
  ];
  for (const [name, properties] of fleet) {
    const agent = new ProtocolAgent(hub);
    await agent.enroll(enroll, name, hub.now());
    await call(hub.url, 'PATCH', `/v1/targets/${agent.targetId}/properties`, {
      token: hub.adminToken,
      body: JSON.stringify({ set: properties }),
    });
    ids.set(name, agent.targetId);
  }
  for (const document of [
    policy('acme-dual', 'tenant=acme', { approvals: { required: 2 } }),
    policy('berlin-hours', 'region=eu-central-1', { windows: { allow: ['Mon-Fri 09:00-16:00'] } }),
    policy('no-payments', 'compliance=none', { placement: { deniedClasses: ['payments'] } }),
    policy('pci-digests', 'compliance=pci', { artifacts: { requireDigests: true } }),
  ])
    expect((await post('/v1/policies', { document })).status).toBe(201);
});
afterAll(async () => {
  await hub.close();
});

function byName(plan: { targets: { name: string }[] }): Record<string, any> {
  return Object.fromEntries(plan.targets.map((target) => [target.name, target]));
}

describe('rollout plan', () => {
  it('explains each target: included, or blocked with every reason and the policy that said so', async () => {
    const answer = await post('/v1/rollouts/plan', { release: 'payments@1.0.0', selector: '' });
    expect(answer.status).toBe(200);
    const targets = byName(answer.body);
    expect(answer.body.totals).toEqual({ selected: 5, included: 0, blocked: 5 });
    expect(targets['acme-1']).toMatchObject({
      included: false,
      policies: ['acme-dual@1'],
      reasons: [{ kind: 'approval', rule: 'approvals.required', policy: 'acme-dual@1' }],
    });
    expect(targets['berlin-1']).toMatchObject({
      policies: ['berlin-hours@1'],
      reasons: [{ kind: 'window', policy: 'berlin-hours@1', nextOpening: '2030-01-02T08:00:00.000Z' }],
    });
    expect(targets['plain-1'].reasons).toEqual([
      expect.objectContaining({ kind: 'placement', rule: 'placement.deniedClasses', policy: 'no-payments@1' }),
    ]);
    expect(targets['pci-1'].reasons).toEqual([
      expect.objectContaining({ kind: 'artifact', rule: 'artifacts.requireDigests', policy: 'pci-digests@1' }),
    ]);
    expect(targets['pci-2'].reasons.map((r: { kind: string }) => r.kind)).toEqual(['placement', 'artifact']);
  });

  it('records every blocked target in the audit trail with its reasons', async () => {
    await post('/v1/rollouts/plan', { release: 'payments@1.0.0', selector: 'tenant=acme' });
    const audit = await call(hub.url, 'GET', '/v1/audit?action=policy.block&limit=1', { token: hub.adminToken });
    expect(audit.body.entries[0]).toMatchObject({
      outcome: 'refused',
      subjects: [ids.get('acme-1')],
      details: { policies: ['acme-dual@1'], reasons: [{ kind: 'approval', policy: 'acme-dual@1' }] },
    });
  });

  it('picks targets from requirements, leaving out those a policy bars and saying why', async () => {
    const answer = await post('/v1/rollouts/plan', {
      release: 'payments@1.0.0',
      place: 'class=payments, capability=pci-dss, per-region=1',
    });
    const targets = byName(answer.body);
    expect(targets['plain-1'].placement).toMatch(/^not chosen/);
    expect(targets['pci-2'].placement).toMatch(/^not chosen: .*pci-dss/);
    expect(targets['pci-1'].placement).toMatch(/^chosen/);
    expect(answer.body.selector).toMatch(/^id in \(/);
    expect(answer.body.selector).not.toContain(ids.get('plain-1'));
  });

  it('narrows a scoped token to its scope', async () => {
    const token = (await post('/v1/tokens', { name: 'us-viewer', role: 'viewer', scope: 'region=us-*' })).body.token;
    const answer = await post('/v1/rollouts/plan', { release: 'payments@1.0.0', selector: '' }, token);
    expect(answer.body.targets.map((t: { name: string }) => t.name).sort()).toEqual(['pci-1', 'pci-2', 'plain-1']);
  });
});
