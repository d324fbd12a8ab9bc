import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, sha256, signPayload } from '@flotilla/protocol';
import { call, startTestHub, type TestHub } from '../support.ts';

let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub();
});

afterAll(async () => {
  await hub.close();
});

describe('bad input gets a 4xx that names the problem', () => {
  it.each([
    ['malformed JSON', 'POST', '/v1/enroll', '{"token":', undefined, 400, 'BAD_REQUEST', /not valid JSON/],
    ['a wrong type', 'POST', '/v1/enroll', '{"token":5}', undefined, 400, 'VALIDATION_FAILED', /token/],
    [
      'an unknown field',
      'POST',
      '/v1/token',
      '{"assertion":"x","extra":1}',
      undefined,
      400,
      'VALIDATION_FAILED',
      /extra/,
    ],
    [
      'the wrong content type',
      'POST',
      '/v1/enroll',
      'token=abc',
      'application/x-www-form-urlencoded',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /application\/json/,
    ],
    ['an unknown route', 'GET', '/v1/nothing-here', undefined, undefined, 404, 'NOT_FOUND', /no API route/],
    ['a wrong method', 'DELETE', '/v1/enroll', undefined, undefined, 405, 'METHOD_NOT_ALLOWED', /POST/],
    [
      'broken percent-encoding',
      'GET',
      '/v1/trust-roots/%E0%A4%A',
      undefined,
      undefined,
      400,
      'BAD_REQUEST',
      /percent-encoding/,
    ],
    ['a missing token', 'GET', '/v1/targets', undefined, undefined, 401, 'UNAUTHENTICATED', /Bearer/],
    [
      'an unknown enrollment token',
      'POST',
      '/v1/enroll',
      JSON.stringify({
        token: 'nope',
        publicKey: generateKeyPair().publicKey,
        issuedAt: new Date().toISOString(),
        proof: { keyId: 'x', sig: 'A'.repeat(86) },
      }),
      undefined,
      401,
      'ENROLL_TOKEN_INVALID',
      /not known/,
    ],
    [
      'an access token that is not a JWT the hub issued',
      'GET',
      '/v1/targets/tgt_00000000000000000000/envelope',
      undefined,
      undefined,
      401,
      'UNAUTHENTICATED',
      /Bearer/,
    ],
  ] as const)('%s', async (_name, method, path, body, contentType, status, code, message) => {
    const answer = await call(hub.url, method, path, {
      ...(body === undefined ? {} : { body }),
      ...(contentType === undefined ? {} : { contentType }),
    });
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(code);
    expect(answer.body.error.message).toMatch(message);
  });

  it('an unknown target is 404 and a malformed target id is 400', async () => {
    expect((await call(hub.url, 'GET', '/v1/targets/tgt_00000000000000000000', { token: hub.adminToken })).status).toBe(
      404,
    );
    const malformed = await call(hub.url, 'GET', '/v1/targets/robert-tables', { token: hub.adminToken });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/target id/);
  });

  it('an oversized body is refused with 413 before it is read', async () => {
    const answer = await call(hub.url, 'POST', '/v1/bundles', {
      token: hub.adminToken,
      body: `{"x":"${'a'.repeat(17 * 1024 * 1024)}"}`,
    });
    expect(answer.status).toBe(413);
    expect(answer.body.error.code).toBe('BODY_TOO_LARGE');
  });

  it('an expired enrollment token is refused, and says so', async () => {
    const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: JSON.stringify({ ttlSeconds: 60 }),
    });
    expect(created.status).toBe(201);
    hub.advance(61_000);
    const key = generateKeyPair();
    const issuedAt = new Date(Date.now() + 61_000).toISOString();
    const token = created.body.token as string;
    const answer = await call(hub.url, 'POST', '/v1/enroll', {
      body: JSON.stringify({
        token,
        publicKey: key.publicKey,
        issuedAt,
        proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
      }),
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('ENROLL_TOKEN_EXPIRED');
  });

  it('a viewer-level route refuses an unknown operator token', async () => {
    const answer = await call(hub.url, 'GET', '/v1/targets', { token: 'fl_admin_guess' });
    expect(answer.status).toBe(401);
  });
});

describe('no request body can make the hub fail or write half a change', () => {
  const routes = [
    '/v1/enroll',
    '/v1/token',
    '/v1/bundles',
    '/v1/trust-root/release-keys',
    '/v1/targets/tgt_00000000000000000000/assign',
    '/v1/targets/tgt_00000000000000000000/reports',
  ];

  it('answers every random JSON body on every POST route with a 4xx', async () => {
    const before = (await call(hub.url, 'GET', '/v1/targets', { token: hub.adminToken })).body.total as number;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.jsonValue(),
        fc.boolean(),
        async (route, value, authenticated) => {
          const answer = await call(hub.url, 'POST', route, {
            body: JSON.stringify(value),
            ...(authenticated ? { token: hub.adminToken } : {}),
          });
          expect(answer.status).toBeGreaterThanOrEqual(400);
          expect(answer.status).toBeLessThan(500);
          expect(typeof answer.body.error.code).toBe('string');
        },
      ),
      { numRuns: 150 },
    );
    expect((await call(hub.url, 'GET', '/v1/targets', { token: hub.adminToken })).body.total).toBe(before);
  });
});
