import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, KeyPair, sha256, signPayload } from '@flotilla/protocol';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { waitFor } from './fixtures/wait-for.ts';

/*
 * A real hub attacked through its API with credentials of real agents: the refusals must be
 * right, and each must leave an audit entry.
 */

// The identity point (y = 1): a key of small order, which "verifies" signatures anyone can make.
const IDENTITY_POINT = Buffer.from([1, ...new Array<number>(31).fill(0)]).toString('base64url');

interface AuditEntry {
  action: string;
  outcome: string;
  reason?: string;
  subjects: string[];
  actor: { kind: string; id: string };
  details?: Record<string, unknown>;
}

let hub: HubFixture;
let a: AgentFixture;
let b: AgentFixture;

beforeAll(async () => {
  hub = await startHub();
  const token = await hub.enrollmentToken(3);
  [a, b] = await Promise.all([startAgent(hub.url, token), startAgent(hub.url, token)]);
});

afterAll(async () => {
  await Promise.all([a.agent.stop(), b.agent.stop()]);
  await hub.dispose();
});

async function assertion(agent: AgentFixture, audience: (aud: string) => string | string[]): Promise<string> {
  const key = KeyPair.parse(JSON.parse(readFileSync(join(agent.stateDir, 'agent-key.json'), 'utf8')));
  const enrollment = JSON.parse(readFileSync(join(agent.stateDir, 'enrollment.json'), 'utf8')) as {
    audience: string;
  };
  const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: key.publicKey, d: key.seed }, 'EdDSA');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(agent.targetId)
    .setIssuer(agent.targetId)
    .setAudience(audience(enrollment.audience))
    .setIssuedAt()
    .setExpirationTime('60s')
    .setJti(randomUUID())
    .sign(jwk);
}

async function accessToken(agent: AgentFixture): Promise<string> {
  const answer = await api<{ accessToken: string }>(hub.url, 'POST', '/v1/token', {
    body: { assertion: await assertion(agent, (aud) => aud) },
  });
  expect(answer.status).toBe(200);
  return answer.body.accessToken;
}

async function refusals(action: string): Promise<AuditEntry[]> {
  const page = await api<{ entries: AuditEntry[] }>(hub.url, 'GET', `/v1/audit?action=${action}&outcome=refused`, {
    token: hub.adminToken,
  });
  return page.body.entries;
}

function enrollWith(token: string) {
  const key = generateKeyPair();
  const issuedAt = new Date().toISOString();
  return api(hub.url, 'POST', '/v1/enroll', {
    body: {
      token,
      publicKey: key.publicKey,
      issuedAt,
      proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
    },
  });
}

describe('the hub refuses weak keys in its trust root', () => {
  it('refuses the identity point as a release key, and publishes no new trust root', async () => {
    const before = (await api<{ trustRoot: { version: number } }>(hub.url, 'GET', '/v1/trust-root')).body;
    const answer = await api(hub.url, 'POST', '/v1/trust-root/release-keys', {
      token: hub.adminToken,
      body: { publicKey: IDENTITY_POINT, name: 'weak' },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('KEY_WEAK');
    const after = (await api<{ trustRoot: { version: number } }>(hub.url, 'GET', '/v1/trust-root')).body;
    expect(after.trustRoot.version).toBe(before.trustRoot.version);
  });
});

describe('the hub takes only its own audience in an assertion', () => {
  it.each([
    ['an array holding only the audience', (aud: string) => [aud]],
    ['an array holding the audience and another', (aud: string) => [aud, 'urn:flotilla:hub:other']],
  ])('refuses %s', async (_name, audience) => {
    const answer = await api(hub.url, 'POST', '/v1/token', { body: { assertion: await assertion(a, audience) } });
    expect(answer.status).toBe(401);
    expect(answer.body.error).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('aud') });
  });
});

describe('the hub audits every refused agent request', () => {
  it('audits a token of one target asking for a bundle only another target is assigned', async () => {
    await hub.publish('only-b', '1.0.0', [configMap('only-b', { v: '1' })]);
    expect((await hub.assign(b.targetId, ['only-b@1.0.0'])).status).toBe(200);
    const digest = await waitFor('the bundle in the envelope of b', async () => {
      const envelope = await api<{ envelope: { bundles: { digest: string }[] } }>(
        hub.url,
        'GET',
        `/v1/targets/${b.targetId}/envelope`,
        { token: await accessToken(b) },
      );
      return envelope.status === 200 ? envelope.body.envelope.bundles[0]?.digest : undefined;
    });
    const answer = await api(hub.url, 'GET', `/v1/bundles/${digest}`, { token: await accessToken(a) });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('FORBIDDEN');
    const entry = (await refusals('auth.refused')).find(
      (e) => e.actor.id === a.targetId && e.details?.['request'] === `GET /v1/bundles/${digest}`,
    );
    expect(entry).toMatchObject({ reason: 'FORBIDDEN', subjects: [a.targetId] });
  });

  it.each([
    ['disable', 'TARGET_DISABLED'],
    ['revoke', 'TARGET_REVOKED'],
  ])('audits the unexpired token of a target after %s, on each route', async (verb, code) => {
    const victim = await startAgent(hub.url, await hub.enrollmentToken(1));
    const token = await accessToken(victim);
    await victim.agent.stop();
    const changed = await api(hub.url, 'POST', `/v1/targets/${victim.targetId}/${verb}`, {
      token: hub.adminToken,
      body: { reason: 'attack test' },
    });
    expect(changed.status).toBe(200);
    const requests = [
      ['GET', `/v1/targets/${victim.targetId}/envelope`],
      ['POST', `/v1/targets/${victim.targetId}/reports`],
      ['GET', `/v1/bundles/sha256:${'0'.repeat(64)}`],
    ] as const;
    for (const [method, path] of requests) {
      const answer = await api(hub.url, method, path, { token, ...(method === 'POST' ? { body: {} } : {}) });
      expect(answer.status).toBe(403);
      expect(answer.body.error.code).toBe(code);
    }
    const entries = (await refusals('auth.refused')).filter((e) => e.actor.id === victim.targetId);
    expect(entries.map((e) => e.details?.['request']).sort()).toEqual(
      requests.map(([method, path]) => `${method} ${path}`).sort(),
    );
    expect(entries.every((e) => e.reason === code)).toBe(true);
  });
});

describe('enrollment tokens can be revoked', () => {
  it('refuses and audits an enrollment with a revoked token', async () => {
    const created = await api<{ id: string; token: string }>(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: { maxUses: 5 },
    });
    const revoked = await api<{ id: string; revokedAt?: string }>(
      hub.url,
      'POST',
      `/v1/enrollment-tokens/${created.body.id}/revoke`,
      { token: hub.adminToken },
    );
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).toEqual(expect.any(String));
    const answer = await enrollWith(created.body.token);
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('ENROLL_TOKEN_REVOKED');
    const entries = await refusals('target.enroll');
    expect(entries.some((e) => e.reason === 'ENROLL_TOKEN_REVOKED')).toBe(true);
    const revocation = await api<{ entries: AuditEntry[] }>(
      hub.url,
      'GET',
      '/v1/audit?action=enrollment-token.revoke',
      {
        token: hub.adminToken,
      },
    );
    expect(revocation.body.entries).toHaveLength(1);
  });

  it('answers 404 for a token it does not know', async () => {
    const answer = await api(hub.url, 'POST', '/v1/enrollment-tokens/ent_unknown/revoke', { token: hub.adminToken });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('NOT_FOUND');
  });
});
