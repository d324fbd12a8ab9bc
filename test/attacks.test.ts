import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { importJWK, SignJWT } from 'jose';
import {
  generateKeyPair,
  KeyPair,
  sha256,
  signPayload,
  type Envelope,
  type SignedEnvelope,
  type Target,
} from '@flotilla/protocol';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { asForgedKey, forgeSignature } from './fixtures/forge.ts';
import { waitFor } from './fixtures/wait-for.ts';

/**
 * A machine in the middle between agent and hub: it passes everything through, except that
 * it can answer the victim's envelope requests with a document of its choosing, as an
 * attacker on the network (or a hub replaying old answers) would.
 */
async function startInterceptor(
  hubUrl: () => string,
  victimPath: () => string | undefined,
): Promise<{ url: string; serve: (signed: SignedEnvelope) => void; close: () => Promise<void> }> {
  let forged: { body: string; etag: string } | undefined;
  let count = 0;
  // The victim's long-polls in flight: a forgery is answered to them at once, as an attacker
  // holding the connection would, instead of after the hub's wait runs out.
  const answerForged = (req: IncomingMessage, res: ServerResponse): void => {
    if (res.headersSent) return;
    if (req.headers['if-none-match'] === forged!.etag) res.writeHead(304, { etag: forged!.etag }).end();
    else res.writeHead(200, { 'content-type': 'application/json', etag: forged!.etag }).end(forged!.body);
  };
  const waiting = new Map<ServerResponse, IncomingMessage>();
  const server = createServer((req, res) => {
    const path = victimPath();
    const victim = path !== undefined && req.url?.startsWith(path) === true;
    if (forged !== undefined && victim) return answerForged(req, res);
    if (victim) {
      waiting.set(res, req);
      res.once('close', () => waiting.delete(res));
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = { ...req.headers };
      delete headers['host'];
      delete headers['content-length'];
      void request(`${hubUrl()}${req.url ?? '/'}`, {
        method: req.method as 'GET',
        headers,
        ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
      })
        .then(async (answer) => {
          const body = Buffer.from(await answer.body.arrayBuffer());
          if (res.headersSent) return;
          const out = Object.fromEntries(
            Object.entries(answer.headers).filter(
              ([k]) => k !== 'transfer-encoding' && k !== 'connection' && k !== 'keep-alive',
            ),
          );
          res.writeHead(answer.statusCode, out).end(body);
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(502).end();
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve(signed) {
      forged = { body: JSON.stringify(signed), etag: `"forged-${++count}"` };
      for (const [res, req] of waiting) answerForged(req, res);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function hubKey(hub: HubFixture): KeyPair {
  return KeyPair.parse(JSON.parse(readFileSync(join(hub.dataDir, 'keys', 'hub.json'), 'utf8')));
}

describe('an agent refuses desired state it cannot trust', () => {
  let hub: HubFixture;
  let victim: AgentFixture | undefined;
  let interceptor: Awaited<ReturnType<typeof startInterceptor>>;
  let genuine: Envelope;

  beforeAll(async () => {
    hub = await startHub();
    interceptor = await startInterceptor(
      () => hub.url,
      () => (victim === undefined ? undefined : `/v1/targets/${victim.targetId}/envelope`),
    );
    const agent = await startAgent(interceptor.url, await hub.enrollmentToken(1));
    victim = agent;
    await hub.publish('app', '1.0.0', [configMap('app', { v: '1' })]);
    await hub.publish('app', '2.0.0', [configMap('app', { v: '2' })]);
    await hub.assign(agent.targetId, ['app@1.0.0']);
    await waitFor('generation 1 applied', () => agent.agent.current.appliedGeneration === 1);
    await hub.assign(agent.targetId, ['app@2.0.0']);
    await waitFor('generation 2 applied', () => agent.agent.current.appliedGeneration === 2);
    genuine = JSON.parse(readFileSync(join(agent.stateDir, 'sync.json'), 'utf8')).appliedEnvelope.envelope as Envelope;
  });

  const started = (): AgentFixture => {
    if (victim === undefined) throw new Error('the victim agent did not start');
    return victim;
  };

  afterAll(async () => {
    await victim?.agent.stop();
    await interceptor.close();
    await hub.dispose();
  });

  async function refusal(signed: SignedEnvelope): Promise<string> {
    const victim = started();
    const stalled = new Promise<{ code: string }>((resolve, reject) => {
      const applied = (generation: number): void =>
        reject(new Error(`the agent applied generation ${generation} instead of refusing it`));
      victim.agent.once('applied', applied);
      victim.agent.once('stalled', (error: { code: string }) => {
        victim.agent.off('applied', applied);
        resolve(error);
      });
    });
    interceptor.serve(signed);
    const { code } = await stalled;
    expect(victim.agent.current.appliedGeneration).toBe(2);
    return code;
  }

  it('refuses an envelope forged with a key the trust root does not list', async () => {
    const forged: Envelope = { ...genuine, generation: 10 };
    expect(await refusal({ envelope: forged, signature: signPayload('envelope', forged, generateKeyPair()) })).toBe(
      'ENVELOPE_KEY_UNKNOWN',
    );
  });

  it('refuses a genuine envelope whose content was changed on the way', async () => {
    const signature = signPayload('envelope', { ...genuine, generation: 13 }, hubKey(hub));
    expect(await refusal({ envelope: { ...genuine, generation: 14 }, signature })).toBe('ENVELOPE_SIGNATURE_INVALID');
  });

  it('refuses a replayed envelope of an older generation', async () => {
    const older: Envelope = { ...genuine, generation: 1 };
    expect(await refusal({ envelope: older, signature: signPayload('envelope', older, hubKey(hub)) })).toBe(
      'ENVELOPE_ROLLBACK',
    );
  });

  it('refuses an expired envelope', async () => {
    const expired: Envelope = { ...genuine, generation: 11, expiresAt: new Date(Date.now() - 60_000).toISOString() };
    expect(await refusal({ envelope: expired, signature: signPayload('envelope', expired, hubKey(hub)) })).toBe(
      'ENVELOPE_EXPIRED',
    );
  });

  it('refuses an envelope for another target', async () => {
    const other: Envelope = { ...genuine, generation: 12, targetId: 'tgt_ffffffffffffffffffff' };
    expect(await refusal({ envelope: other, signature: signPayload('envelope', other, hubKey(hub)) })).toBe(
      'ENVELOPE_TARGET_MISMATCH',
    );
  });

  it('refuses a different envelope of the generation it applied, and the hub records a security event', async () => {
    const key = hubKey(hub);
    const forked: Envelope = {
      ...genuine,
      holds: [{ id: 'INC-forged', reason: 'nothing is reverted while this holds', since: genuine.issuedAt }],
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
    const signature = forgeSignature('envelope', forked, asForgedKey(key.publicKey, key.seed));
    expect(await refusal({ envelope: forked, signature })).toBe('ENVELOPE_EQUIVOCATION');
    const entry = await waitFor('a security event in the audit log', async () => {
      const page = await api<{ entries: { action: string; subjects: string[]; reason?: string }[] }>(
        hub.url,
        'GET',
        '/v1/audit?action=security.*',
        { token: hub.adminToken },
      );
      return page.body.entries.find((e) => e.action === 'security.envelope-equivocation');
    });
    expect(entry).toMatchObject({ subjects: [started().targetId], reason: 'ENVELOPE_EQUIVOCATION' });
  });

  it('reports the refusal to the hub and keeps running the last good release', async () => {
    const target = await waitFor('a stalled report at the hub', async () => {
      const answer = await api<Target>(hub.url, 'GET', `/v1/targets/${started().targetId}`, { token: hub.adminToken });
      return answer.body.observed?.phase === 'stalled' && answer.body;
    });
    expect(target.observed?.generation).toBe(2);
    expect(target.observed?.bundles.map((b) => b.version)).toEqual(['2.0.0']);
  });
});

describe('the hub refuses callers it cannot trust', () => {
  let hub: HubFixture;
  let a: AgentFixture;
  let b: AgentFixture;

  beforeAll(async () => {
    hub = await startHub();
    const token = await hub.enrollmentToken(2);
    [a, b] = await Promise.all([startAgent(hub.url, token), startAgent(hub.url, token)]);
  });

  afterAll(async () => {
    await Promise.all([a.agent.stop(), b.agent.stop()]);
    await hub.dispose();
  });

  async function accessToken(
    agent: AgentFixture,
    jti = randomUUID(),
  ): Promise<{ status: number; token: string; body: unknown }> {
    const key = KeyPair.parse(JSON.parse(readFileSync(join(agent.stateDir, 'agent-key.json'), 'utf8')));
    const enrollment = JSON.parse(readFileSync(join(agent.stateDir, 'enrollment.json'), 'utf8')) as {
      audience: string;
    };
    const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: key.publicKey, d: key.seed }, 'EdDSA');
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject(agent.targetId)
      .setIssuer(agent.targetId)
      .setAudience(enrollment.audience)
      .setIssuedAt()
      .setExpirationTime('60s')
      .setJti(jti)
      .sign(jwk);
    const answer = await api<{ accessToken: string }>(hub.url, 'POST', '/v1/token', { body: { assertion } });
    return { status: answer.status, token: answer.body.accessToken, body: answer.body };
  }

  it('refuses a token presented for another target', async () => {
    const { token } = await accessToken(a);
    const answer = await api(hub.url, 'GET', `/v1/targets/${b.targetId}/envelope`, { token });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('FORBIDDEN');
    const report = await api(hub.url, 'POST', `/v1/targets/${b.targetId}/reports`, { token, body: {} });
    expect(report.status).toBe(403);
  });

  it('refuses an assertion whose jti was already used', async () => {
    const jti = randomUUID();
    expect((await accessToken(a, jti)).status).toBe(200);
    const replay = await accessToken(a, jti);
    expect(replay.status).toBe(401);
    expect(replay.body).toMatchObject({ error: { code: 'TOKEN_REPLAYED' } });
  });

  it('refuses an assertion for the right target signed by another key', async () => {
    const stranger = generateKeyPair();
    const enrollment = JSON.parse(readFileSync(join(a.stateDir, 'enrollment.json'), 'utf8')) as { audience: string };
    const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: stranger.publicKey, d: stranger.seed }, 'EdDSA');
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject(a.targetId)
      .setIssuer(a.targetId)
      .setAudience(enrollment.audience)
      .setExpirationTime('60s')
      .setJti(randomUUID())
      .sign(jwk);
    const answer = await api(hub.url, 'POST', '/v1/token', { body: { assertion } });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a report whose signature is forged', async () => {
    const { token } = await accessToken(a);
    const report = {
      apiVersion: 'flotilla.io/v1',
      kind: 'Report',
      targetId: a.targetId,
      seq: 999_999,
      generation: 0,
      phase: 'idle',
      health: 'healthy',
      bundles: [],
      resources: [],
      facts: {},
      observedAt: new Date().toISOString(),
    };
    const answer = await api(hub.url, 'POST', `/v1/targets/${a.targetId}/reports`, {
      token,
      body: { report, signature: signPayload('report', report, generateKeyPair()) },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('SIGNATURE_INVALID');
  });

  it('refuses a used-up enrollment token', async () => {
    const token = await hub.enrollmentToken(1);
    const first = generateKeyPair();
    const second = generateKeyPair();
    const enroll = (key: KeyPair) => {
      const issuedAt = new Date().toISOString();
      return api(hub.url, 'POST', '/v1/enroll', {
        body: {
          token,
          publicKey: key.publicKey,
          issuedAt,
          proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
        },
      });
    };
    expect((await enroll(first)).status).toBe(201);
    const refused = await enroll(second);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('ENROLL_TOKEN_USED_UP');
  });

  it('refuses an enrollment whose proof was made with another key', async () => {
    const token = await hub.enrollmentToken(1);
    const claimed = generateKeyPair();
    const issuedAt = new Date().toISOString();
    const proof = signPayload(
      'enroll',
      { publicKey: claimed.publicKey, tokenDigest: sha256(token), issuedAt },
      generateKeyPair(),
    );
    const answer = await api(hub.url, 'POST', '/v1/enroll', {
      body: { token, publicKey: claimed.publicKey, issuedAt, proof },
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('PROOF_INVALID');
  });

  it('refuses a revoked target on its very next request', async () => {
    const { token } = await accessToken(b);
    expect((await api(hub.url, 'GET', `/v1/targets/${b.targetId}/envelope`, { token })).status).toBe(204);
    expect(
      (
        await api(hub.url, 'POST', `/v1/targets/${b.targetId}/revoke`, {
          token: hub.adminToken,
          body: { reason: 'stolen laptop' },
        })
      ).status,
    ).toBe(200);
    const answer = await api(hub.url, 'GET', `/v1/targets/${b.targetId}/envelope`, { token });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('TARGET_REVOKED');
  });
});
