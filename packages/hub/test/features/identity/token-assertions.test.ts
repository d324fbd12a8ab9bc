import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importJWK, SignJWT } from 'jose';
import { generateKeyPair, sha256, signPayload } from '@flotilla/protocol';
import { call, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
const key = generateKeyPair();
let targetId: string;
let audience: string;

beforeAll(async () => {
  hub = await startTestHub();
  const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 1, labels: {} }),
  });
  const token = created.body.token as string;
  const issuedAt = new Date(hub.now()).toISOString();
  const proof = signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key);
  const enrolled = await call(hub.url, 'POST', '/v1/enroll', {
    body: JSON.stringify({ token, publicKey: key.publicKey, name: 'edge', issuedAt, proof }),
  });
  targetId = enrolled.body.targetId as string;
  audience = enrolled.body.audience as string;
});

afterAll(async () => {
  await hub?.close();
});

/** An assertion as any JWT library may write it: exp is a NumericDate, which may have a fraction. */
async function assertion(exp: number, jti: string): Promise<string> {
  const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: key.publicKey, d: key.seed }, 'EdDSA');
  return new SignJWT({ exp })
    .setProtectedHeader({ alg: 'EdDSA' })
    .setIssuer(targetId)
    .setSubject(targetId)
    .setAudience(audience)
    .setIssuedAt(Math.floor(hub.now() / 1000))
    .setJti(jti)
    .sign(jwk);
}

describe('an assertion whose expiry has a fraction of a second', () => {
  it('is taken once, and refused as a replay the second time', async () => {
    const signed = await assertion(Math.floor(hub.now() / 1000) + 60.123456, randomUUID());
    const first = await call(hub.url, 'POST', '/v1/token', { body: JSON.stringify({ assertion: signed }) });
    expect(first.status).toBe(200);
    const again = await call(hub.url, 'POST', '/v1/token', { body: JSON.stringify({ assertion: signed }) });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('TOKEN_REPLAYED');
  });
});
