import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importJWK, SignJWT } from 'jose';
import { generateKeyPair } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;

beforeEach(async () => {
  hub = await startTestHub();
});

afterEach(async () => {
  await hub?.close();
});

async function enroll(name: string): Promise<ProtocolAgent> {
  const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 1, labels: {} }),
  });
  const agent = new ProtocolAgent(hub);
  await agent.enroll(created.body.token as string, name, hub.now());
  return agent;
}

const accessToken = (agent: ProtocolAgent): Promise<string> => agent.accessToken(hub.now());

function fetchEnvelope(agent: ProtocolAgent, token: string) {
  return call(hub.url, 'GET', `/v1/targets/${agent.targetId}/envelope`, { token });
}

async function signatureChecks(): Promise<number> {
  const { body } = await hub.opened.hub.metrics.scrape();
  const line = body.split('\n').find((l) => l.startsWith('flotilla_access_token_verifications_total '));
  return Number(line?.split(' ')[1]);
}

describe('an access token the hub issued', () => {
  it('is answered from memory on every use, with no signature check', async () => {
    const agent = await enroll('cached');
    const token = await accessToken(agent);
    const answers = await Promise.all([fetchEnvelope(agent, token), fetchEnvelope(agent, token)]);
    expect(answers.map((a) => a.status)).not.toContain(401);
    expect((await fetchEnvelope(agent, token)).status).not.toBe(401);
    expect(await signatureChecks()).toBe(0);
  });

  it('is refused at once when its target is revoked', async () => {
    const agent = await enroll('revoked');
    const token = await accessToken(agent);
    expect((await fetchEnvelope(agent, token)).status).not.toBe(401);
    const revoked = await call(hub.url, 'POST', `/v1/targets/${agent.targetId}/revoke`, {
      token: hub.adminToken,
      body: JSON.stringify({ reason: 'stolen' }),
    });
    expect(revoked.status).toBe(200);
    const refused = await fetchEnvelope(agent, token);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('TARGET_REVOKED');
  });

  it('is refused at once when its target is disabled', async () => {
    const agent = await enroll('disabled');
    const token = await accessToken(agent);
    expect((await fetchEnvelope(agent, token)).status).not.toBe(401);
    await call(hub.url, 'POST', `/v1/targets/${agent.targetId}/disable`, {
      token: hub.adminToken,
      body: JSON.stringify({ reason: 'maintenance' }),
    });
    const refused = await fetchEnvelope(agent, token);
    expect(refused.body.error.code).toBe('TARGET_DISABLED');
  });

  it('is refused once it has expired, though it is cached', async () => {
    const agent = await enroll('expired');
    const token = await accessToken(agent);
    expect((await fetchEnvelope(agent, token)).status).not.toBe(401);
    hub.advance(16 * 60_000);
    const refused = await fetchEnvelope(agent, token);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('TOKEN_EXPIRED');
  });
});

describe('a forged access token naming a target whose real token is cached', () => {
  it('is checked by its signature and refused', async () => {
    const agent = await enroll('forged');
    const token = await accessToken(agent);
    expect((await fetchEnvelope(agent, token)).status).not.toBe(401);
    const [header, payload] = token.split('.');
    const other = generateKeyPair();
    const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: other.publicKey, d: other.seed }, 'EdDSA');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const forged = await new SignJWT(claims)
      .setProtectedHeader(JSON.parse(Buffer.from(header!, 'base64url').toString()) as { alg: string })
      .sign(jwk);
    const refused = await fetchEnvelope(agent, forged);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('UNAUTHENTICATED');
    expect(await signatureChecks()).toBe(1);
  });
});
