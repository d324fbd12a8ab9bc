import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  generateKeyPair,
  signBundle,
  type Envelope,
  type KeyPair,
  type Resource,
} from '@flotilla/protocol';
import { signApproval } from '@flotilla/protocol/policy';
import { manifestFileName } from '@flotilla/agent';
import { forgeEnvelope } from './fixtures/forge-envelope.ts';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { waitFor } from './fixtures/wait-for.ts';

// Hub and agents share one injected clock, set to a Wednesday at 08:59 in Berlin, a minute
// before the window opens (a smaller step than the agents' access tokens live).
let offset = Date.parse('2030-01-02T07:59:00Z') - Date.now();
const clock = (): number => Date.now() + offset;

let hub: HubFixture;
const agents = new Map<string, AgentFixture>();
const approvers = new Map<string, KeyPair>();
let rolloutId = '';
let digest = '';
let paymentsSize = 0;
const payments: Resource = configMap('payments', { version: '1' }, 'pay');

const admin = (method: string, path: string, body?: unknown) =>
  api(hub.url, method, path, { token: hub.adminToken, ...(body === undefined ? {} : { body }) });
const applied = (name: string, resource = payments) =>
  existsSync(join(agents.get(name)!.root, manifestFileName(resource)));

async function approve(who: string): Promise<void> {
  const approval = signApproval(
    {
      apiVersion: API_VERSION,
      kind: 'Approval',
      action: 'approve',
      rolloutId,
      releaseDigest: digest,
      approver: who,
      approvedAt: new Date(clock()).toISOString(),
    },
    approvers.get(who)!,
  );
  expect((await admin('POST', `/v1/rollouts/${rolloutId}/approvals`, { approval })).status).toBe(201);
}

/**
 * A compromised hub: its database and key in the attacker's hands. Writes the next generation
 * of a target's envelope as `change` makes it, signed with the hub's own key.
 */
async function tamper(name: string, change: (envelope: Envelope) => Envelope): Promise<number> {
  const id = agents.get(name)!.targetId;
  const envelope = await forgeEnvelope(hub, id, (stored) => {
    const now = clock();
    const current: Envelope = stored ?? {
      apiVersion: API_VERSION,
      kind: 'Envelope',
      targetId: id,
      generation: 0,
      bundles: [],
      holds: [],
      trustRootVersion: hub.hub.services.trust.trustRoot.version,
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 3_600_000).toISOString(),
    };
    return change({ ...current, generation: current.generation + 1 });
  });
  return envelope.generation;
}

/** The agent's refusal of `generation`, as the audit trail records its stalled report. */
async function refusal(name: string, generation: number): Promise<{ reason: string; message: string }> {
  const id = agents.get(name)!.targetId;
  return waitFor(`${name} to refuse generation ${generation}`, async () => {
    const target = await admin('GET', `/v1/targets/${id}`);
    if (target.body.desired.generation !== generation || target.body.observed?.phase !== 'stalled') return false;
    const audit = await admin('GET', `/v1/audit?action=report.stalled&target=${id}&limit=1`);
    const [entry] = audit.body.entries;
    return entry?.reason === 'POLICY_REFUSED' && { reason: entry.reason, message: entry.details.message };
  });
}

beforeAll(async () => {
  hub = await startHub({ clock });
  const bundle = signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'payments',
      version: '1.0.0',
      resources: [payments],
      placement: { workloadClass: 'payments' },
    },
    [hub.releaseKey],
  );
  digest = bundle.digest;
  paymentsSize = Buffer.byteLength(JSON.stringify(bundle));
  expect((await admin('POST', '/v1/bundles', bundle)).status).toBe(201);
  const token = await hub.enrollmentToken(5);
  for (const [name, properties] of [
    ['acme', { tenant: 'acme' }],
    ['berlin', { region: 'eu-central-1', timezone: 'Europe/Berlin' }],
    ['plain', { compliance: 'none' }],
    ['free', { region: 'us-east-1' }],
    ['tokyo', { region: 'ap-northeast-1', timezone: 'Asia/Tokyo' }],
  ] as const) {
    const agent = await startAgent(hub.url, token, { name, clock });
    agents.set(name, agent);
    await admin('PATCH', `/v1/targets/${agent.targetId}/properties`, { set: properties });
  }
  const policy = (name: string, scope: string, spec: Record<string, unknown>) =>
    admin('POST', '/v1/policies', {
      document: { apiVersion: 'flotilla.io/v1', kind: 'Policy', metadata: { name }, spec: { scope, ...spec } },
    });
  await policy('acme-dual', 'tenant=acme', { approvals: { required: 2 } });
  await policy('berlin-hours', 'region=eu-central-1', { windows: { allow: ['Mon-Fri 09:00-16:00'] } });
  await policy('tokyo-hours', 'region=ap-northeast-1', { windows: { allow: ['Mon-Fri 09:00-16:00'] } });
  await policy('no-payments', 'compliance=none', { placement: { deniedClasses: ['payments'] } });
  for (const who of ['alice@acme.example', 'bob@acme.example']) {
    const key = generateKeyPair();
    approvers.set(who, key);
    await admin('POST', '/v1/trust-root/approver-keys', { publicKey: key.publicKey, identity: who });
  }
  const author = await admin('POST', '/v1/tokens', { name: 'carol@acme.example', role: 'deployer' });
  const created = await api(hub.url, 'POST', '/v1/rollouts', {
    token: author.body.token,
    body: { release: 'payments@1.0.0', selector: '' },
  });
  expect(created.status).toBe(201);
  rolloutId = created.body.rollout.id;
});

afterAll(async () => {
  await Promise.all([...agents.values()].map((a) => a.agent.stop()));
  await hub.dispose();
});

describe('a rollout across three policy scopes, with real agents', () => {
  it('reaches the target no policy holds, and none of the others yet', async () => {
    await waitFor('free to apply payments', () => applied('free'));
    expect(applied('acme') || applied('berlin') || applied('plain')).toBe(false);
  });

  it('reaches the dual-approval target once two people approved, the agent checking the signed approvals', async () => {
    await approve('alice@acme.example');
    expect(applied('acme')).toBe(false);
    await approve('bob@acme.example');
    await waitFor('acme to apply payments', () => applied('acme'));
  });

  it('reaches the target behind a change window when it opens', async () => {
    offset = Date.parse('2030-01-02T08:00:01Z') - Date.now();
    await waitFor('berlin to apply payments', () => applied('berlin'));
  });

  it('never reaches the target placement excludes', async () => {
    const view = await admin('GET', `/v1/rollouts/${rolloutId}`);
    const plain = view.body.members.find((m: { name: string }) => m.name === 'plain');
    expect(plain.reason).toMatch(/^excluded by policy: no-payments@1/);
    expect(applied('plain')).toBe(false);
  });
});

describe('an agent refuses what a compromised hub sends, naming the rule, and applies nothing', () => {
  const second = configMap('payments-extra', { version: '2' }, 'pay');
  let extra = '';
  let extraSize = 0;
  beforeAll(async () => {
    const bundle = signBundle(
      { apiVersion: API_VERSION, kind: 'Bundle', name: 'payments-extra', version: '1.0.0', resources: [second] },
      [hub.releaseKey],
    );
    extra = bundle.digest;
    extraSize = Buffer.byteLength(JSON.stringify(bundle));
    expect((await admin('POST', '/v1/bundles', bundle)).status).toBe(201);
  });

  /** The target's envelope with one more release, under its policy section as `section` changes it. */
  const withExtra =
    (section: (s: NonNullable<Envelope['policy']>[number]) => NonNullable<Envelope['policy']>[number]) =>
    (envelope: Envelope): Envelope => ({
      ...envelope,
      bundles: [...envelope.bundles, { name: 'payments-extra', version: '1.0.0', digest: extra, size: extraSize }],
      policy: envelope.policy!.map((s) => section({ ...s, releaseDigest: extra })),
    });

  it('refuses a change whose approvals were removed', async () => {
    const generation = await tamper(
      'acme',
      withExtra((s) => ({ ...s, approvals: [] })),
    );
    const error = await refusal('acme', generation);
    expect(error.message).toMatch(/policy acme-dual@1 refused .*approvals\.required/);
    expect(applied('acme', second)).toBe(false);
  });

  it('refuses a change delivered outside its window', async () => {
    // 17:00 in Tokyo: the hub holds the target; a late (or lying) delivery brings it anyway.
    const generation = await tamper('tokyo', (envelope) => ({
      ...envelope,
      bundles: [...envelope.bundles, { name: 'payments', version: '1.0.0', digest, size: paymentsSize }],
      policy: [
        {
          rolloutId,
          author: 'carol@acme.example',
          releaseDigest: digest,
          rules: [
            {
              policy: 'tokyo-hours@1',
              digest: `sha256:${'0'.repeat(64)}`,
              windows: { timezone: 'Asia/Tokyo', allow: ['Mon-Fri 09:00-16:00'] },
            },
          ],
          approvals: [],
          attestations: [],
        },
      ],
    }));
    const error = await refusal('tokyo', generation);
    expect(error.message).toMatch(/policy tokyo-hours@1 refused .*windows/);
    expect(applied('tokyo')).toBe(false);
  });

  it('refuses a release with fewer release signatures than the carried artifact rules require', async () => {
    const generation = await tamper('free', (envelope) => ({
      ...envelope,
      bundles: [...envelope.bundles, { name: 'payments-extra', version: '1.0.0', digest: extra, size: extraSize }],
      policy: [
        {
          rolloutId,
          author: 'carol@acme.example',
          releaseDigest: extra,
          rules: [{ policy: 'pci@1', digest: `sha256:${'0'.repeat(64)}`, artifacts: { minSignatures: 2 } }],
          approvals: [],
          attestations: [],
        },
      ],
    }));
    const error = await refusal('free', generation);
    expect(error.message).toMatch(/policy pci@1 refused .*artifacts\.minSignatures/);
    expect(applied('free', second)).toBe(false);
  });
});
