import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  DriftPolicy,
  driftPolicyDigest,
  generateKeyPair,
  READS_DRIFT_POLICY_DIGEST,
  sha256,
  SignedEnvelope,
  signBundle,
  signPayload,
  type Envelope,
} from '@flotilla/protocol';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import { request } from 'undici';
import { serveConfig } from '../../../src/config.ts';
import { readKeyFile } from '../../../src/key-files.ts';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
let assigned: ProtocolAgent;
let unassigned: ProtocolAgent;

const admin = (method: string, path: string, body?: string, contentType?: string) =>
  call(hub.url, method, path, {
    token: hub.adminToken,
    ...(body === undefined ? {} : { body }),
    ...(contentType === undefined ? {} : { contentType }),
  });

const CUSTOM =
  'rules:\n  - id: hand-edits\n    match:\n      actor:\n        managers: ["kubectl-*"]\n    class: suspicious\n';

async function envelopeOf(agent: ProtocolAgent): Promise<SignedEnvelope> {
  const answer = await call(hub.url, 'GET', `/v1/targets/${agent.targetId}/envelope`, {
    token: await agent.accessToken(hub.now()),
  });
  expect(answer.status).toBe(200);
  return SignedEnvelope.parse(answer.body);
}

/** `GET /v1/drift-policies/{path}` as an agent, with its raw bytes. */
async function fetchPolicy(
  path: string,
  agent: ProtocolAgent,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const response = await request(`${hub.url}/v1/drift-policies/${path}`, {
    headers: { authorization: `Bearer ${await agent.accessToken(hub.now())}`, ...headers },
  });
  return { status: response.statusCode, text: await response.body.text(), headers: response.headers };
}

beforeAll(async () => {
  hub = await startTestHub();
  const releaseKey = generateKeyPair();
  const trusted = await admin(
    'POST',
    '/v1/trust-root/release-keys',
    JSON.stringify({ publicKey: releaseKey.publicKey, name: 'release' }),
  );
  expect(trusted.status).toBe(200);
  const bundle = signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'shop',
      version: '1.0.0',
      resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'shop' }, data: {} }],
    },
    [releaseKey],
  );
  expect((await admin('POST', '/v1/bundles', JSON.stringify(bundle))).status).toBe(201);
  const enroll = async (name: string): Promise<ProtocolAgent> => {
    const token = (await admin('POST', '/v1/enrollment-tokens', '{}')).body.token as string;
    const agent = new ProtocolAgent(hub);
    await agent.enroll(token, name, hub.now());
    return agent;
  };
  assigned = await enroll('assigned');
  unassigned = await enroll('unassigned');
  const assign = await admin('POST', `/v1/targets/${assigned.targetId}/assign`, '{"bundles":["shop@1.0.0"]}');
  expect(assign.status).toBe(200);
});

afterAll(async () => {
  await hub.close();
});

describe('envelopes name the drift policy by digest', () => {
  it('names the policy in force by its digest and does not carry it', async () => {
    const { envelope } = await envelopeOf(assigned);
    expect(envelope.driftPolicy).toBeUndefined();
    expect(envelope.driftPolicyDigest).toBe(driftPolicyDigest(defaultDriftPolicy));
  });

  it('serves the policy an envelope names: bytes that hash to the digest, cacheable for good', async () => {
    const digest = (await envelopeOf(assigned)).envelope.driftPolicyDigest!;
    const answer = await fetchPolicy(digest, assigned);
    expect(answer.status).toBe(200);
    expect(sha256(answer.text)).toBe(digest);
    expect(DriftPolicy.parse(JSON.parse(answer.text))).toEqual(defaultDriftPolicy);
    expect(answer.headers).toMatchObject({
      etag: `"${digest}"`,
      'cache-control': expect.stringContaining('immutable'),
    });
    expect((await fetchPolicy(digest, assigned, { 'if-none-match': `"${digest}"` })).status).toBe(304);
  });

  it("serves it to any enrolled agent, even one whose envelope does not name it: it is the fleet's, not a secret", async () => {
    const digest = driftPolicyDigest(defaultDriftPolicy);
    const answer = await fetchPolicy(digest, unassigned);
    expect(answer.status).toBe(200);
    expect(sha256(answer.text)).toBe(digest);
  });

  it('refuses a caller without a token', async () => {
    const answer = await call(hub.url, 'GET', `/v1/drift-policies/${driftPolicyDigest(defaultDriftPolicy)}`);
    expect(answer.status).toBe(401);
  });

  it('answers 404 DRIFT_POLICY_UNKNOWN for a digest no policy in force ever had', async () => {
    const answer = await fetchPolicy(`sha256:${'0'.repeat(64)}`, assigned);
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.text).error.code).toBe('DRIFT_POLICY_UNKNOWN');
  });

  it.each([
    ['a path that climbs', '..%2F..%2Fetc%2Fpasswd'],
    ['a digest with a climbing tail', `sha256:${'0'.repeat(64)}%2F..`],
    ['another algorithm', `sha512:${'0'.repeat(64)}`],
    ['upper-case hex', `sha256:${'A'.repeat(64)}`],
    ['a short digest', 'sha256:abc'],
    ['bad percent-encoding', '%E0%A4%A'],
  ])('answers 400 for %s', async (_name, path) => {
    const answer = await fetchPolicy(path, assigned);
    expect(answer.status).toBe(400);
    expect(['BAD_REQUEST', 'VALIDATION_FAILED']).toContain(JSON.parse(answer.text).error.code);
  });

  it('keeps serving a policy an older envelope names after another is set, and after going back', async () => {
    const before = (await envelopeOf(assigned)).envelope;
    const set = await admin('PUT', '/v1/drift-policy', CUSTOM, 'application/yaml');
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const after = (await envelopeOf(assigned)).envelope;
    expect(after.generation).toBe(before.generation + 1);
    expect(after.driftPolicyDigest).toBe(set.body.state.digest);
    expect(after.driftPolicyDigest).not.toBe(before.driftPolicyDigest);
    expect(sha256((await fetchPolicy(before.driftPolicyDigest!, assigned)).text)).toBe(before.driftPolicyDigest);
    expect((await admin('DELETE', '/v1/drift-policy')).status).toBe(200);
    expect(sha256((await fetchPolicy(after.driftPolicyDigest!, assigned)).text)).toBe(after.driftPolicyDigest);
  });
});

describe('an envelope an older hub signed with the policy inline', () => {
  it('starts no new generation when the policy in force is the same one, named by digest', async () => {
    const { envelope } = await envelopeOf(assigned);
    const { driftPolicyDigest: digest, ...rest } = envelope;
    expect(digest).toBe(driftPolicyDigest(defaultDriftPolicy));
    const older: Envelope = { ...rest, driftPolicy: defaultDriftPolicy };
    const hubKey = readKeyFile(join(hub.dataDir, 'keys', 'hub.json'));
    const db = hub.openDb({ writable: true });
    db.prepare('UPDATE targets SET envelope = ? WHERE id = ?').run(
      JSON.stringify({ envelope: older, signature: signPayload('envelope', older, hubKey) }),
      assigned.targetId,
    );
    db.close();
    const { tx, desired } = hub.opened.hub.services;
    expect(tx.run(() => desired.reissue(assigned.targetId))).toEqual({ changed: false, generation: older.generation });
  });
});

describe('a hub set to carry the drift policy inline, for agents older than digests', () => {
  it('signs envelopes that carry the policy whole and name no digest', async () => {
    const inline = await startTestHub({ envelopeDriftPolicy: 'inline' });
    try {
      const token = (await call(inline.url, 'POST', '/v1/enrollment-tokens', { token: inline.adminToken, body: '{}' }))
        .body.token as string;
      const agent = new ProtocolAgent(inline);
      await agent.enroll(token, 'old-agent', inline.now());
      const assign = await call(inline.url, 'POST', `/v1/targets/${agent.targetId}/assign`, {
        token: inline.adminToken,
        body: '{"bundles":[]}',
      });
      expect(assign.status, JSON.stringify(assign.body)).toBe(200);
      const answer = await call(inline.url, 'GET', `/v1/targets/${agent.targetId}/envelope`, {
        token: await agent.accessToken(inline.now()),
      });
      const { envelope } = SignedEnvelope.parse(answer.body);
      expect(envelope.driftPolicy).toEqual(defaultDriftPolicy);
      expect(envelope.driftPolicyDigest).toBeUndefined();
    } finally {
      await inline.close();
    }
  });
});

describe("a hub set to choose the drift policy's form agent by agent (auto), for a fleet part upgraded", () => {
  let auto: TestHub;
  beforeAll(async () => {
    auto = await startTestHub({ envelopeDriftPolicy: 'auto' });
  });
  afterAll(async () => {
    await auto.close();
  });

  async function enrolled(name: string): Promise<ProtocolAgent> {
    const token = (await call(auto.url, 'POST', '/v1/enrollment-tokens', { token: auto.adminToken, body: '{}' })).body
      .token as string;
    const agent = new ProtocolAgent(auto);
    await agent.enroll(token, name, auto.now());
    return agent;
  }

  /** The envelope of a new generation for the agent's target, as its agent fetches it. */
  async function nextEnvelope(agent: ProtocolAgent): Promise<Envelope> {
    const assign = await call(auto.url, 'POST', `/v1/targets/${agent.targetId}/assign`, {
      token: auto.adminToken,
      body: '{"bundles":[]}',
    });
    expect(assign.status, JSON.stringify(assign.body)).toBe(200);
    const answer = await call(auto.url, 'GET', `/v1/targets/${agent.targetId}/envelope`, {
      token: await agent.accessToken(auto.now()),
    });
    return SignedEnvelope.parse(answer.body).envelope;
  }

  it('names the policy by digest to an agent that reported it reads digests, and carries it whole to one that did not', async () => {
    const current = await enrolled('current-agent');
    await current.report(auto.now(), [], { agentVersion: '0.2.0', envelopeFeatures: [READS_DRIFT_POLICY_DIGEST] });
    const older = await enrolled('older-agent');
    await older.report(auto.now(), [], { agentVersion: '0.1.0' });
    const fresh = await enrolled('not-reported-yet');

    const named = await nextEnvelope(current);
    expect(named.driftPolicyDigest).toMatch(/^sha256:/);
    expect(named.driftPolicy).toBeUndefined();
    for (const agent of [older, fresh]) {
      const whole = await nextEnvelope(agent);
      expect(whole.driftPolicy).toEqual(defaultDriftPolicy);
      expect(whole.driftPolicyDigest).toBeUndefined();
    }
  });

  it('reads facts stored before the key was named, whatever they held there, as an agent that does not read digests', async () => {
    const agent = await enrolled('stored-before');
    for (const stored of [5, READS_DRIFT_POLICY_DIGEST, { digest: true }, null]) {
      const db = auto.openDb({ writable: true });
      db.prepare('UPDATE targets SET facts = ? WHERE id = ?').run(
        JSON.stringify({ envelopeFeatures: stored }),
        agent.targetId,
      );
      db.close();
      expect((await nextEnvelope(agent)).driftPolicy, JSON.stringify(stored)).toEqual(defaultDriftPolicy);
    }
  });

  it('carries it whole again once an agent reports it no longer reads digests (downgraded)', async () => {
    const agent = await enrolled('downgraded');
    await agent.report(auto.now(), [], { envelopeFeatures: [READS_DRIFT_POLICY_DIGEST] });
    expect((await nextEnvelope(agent)).driftPolicyDigest).toMatch(/^sha256:/);
    await agent.report(auto.now(), [], { agentVersion: '0.1.0' });
    expect((await nextEnvelope(agent)).driftPolicy).toEqual(defaultDriftPolicy);
  });
});

describe('the form envelopes carry the drift policy in', () => {
  it('is read from --envelope-drift-policy or FLOTILLA_ENVELOPE_DRIFT_POLICY, digest by default', () => {
    expect(serveConfig({}, {}).envelopeDriftPolicy).toBe('digest');
    expect(serveConfig({}, { FLOTILLA_ENVELOPE_DRIFT_POLICY: 'inline' }).envelopeDriftPolicy).toBe('inline');
    expect(
      serveConfig({ envelopeDriftPolicy: 'digest' }, { FLOTILLA_ENVELOPE_DRIFT_POLICY: 'inline' }).envelopeDriftPolicy,
    ).toBe('digest');
    expect(serveConfig({}, { FLOTILLA_ENVELOPE_DRIFT_POLICY: 'auto' }).envelopeDriftPolicy).toBe('auto');
    expect(() => serveConfig({}, { FLOTILLA_ENVELOPE_DRIFT_POLICY: 'both' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/digest, inline or auto/) }),
    );
  });
});
