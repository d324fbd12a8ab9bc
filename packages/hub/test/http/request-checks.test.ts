import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../support.ts';

let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub();
});

afterAll(async () => {
  await hub.close();
});

async function checkpoints(): Promise<number> {
  const latest = await call(hub.url, 'GET', '/v1/audit/checkpoints/latest', { token: hub.adminToken });
  return latest.body.checkpoint === null ? 0 : (latest.body.checkpoint.checkpoint.seq as number);
}

describe('POST /v1/audit/checkpoints reads its body like every other route', () => {
  it.each([
    ['malformed JSON', '{"x":', 'application/json', 400, 'BAD_REQUEST'],
    ['an unknown field', '{"x":1}', 'application/json', 400, 'VALIDATION_FAILED'],
    ['text/plain', 'sign it', 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a 2 MB body', `{"x":"${'a'.repeat(2 * 1024 * 1024)}"}`, 'application/json', 413, 'BODY_TOO_LARGE'],
  ] as const)('refuses %s and makes no checkpoint', async (_name, body, contentType, status, code) => {
    await call(hub.url, 'POST', '/v1/enrollment-tokens', { token: hub.adminToken, body: '{"maxUses":1}' });
    const before = await checkpoints();
    const answer = await call(hub.url, 'POST', '/v1/audit/checkpoints', { token: hub.adminToken, body, contentType });
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(code);
    expect(await checkpoints()).toBe(before);
  });

  it('signs the head when sent no body, or an empty object', async () => {
    expect((await call(hub.url, 'POST', '/v1/audit/checkpoints', { token: hub.adminToken })).status).toBe(201);
    await call(hub.url, 'POST', '/v1/enrollment-tokens', { token: hub.adminToken, body: '{"maxUses":1}' });
    const answer = await call(hub.url, 'POST', '/v1/audit/checkpoints', { token: hub.adminToken, body: '{}' });
    expect(answer.status).toBe(201);
  });
});

describe('a JSON body in another charset than UTF-8 is refused with 415', () => {
  it.each(['utf-16', 'UTF-16LE', 'iso-8859-1', '"utf-32"'])('charset=%s', async (charset) => {
    const answer = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: '{"maxUses":1}',
      contentType: `application/json; charset=${charset}`,
    });
    expect(answer.status).toBe(415);
    expect(answer.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(answer.body.error.message).toMatch(/utf-8/i);
  });

  it.each(['utf-8', 'UTF-8', '"utf-8"', 'utf8'])('charset=%s is read', async (charset) => {
    const answer = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: '{"maxUses":1}',
      contentType: `application/json; charset=${charset}`,
    });
    expect(answer.status).toBe(201);
  });
});

describe('/v1/token refuses an assertion whose iat is implausible', () => {
  let agent: ProtocolAgent;
  let audience = '';
  beforeAll(async () => {
    const health = await call(hub.url, 'GET', '/v1/health');
    audience = `urn:flotilla:hub:${health.body.hubId as string}`;
    const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: '{"maxUses":1}',
    });
    agent = new ProtocolAgent(hub);
    await agent.enroll(created.body.token as string, 'iat-checks', hub.now());
  });

  async function assertion(iat: number | undefined): Promise<string> {
    const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: agent.key.publicKey, d: agent.key.seed }, 'EdDSA');
    const now = Math.floor(hub.now() / 1000);
    const jwt = new SignJWT(iat === undefined ? {} : { iat })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(agent.targetId)
      .setSubject(agent.targetId)
      .setAudience(audience)
      .setExpirationTime(now + 60)
      .setJti(randomUUID());
    return jwt.sign(key);
  }
  it.each([
    ['-1', -1],
    ['0', 0],
    ['an hour ahead', 3600],
    ['a day old', -86_400],
    ['missing', undefined],
  ] as const)('iat %s', async (_name, offset) => {
    const now = Math.floor(hub.now() / 1000);
    const iat = offset === undefined ? undefined : offset === -1 || offset === 0 ? offset : now + offset;
    const answer = await call(hub.url, 'POST', '/v1/token', {
      body: JSON.stringify({ assertion: await assertion(iat) }),
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('UNAUTHENTICATED');
    expect(answer.body.error.message).toMatch(/iat/);
  });

  it('a current iat is accepted', async () => {
    const answer = await call(hub.url, 'POST', '/v1/token', {
      body: JSON.stringify({ assertion: await assertion(Math.floor(hub.now() / 1000)) }),
    });
    expect(answer.status).toBe(200);
  });
});
