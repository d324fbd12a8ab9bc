import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  generateKeyPair,
  SignedEnvelope,
  signBundle,
  signPayload,
  SignedTrustRoot,
  verifyEnvelopeHeader,
  type DriftItemReport,
  type DriftReportSection,
  type Envelope,
  type Report,
  type Resource,
  type Target,
} from '@flotilla/protocol';
import { defaultDriftPolicy, driftItemId } from '@flotilla/protocol/drift';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
const agents = new Map<string, ProtocolAgent>();
const seqs = new Map<string, number>();

const settings: Resource = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings', namespace: 'shop' },
  data: { mode: 'fast' },
};
const web: Resource = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'app', image: 'registry.example/web:1.4.2' }] },
    },
  },
};

const IMAGE_PATH = 'spec.template.spec.containers[name=app].image';
const imageSwap: DriftItemReport = {
  resourceKey: 'Deployment.apps/shop/web',
  kind: 'Deployment',
  path: IMAGE_PATH,
  change: 'modified',
  desired: '"registry.example/web:1.4.2"',
  observed: '"evil.example/miner:latest"',
  actor: { manager: 'kubectl-set', operation: 'Update', basis: 'field-owner' },
  since: '2025-03-01T13:05:10Z',
  class: 'dangerous',
  action: 'revert',
  ruleId: 'image-not-allowed',
  reason: 'image is neither the desired one nor from an allowed registry',
  detectors: ['image-not-allowed'],
};
const modeEdit: DriftItemReport = {
  resourceKey: 'ConfigMap/shop/settings',
  kind: 'ConfigMap',
  path: 'data.mode',
  change: 'modified',
  desired: '"fast"',
  observed: '"slow"',
  actor: { manager: 'kubectl-edit', operation: 'Update', basis: 'field-owner' },
  class: 'suspicious',
  action: 'alert',
  ruleId: 'human-change',
  reason: 'changed by hand',
  detectors: [],
};

function section(items: DriftItemReport[]): DriftReportSection {
  const counts = { acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 };
  for (const item of items) counts[item.class]++;
  return { items, omitted: 0, counts };
}

const id = (name: string): string => agents.get(name)!.targetId;

/** Sends a signed report with a drift section, as an agent does; `seq` defaults to the next one. */
async function report(name: string, drift: DriftReportSection | undefined, seq?: number): Promise<number> {
  const agent = agents.get(name)!;
  const next = seq ?? (seqs.get(name) ?? 0) + 1;
  seqs.set(name, Math.max(next, seqs.get(name) ?? 0));
  const body: Report = {
    apiVersion: API_VERSION,
    kind: 'Report',
    targetId: agent.targetId,
    seq: next,
    generation: 1,
    phase: 'applied',
    health: 'healthy',
    bundles: [],
    resources: [],
    facts: {},
    ...(drift === undefined ? {} : { drift }),
    observedAt: new Date(hub.now()).toISOString(),
  };
  const answer = await call(hub.url, 'POST', `/v1/targets/${agent.targetId}/reports`, {
    token: await agent.accessToken(hub.now()),
    body: JSON.stringify({ report: body, signature: signPayload('report', body, agent.key) }),
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return next;
}

/** The target's envelope as its agent fetches it, checked against the hub's trust root. */
async function envelope(name: string): Promise<Envelope> {
  const agent = agents.get(name)!;
  const answer = await call(hub.url, 'GET', `/v1/targets/${agent.targetId}/envelope`, {
    token: await agent.accessToken(hub.now()),
  });
  expect(answer.status).toBe(200);
  const trustRoot = SignedTrustRoot.parse((await call(hub.url, 'GET', '/v1/trust-root')).body).trustRoot;
  return verifyEnvelopeHeader(SignedEnvelope.parse(answer.body), {
    trustRoot,
    targetId: agent.targetId,
    lastGeneration: 0,
    now: new Date(hub.now()),
  });
}

/** The drift policy an envelope names, as its agent fetches it. */
async function policyOf(envelope: Envelope): Promise<unknown> {
  const answer = await admin('GET', `/v1/drift-policies/${envelope.driftPolicyDigest}`);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body;
}

async function select(q: string): Promise<string[]> {
  const answer = await call(hub.url, 'GET', `/v1/targets?q=${encodeURIComponent(q)}`, { token: hub.adminToken });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return (answer.body.items as Target[]).map((t) => t.name).sort();
}

async function audit(action: string, target?: string): Promise<any[]> {
  const answer = await call(
    hub.url,
    'GET',
    `/v1/audit?action=${action}${target === undefined ? '' : `&target=${id(target)}`}&limit=100`,
    { token: hub.adminToken },
  );
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body.entries;
}

const admin = (method: string, path: string, body?: unknown, contentType?: string) =>
  call(hub.url, method, path, {
    token: hub.adminToken,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    ...(contentType === undefined ? {} : { contentType }),
  });

beforeAll(async () => {
  hub = await startTestHub();
  const releaseKey = generateKeyPair();
  expect(
    (await admin('POST', '/v1/trust-root/release-keys', { publicKey: releaseKey.publicKey, name: 'release' })).status,
  ).toBe(200);
  expect(
    (
      await admin(
        'POST',
        '/v1/bundles',
        signBundle(
          { apiVersion: API_VERSION, kind: 'Bundle', name: 'shop', version: '1.0.0', resources: [settings, web] },
          [releaseKey],
        ),
      )
    ).status,
  ).toBe(201);
  for (const [name, region] of [
    ['eu-1', 'eu'],
    ['eu-2', 'eu'],
    ['us-1', 'us'],
  ] as const) {
    const token = (await admin('POST', '/v1/enrollment-tokens', { labels: { region } })).body.token as string;
    const agent = new ProtocolAgent(hub);
    await agent.enroll(token, name, hub.now());
    agents.set(name, agent);
    expect((await admin('POST', `/v1/targets/${agent.targetId}/assign`, { bundles: ['shop@1.0.0'] })).status).toBe(200);
  }
});

afterAll(async () => {
  await hub.close();
});

describe('the drift policy in envelopes', () => {
  it('names the default policy and carries no holds in the signed envelope', async () => {
    const signed = await envelope('eu-1');
    expect(await policyOf(signed)).toEqual(defaultDriftPolicy);
    expect(signed.holds).toEqual([]);
    expect(signed.revert).toBeUndefined();
    expect((await admin('GET', '/v1/drift-policy')).body).toMatchObject({
      source: 'default',
      policy: { settings: { gracePeriodSeconds: 120 } },
    });
  });

  it.each([
    ['a rule id with spaces', 'rules:\n  - id: Bad Id\n    match: {}\n    class: suspicious\n', 'rules.0.id'],
    [
      'a condition it does not know',
      'rules:\n  - id: owner\n    match: { owner: atlas }\n    class: suspicious\n',
      'rules.0.match',
    ],
    [
      'a grace period over a day',
      'settings:\n  gracePeriodSeconds: 100000\nrules: []\n',
      'settings.gracePeriodSeconds',
    ],
  ])('refuses %s with 400 and the path of the problem', async (_name, yaml, path) => {
    const answer = await admin('PUT', '/v1/drift-policy', yaml, 'application/yaml');
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('DRIFT_POLICY_INVALID');
    expect(answer.body.error.details.issues.map((issue: { path: string }) => issue.path)).toContain(path);
  });

  it('refuses a policy that is neither JSON nor YAML, or does not parse', async () => {
    expect(
      (await admin('PUT', '/v1/drift-policy', 'rules=[]', 'application/x-www-form-urlencoded')).body.error.code,
    ).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect((await admin('PUT', '/v1/drift-policy', '{"rules": [', 'application/json')).body.error.code).toBe(
      'BAD_REQUEST',
    );
    expect((await call(hub.url, 'PUT', '/v1/drift-policy', { body: '{"rules":[]}' })).status).toBe(401);
  });

  it('sets a policy from YAML: defaults filled in, audited, and shipped to every target in a new generation', async () => {
    const before = await envelope('us-1');
    const changedBefore = (await admin('GET', `/v1/targets/${id('us-1')}`)).body.lastChangedAt;
    const yaml =
      'settings:\n  gracePeriodSeconds: 300\nrules:\n  - id: hand-edits\n    match:\n      actor:\n        managers: ["kubectl-*"]\n    class: suspicious\n';
    const answer = await admin('PUT', '/v1/drift-policy', yaml, 'application/yaml');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.reissued).toBe(3);
    expect(answer.body.state).toMatchObject({ source: 'custom', setBy: { kind: 'user', id: 'admin' } });
    const after = await envelope('us-1');
    expect(after.generation).toBe(before.generation + 1);
    expect(after.bundles).toEqual(before.bundles);
    // A fleet-wide policy is not a change anyone made to this target.
    expect((await admin('GET', `/v1/targets/${id('us-1')}`)).body.lastChangedAt).toBe(changedBefore);
    expect(await policyOf(after)).toEqual({
      rules: [{ id: 'hand-edits', match: { actor: { managers: ['kubectl-*'] } }, class: 'suspicious' }],
      settings: { gracePeriodSeconds: 300, allowedRegistries: [], honorHoldAnnotation: true },
    });
    const [entry] = await audit('drift-policy.set');
    expect(entry).toMatchObject({
      actor: { kind: 'user', id: 'admin' },
      outcome: 'success',
      details: { source: 'custom', rules: ['hand-edits'], targets: 3 },
    });
    expect(entry.subjects.sort()).toEqual([id('eu-1'), id('eu-2'), id('us-1')].sort());

    // Setting the same policy again changes no envelope.
    expect((await admin('PUT', '/v1/drift-policy', yaml, 'application/yaml')).body.reissued).toBe(0);
    // Back to the default.
    const reset = await admin('DELETE', '/v1/drift-policy');
    expect(reset.body).toMatchObject({ reissued: 3, state: { source: 'default' } });
    expect(await policyOf(await envelope('us-1'))).toEqual(defaultDriftPolicy);
  });
});

describe('incidents hold the targets their selector matches', () => {
  it('opens an incident: matching envelopes carry the hold, others do not', async () => {
    const before = await envelope('eu-1');
    const answer = await admin('POST', '/v1/incidents', {
      id: 'INC-42',
      selector: 'region = eu',
      reason: 'payments outage',
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body.incident).toMatchObject({
      id: 'INC-42',
      selector: 'region=eu',
      state: 'open',
      openedBy: { id: 'admin' },
    });
    expect(answer.body.targets.sort()).toEqual([id('eu-1'), id('eu-2')].sort());
    const held = await envelope('eu-1');
    expect(held.generation).toBe(before.generation + 1);
    expect(held.holds).toEqual([{ id: 'INC-42', reason: 'payments outage', since: expect.any(String) }]);
    expect((await envelope('us-1')).holds).toEqual([]);
    expect((await admin('GET', '/v1/incidents')).body.items.map((i: { id: string }) => i.id)).toEqual(['INC-42']);
    const [entry] = await audit('incident.open');
    expect(entry).toMatchObject({
      reason: 'payments outage',
      details: { incident: 'INC-42', selector: 'region=eu', targets: 2 },
    });
  });

  it('refuses a second open, and selectors that do not parse or name nothing', async () => {
    expect(
      (await admin('POST', '/v1/incidents', { id: 'INC-42', selector: 'region=eu', reason: 'again' })).body.error.code,
    ).toBe('CONFLICT');
    expect(
      (await admin('POST', '/v1/incidents', { id: 'INC-43', selector: 'region in eu', reason: 'x' })).body.error.code,
    ).toBe('QUERY_SYNTAX');
    expect(
      (await admin('POST', '/v1/incidents', { id: 'INC-43', selector: 'regoin=eu', reason: 'x' })).body.error.code,
    ).toBe('QUERY_UNKNOWN_FIELD');
    expect(
      (await admin('POST', '/v1/incidents', { id: 'INC 43', selector: 'region=eu', reason: 'x' })).body.error.code,
    ).toBe('VALIDATION_FAILED');
  });

  it('holds a target that comes to match the selector later', async () => {
    expect((await admin('PATCH', `/v1/targets/${id('us-1')}/labels`, { set: { region: 'eu' } })).status).toBe(200);
    expect((await envelope('us-1')).holds.map((h) => h.id)).toEqual(['INC-42']);
    expect((await admin('PATCH', `/v1/targets/${id('us-1')}/labels`, { set: { region: 'us' } })).status).toBe(200);
    expect((await envelope('us-1')).holds).toEqual([]);
  });

  it('closes the incident: every held envelope is signed again without the hold', async () => {
    const answer = await admin('POST', '/v1/incidents/INC-42/close', { reason: 'resolved' });
    expect(answer.status).toBe(200);
    expect(answer.body.incident).toMatchObject({ state: 'closed', closeReason: 'resolved' });
    expect(answer.body.targets.sort()).toEqual([id('eu-1'), id('eu-2')].sort());
    expect((await envelope('eu-1')).holds).toEqual([]);
    expect((await admin('POST', '/v1/incidents/INC-42/close')).body.error.code).toBe('CONFLICT');
    expect((await admin('POST', '/v1/incidents/INC-404/close')).body.error.code).toBe('NOT_FOUND');
    const history = (await admin('GET', `/v1/targets/${id('eu-1')}/history`)).body.entries.map(
      (e: { action: string }) => e.action,
    );
    expect(history).toEqual(expect.arrayContaining(['incident.open', 'incident.close']));
    expect((await admin('GET', '/v1/incidents?state=all')).body.items).toHaveLength(1);
  });
});

describe('drift reported by agents', () => {
  it('keeps the latest drift per target and makes it queryable', async () => {
    await report('eu-1', section([imageSwap, modeEdit]));
    await report('eu-2', section([]));
    const target = (await admin('GET', `/v1/targets/${id('eu-1')}`)).body as Target;
    expect(target.drift).toMatchObject({
      counts: { dangerous: 1, suspicious: 1, acceptable: 0, transient: 0 },
      intentional: 0,
      seq: 1,
    });
    expect(await select('drift=dangerous')).toEqual(['eu-1']);
    expect(await select('drift in (suspicious, dangerous)')).toEqual(['eu-1']);
    expect(await select('!drift')).toEqual(['eu-2', 'us-1']);
    expect((await admin('GET', `/v1/targets?q=${encodeURIComponent('drift=bad')}`)).body.error.code).toBe('QUERY_TYPE');
    expect((await admin('GET', '/v1/targets/facets')).body.drift).toEqual({ dangerous: 1, suspicious: 1 });
  });

  it('lists drift across the fleet with ids, most severe first, filtered by query and class', async () => {
    const all = await admin('GET', '/v1/drift');
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ total: 2, targets: 1 });
    expect(all.body.items.map((i: { id: string; class: string; target: string }) => [i.id, i.class, i.target])).toEqual(
      [
        [driftItemId(imageSwap.resourceKey, IMAGE_PATH), 'dangerous', 'eu-1'],
        [driftItemId(modeEdit.resourceKey, 'data.mode'), 'suspicious', 'eu-1'],
      ],
    );
    expect((await admin('GET', '/v1/drift?class=suspicious')).body.items.map((i: { path: string }) => i.path)).toEqual([
      'data.mode',
    ]);
    expect((await admin('GET', `/v1/drift?q=${encodeURIComponent('region=us')}`)).body.total).toBe(0);
    expect((await admin('GET', '/v1/drift?class=evil')).body.error.code).toBe('VALIDATION_FAILED');
    const view = (await admin('GET', `/v1/targets/${id('eu-1')}/drift`)).body;
    expect(view).toMatchObject({
      targetId: id('eu-1'),
      target: 'eu-1',
      seq: 1,
      counts: { dangerous: 1, suspicious: 1 },
    });
  });

  it('writes drift history when the set changes, not on every report', async () => {
    expect(await audit('drift.observed', 'eu-1')).toHaveLength(1);
    expect(await audit('drift.observed', 'eu-2')).toHaveLength(0);
    await report('eu-1', section([imageSwap, modeEdit]));
    expect(await audit('drift.observed', 'eu-1')).toHaveLength(1);
    await report('eu-1', section([modeEdit]));
    const [latest] = await audit('drift.observed', 'eu-1');
    expect(latest).toMatchObject({
      actor: { kind: 'agent', id: id('eu-1') },
      details: { counts: { dangerous: 0, suspicious: 1 }, appeared: [], cleared: [{ path: IMAGE_PATH }] },
    });
    // A report forwarded late from a journal does not replace the newer drift.
    await report('eu-1', section([imageSwap, modeEdit]), 2_000);
    await report('eu-1', section([]), 1_999);
    expect((await admin('GET', `/v1/targets/${id('eu-1')}`)).body.drift).toMatchObject({
      seq: 2_000,
      counts: { dangerous: 1 },
    });
  });

  it('asks the agent to revert chosen items in a new generation, audited, once', async () => {
    const before = await envelope('eu-1');
    const item = driftItemId(modeEdit.resourceKey, 'data.mode');
    const answer = await admin('POST', `/v1/targets/${id('eu-1')}/drift/revert`, { items: [item] });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.generation).toBe(before.generation + 1);
    const signed = await envelope('eu-1');
    expect(signed.revert).toEqual([{ resourceKey: 'ConfigMap/shop/settings', path: 'data.mode' }]);
    const [entry] = await audit('drift.revert', 'eu-1');
    expect(entry).toMatchObject({
      actor: { id: 'admin' },
      details: { generation: signed.generation, items: [{ id: item, class: 'suspicious' }] },
    });
    expect(
      (await admin('POST', `/v1/targets/${id('eu-1')}/drift/revert`, { items: ['0123456789ab'] })).body.error.code,
    ).toBe('NOT_FOUND');
    expect((await admin('POST', `/v1/targets/${id('eu-1')}/drift/revert`, { items: ['nope'] })).body.error.code).toBe(
      'VALIDATION_FAILED',
    );
    // The next change of desired state does not carry the request on.
    await admin('POST', `/v1/targets/${id('eu-1')}/assign`, { bundles: ['shop@1.0.0'] });
    expect((await envelope('eu-1')).revert).toBeUndefined();
  });
});
