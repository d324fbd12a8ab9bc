import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { importJWK, SignJWT } from 'jose';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  API_VERSION,
  generateKeyPair,
  KeyPair,
  keyIdOf,
  keysWithRole,
  sha256,
  signBundle,
  signPayload,
  verifyPayload,
  type TrustedKey,
} from '@flotilla/protocol';
import { verifyAuditExport, type AuditEntry, type SignedAuditCheckpoint } from '@flotilla/protocol/audit';
import { serveConfig } from '../../../src/config.ts';
import { openHub } from '../../../src/open-hub.ts';
import type { AuditInput } from '../../../src/audit-sink.ts';
import { RefusalRecorder } from '../../../src/features/audit/refusal-recorder.ts';
import { hashSecret } from '../../../src/features/identity/identity-service.ts';
import { call, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
let viewerToken: string;
let hubKey: TrustedKey;
const targets: { id: string; key: KeyPair }[] = [];

interface Page {
  entries: AuditEntry[];
  nextCursor: string | null;
}

async function page(path: string, token = hub.adminToken): Promise<Page> {
  const answer = await call(hub.url, 'GET', path, { token });
  if (answer.status !== 200) throw new Error(`${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as Page;
}

/** Every entry a query matches, following the cursor. */
async function all(path: string): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const next: Page = await page(
      `${path}${sep}limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    out.push(...next.entries);
    cursor = next.nextCursor;
  } while (cursor !== null);
  return out;
}

async function exportText(query = ''): Promise<{ status: number; type: string | undefined; text: string }> {
  const response = await request(`${hub.url}/v1/audit/export${query}`, {
    headers: { authorization: `Bearer ${hub.adminToken}` },
  });
  return {
    status: response.statusCode,
    type: response.headers['content-type'] as string | undefined,
    text: await response.body.text(),
  };
}

async function enroll(token: string, name: string): Promise<{ id: string; key: KeyPair }> {
  const key = generateKeyPair();
  const issuedAt = new Date(Date.now()).toISOString();
  const answer = await call(hub.url, 'POST', '/v1/enroll', {
    body: JSON.stringify({
      token,
      name,
      publicKey: key.publicKey,
      issuedAt,
      proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
    }),
  });
  if (answer.status !== 201) throw new Error(`enroll: ${JSON.stringify(answer.body)}`);
  return { id: answer.body.targetId as string, key };
}

async function assertion(targetId: string, key: KeyPair): Promise<string> {
  const audience = (await call(hub.url, 'GET', '/v1/trust-root')).body.trustRoot.audience as string | undefined;
  const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: key.publicKey, d: key.seed }, 'EdDSA');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA' })
    .setIssuer(targetId)
    .setSubject(targetId)
    .setAudience(audience ?? hubAudience())
    .setExpirationTime('60s')
    .setJti(randomUUID())
    .sign(jwk);
}

function hubAudience(): string {
  return hub.opened.hub.services.trust.audience;
}

beforeAll(async () => {
  hub = await startTestHub();
  const key = KeyPair.parse(JSON.parse(readFileSync(join(hub.dataDir, 'keys', 'hub.json'), 'utf8')));
  hubKey = { id: keyIdOf(key.publicKey), publicKey: key.publicKey };
  // A viewer, as an admin would make one.
  viewerToken = hub.opened.hub.services.operators.create(
    { name: 'vera', role: 'viewer' },
    { kind: 'system', id: 'test' },
  ).token;

  const gold = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 2, labels: { tier: 'gold' } }),
  });
  const silver = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 1, labels: { tier: 'silver' } }),
  });
  for (const name of ['alpha', 'bravo']) targets.push(await enroll(gold.body.token as string, name));
  targets.push(await enroll(silver.body.token as string, 'charlie'));
  const [a, b] = targets;
  for (const [verb, id] of [
    ['disable', a!.id],
    ['enable', a!.id],
    ['disable', b!.id],
  ] as const) {
    const answer = await call(hub.url, 'POST', `/v1/targets/${id}/${verb}`, {
      token: hub.adminToken,
      body: JSON.stringify({ reason: `test ${verb}` }),
    });
    expect(answer.status).toBe(200);
  }
});

afterAll(async () => {
  await hub.close();
});

describe('GET /v1/audit', () => {
  it('lists entries newest first, each a verifiable chain link', async () => {
    const entries = await all('/v1/audit');
    expect(entries.length).toBeGreaterThanOrEqual(7);
    expect(entries.map((e) => e.seq)).toEqual([...entries.map((e) => e.seq)].sort((x, y) => y - x));
    expect(entries.at(-1)).toMatchObject({ seq: 1 });
  });

  it.each([
    ['action', 'action=target.disable', (e: AuditEntry) => e.action === 'target.disable', 2],
    ['an action family', 'action=target.*', (e: AuditEntry) => e.action.startsWith('target.'), 6],
    ['actor', 'actor=admin', (e: AuditEntry) => e.actor.id === 'admin', 5],
    ['actor kind', 'actorKind=agent', (e: AuditEntry) => e.actor.kind === 'agent', 3],
    ['outcome', 'outcome=success', (e: AuditEntry) => e.outcome === 'success', 8],
  ] as const)('filters by %s', async (_name, query, predicate, atLeast) => {
    const entries = await all(`/v1/audit?${query}`);
    expect(entries.length).toBeGreaterThanOrEqual(atLeast);
    expect(entries.every(predicate)).toBe(true);
  });

  it('filters by target ids, given repeated or comma-separated', async () => {
    const [a, b] = targets;
    const onlyA = await all(`/v1/audit?target=${a!.id}`);
    expect(onlyA.map((e) => e.action)).toEqual(['target.enable', 'target.disable', 'target.enroll']);
    expect(onlyA.every((e) => e.subjects.includes(a!.id))).toBe(true);
    const both = await all(`/v1/audit?target=${a!.id},${b!.id}`);
    const repeated = await all(`/v1/audit?target=${a!.id}&target=${b!.id}`);
    expect(both.map((e) => e.seq)).toEqual(repeated.map((e) => e.seq));
    expect(both).toHaveLength(5);
  });

  it('filters by time: since inclusive, until exclusive', async () => {
    const entries = await all('/v1/audit?order=asc');
    const pivot = entries.find((e) => e.action === 'target.disable')!;
    const since = await all(`/v1/audit?order=asc&since=${encodeURIComponent(pivot.time)}`);
    const until = await all(`/v1/audit?order=asc&until=${encodeURIComponent(pivot.time)}`);
    expect(since[0]!.time >= pivot.time).toBe(true);
    expect(until.every((e) => e.time < pivot.time)).toBe(true);
    expect(since.length + until.length).toBe(entries.length);
  });

  it('pages with an opaque cursor, in either order, without gaps or repeats', async () => {
    const everything = (await page('/v1/audit?limit=1000')).entries.map((e) => e.seq);
    for (const order of ['desc', 'asc'] as const) {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const next: Page = await page(
          `/v1/audit?limit=2&order=${order}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        );
        expect(next.entries.length).toBeLessThanOrEqual(2);
        seen.push(...next.entries.map((e) => e.seq));
        cursor = next.nextCursor;
        pages++;
      } while (cursor !== null);
      expect(seen).toEqual(order === 'desc' ? everything : [...everything].reverse());
      expect(pages).toBe(Math.ceil(everything.length / 2));
    }
  });

  it('is open to viewers', async () => {
    expect((await page('/v1/audit?limit=1', viewerToken)).entries).toHaveLength(1);
  });

  it.each([
    ['a time that is not RFC 3339', 'since=yesterday', /since: expected an RFC 3339 time/],
    [
      'an until before since',
      'since=2025-06-02T00:00:00Z&until=2025-06-01T00:00:00Z',
      /since must not be later than until/,
    ],
    ['an unknown outcome', 'outcome=maybe', /outcome\.0: .*success/],
    ['an unknown actor kind', 'actorKind=robot', /actorKind/],
    ['an action that is not a dotted verb', 'action=Target.Label', /action/],
    ['a target that is not a target id', 'target=robert', /target\.0: a target id looks like tgt_/],
    ['a limit out of range', 'limit=0', /limit/],
    ['a limit that is not a number', 'limit=ten', /limit: expected a whole number/],
    ['an unknown parameter', 'colour=blue', /colour/],
    ['a parameter given twice', 'actor=a&actor=b', /actor/],
    ['a cursor the hub did not issue', 'cursor=bm9wZQ', /cursor is not one this hub issued/],
  ])('refuses %s with a 400 that names it', async (_name, query, message) => {
    const answer = await call(hub.url, 'GET', `/v1/audit?${query}`, { token: hub.adminToken });
    expect(answer.status).toBe(400);
    expect(['VALIDATION_FAILED', 'AUDIT_CURSOR_INVALID']).toContain(answer.body.error.code);
    expect(answer.body.error.message).toMatch(message);
  });

  it('refuses a cursor made for the other order', async () => {
    const first = await page('/v1/audit?limit=1&order=desc');
    const answer = await call(hub.url, 'GET', `/v1/audit?limit=1&order=asc&cursor=${first.nextCursor!}`, {
      token: hub.adminToken,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'AUDIT_CURSOR_INVALID' });
  });

  it('filters by a fleet query: entries naming a target it selects now', async () => {
    const [a, b, c] = targets;
    const gold = await all(`/v1/audit?q=${encodeURIComponent('tier=gold')}`);
    expect(gold.length).toBe(5);
    expect(gold.every((e) => e.subjects.includes(a!.id) || e.subjects.includes(b!.id))).toBe(true);
    expect(gold.some((e) => e.subjects.includes(c!.id))).toBe(false);
    // With target ids as well: entries naming a target in both.
    const both = await all(`/v1/audit?q=${encodeURIComponent('tier=gold')}&target=${b!.id},${c!.id}`);
    expect(both.map((e) => e.action)).toEqual(['target.disable', 'target.enroll']);
    expect(await all(`/v1/audit?q=${encodeURIComponent('tier=bronze')}`)).toEqual([]);
  });

  it("refuses a fleet query that does not parse, with the query language's own error", async () => {
    const answer = await call(hub.url, 'GET', `/v1/audit?q=${encodeURIComponent('tier in (gold')}`, {
      token: hub.adminToken,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toMatch(/^QUERY_/);
  });
});

describe('GET /v1/targets/:id/history', () => {
  it('is the audit entries naming the target, newest first', async () => {
    const [a] = targets;
    const history = await page(`/v1/targets/${a!.id}/history`, viewerToken);
    expect(history.entries.map((e) => [e.action, e.actor.kind, e.reason])).toEqual([
      ['target.enable', 'user', 'test enable'],
      ['target.disable', 'user', 'test disable'],
      ['target.enroll', 'agent', null],
    ]);
    expect(history.entries[0]!.details).toEqual({ from: 'disabled', to: 'active' });
  });

  it('pages and narrows like the audit query', async () => {
    const [a] = targets;
    const first = await page(`/v1/targets/${a!.id}/history?limit=1`);
    expect(first.entries).toHaveLength(1);
    const second = await page(`/v1/targets/${a!.id}/history?limit=5&cursor=${first.nextCursor!}`);
    expect(second.entries.map((e) => e.action)).toEqual(['target.disable', 'target.enroll']);
    expect((await page(`/v1/targets/${a!.id}/history?action=target.enroll`)).entries).toHaveLength(1);
  });

  it('is 404 for a target never enrolled and 400 for something that is not a target id', async () => {
    expect(
      (await call(hub.url, 'GET', '/v1/targets/tgt_00000000000000000000/history', { token: hub.adminToken })).status,
    ).toBe(404);
    expect((await call(hub.url, 'GET', '/v1/targets/robert/history', { token: hub.adminToken })).status).toBe(400);
    expect(
      (
        await call(hub.url, 'GET', `/v1/targets/${targets[0]!.id}/history?target=${targets[1]!.id}`, {
          token: hub.adminToken,
        })
      ).status,
    ).toBe(400);
  });
});

describe('refused attempts are in the trail', () => {
  it('records an unknown API token with the remote address, never the token', async () => {
    const secret = `fl_admin_${randomUUID()}`;
    const answer = await call(hub.url, 'GET', '/v1/targets?limit=1', { token: secret });
    expect(answer.status).toBe(401);
    const [entry] = (await page('/v1/audit?action=auth.refused&limit=1')).entries;
    expect(entry).toMatchObject({
      actor: { kind: 'user', id: 'unknown' },
      outcome: 'refused',
      reason: 'UNAUTHENTICATED',
      details: { credential: 'api-token', request: 'GET /v1/targets', remote: '127.0.0.1' },
    });
    const stored = JSON.stringify(await all('/v1/audit'));
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(hashSecret(secret));
  });

  it('records a role that is not enough', async () => {
    const answer = await call(hub.url, 'POST', '/v1/audit/checkpoints', { token: viewerToken });
    expect(answer.status).toBe(403);
    const [entry] = (await page('/v1/audit?action=auth.refused&actor=vera&limit=1')).entries;
    expect(entry).toMatchObject({
      outcome: 'refused',
      reason: 'FORBIDDEN',
      details: { role: 'viewer', needs: 'admin', request: 'POST /v1/audit/checkpoints' },
    });
  });

  it('records an enrollment with a token the hub never issued', async () => {
    const key = generateKeyPair();
    const issuedAt = new Date().toISOString();
    const token = 'fl_enroll_not-a-real-one';
    const answer = await call(hub.url, 'POST', '/v1/enroll', {
      body: JSON.stringify({
        token,
        publicKey: key.publicKey,
        issuedAt,
        proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
      }),
    });
    expect(answer.status).toBe(401);
    const [entry] = (await page('/v1/audit?action=target.enroll&outcome=refused&limit=1')).entries;
    expect(entry).toMatchObject({
      actor: { kind: 'agent', id: keyIdOf(key.publicKey) },
      reason: 'ENROLL_TOKEN_INVALID',
      details: { remote: '127.0.0.1' },
    });
  });

  it('records an enrollment refused inside its transaction (a used-up token), which used to roll back with it', async () => {
    const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: JSON.stringify({ maxUses: 1 }),
    });
    const token = created.body.token as string;
    await enroll(token, 'delta');
    const key = generateKeyPair();
    const issuedAt = new Date().toISOString();
    const answer = await call(hub.url, 'POST', '/v1/enroll', {
      body: JSON.stringify({
        token,
        publicKey: key.publicKey,
        issuedAt,
        proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
      }),
    });
    expect(answer.status).toBe(403);
    const [entry] = (await page('/v1/audit?action=target.enroll&outcome=refused&limit=1')).entries;
    expect(entry).toMatchObject({ reason: 'ENROLL_TOKEN_USED_UP', actor: { id: keyIdOf(key.publicKey) } });
  });

  it('records a token request and an access token signed by the wrong key (forged signatures)', async () => {
    const [a] = targets;
    const forger = generateKeyPair();
    const forged = await assertion(a!.id, forger);
    expect((await call(hub.url, 'POST', '/v1/token', { body: JSON.stringify({ assertion: forged }) })).status).toBe(
      401,
    );
    const [issue] = (await page(`/v1/audit?action=token.issue&outcome=refused&target=${a!.id}&limit=1`)).entries;
    expect(issue).toMatchObject({
      actor: { kind: 'agent', id: a!.id },
      subjects: [a!.id],
      reason: 'UNAUTHENTICATED',
      details: { remote: '127.0.0.1' },
    });

    // An access token the hub never signed, claiming to be target A.
    const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: forger.publicKey, d: forger.seed }, 'EdDSA');
    const fake = await new SignJWT({ cnf: { kid: keyIdOf(a!.key.publicKey) } })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .setIssuer(hubAudience())
      .setAudience(hubAudience())
      .setSubject(a!.id)
      .setExpirationTime('5m')
      .sign(jwk);
    expect((await call(hub.url, 'GET', `/v1/targets/${a!.id}/envelope`, { token: fake })).status).toBe(401);
    const [access] = (await page(`/v1/targets/${a!.id}/history?action=auth.refused&limit=1`)).entries;
    expect(access).toMatchObject({
      actor: { kind: 'agent', id: a!.id },
      reason: 'UNAUTHENTICATED',
      details: { credential: 'access-token', request: `GET /v1/targets/${a!.id}/envelope`, remote: '127.0.0.1' },
    });
    expect(JSON.stringify(access)).not.toContain(fake);
  });

  it('records a release whose signatures the trust root does not vouch for (a forged bundle)', async () => {
    const forger = generateKeyPair();
    const forged = signBundle(
      {
        apiVersion: API_VERSION,
        kind: 'Bundle',
        name: 'app',
        version: '6.6.6',
        resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' }, data: {} }],
      },
      [forger],
    );
    const answer = await call(hub.url, 'POST', '/v1/bundles', { token: hub.adminToken, body: JSON.stringify(forged) });
    expect(answer.status).toBe(400);
    const [entry] = (await page('/v1/audit?action=bundle.publish&outcome=refused&limit=1')).entries;
    expect(entry).toMatchObject({
      actor: { kind: 'user', id: 'admin' },
      reason: answer.body.error.code,
      details: { name: 'app', version: '6.6.6', digest: forged.digest, signers: [keyIdOf(forger.publicKey)] },
    });
  });

  it('a flood of bad tokens adds one entry a minute per kind, and a count of the rest', async () => {
    const before = (await page('/v1/audit?limit=1')).entries[0]!.seq;
    for (let i = 0; i < 200; i++) await call(hub.url, 'GET', '/v1/bundles', { token: `fl_guess_${i}` });
    const during = await all(`/v1/audit?order=asc&action=auth.refused`);
    const added = during.filter((e) => e.seq > before);
    expect(added.length).toBeLessThanOrEqual(1);

    hub.advance(61_000);
    await call(hub.url, 'GET', '/v1/bundles', { token: 'fl_guess_again' });
    const after = (await all('/v1/audit?order=asc&action=auth.refused')).filter((e) => e.seq > before);
    const summary = after.find((e) => e.details['repeats'] !== undefined && e.details['request'] === 'GET /v1/bundles');
    expect(summary).toMatchObject({
      outcome: 'refused',
      reason: 'UNAUTHENTICATED',
      details: { remote: '127.0.0.1', credential: 'api-token' },
    });
    expect(summary!.details['repeats']).toBe(added.length === 1 ? 199 : 200);
    expect(after.length).toBeLessThanOrEqual(3);
  });
});

describe('the refusal recorder keeps the log bounded', () => {
  function recorder(perWindow: number): {
    recorder: RefusalRecorder;
    written: AuditInput[];
    advance: (ms: number) => void;
  } {
    let now = Date.parse('2025-06-01T00:00:00Z');
    const written: AuditInput[] = [];
    return {
      recorder: new RefusalRecorder({ audit: { append: (input) => written.push(input) }, clock: () => now, perWindow }),
      written,
      advance: (ms) => (now += ms),
    };
  }
  const refusal = (remote: string, request = 'GET /v1/targets') => ({
    actor: { kind: 'user' as const, id: 'unknown' },
    action: 'auth.refused',
    reason: 'UNAUTHENTICATED',
    remote,
    details: { credential: 'api-token', request, message: `at ${remote}` },
  });

  it('writes the first of a kind, counts its repeats, and summarizes them when the window closes', () => {
    const { recorder: r, written, advance } = recorder(10);
    for (let i = 0; i < 500; i++) r.refused(refusal('10.0.0.1'));
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      outcome: 'refused',
      details: { remote: '10.0.0.1', request: 'GET /v1/targets' },
    });
    advance(60_000);
    r.flush();
    expect(written).toHaveLength(2);
    expect(written[1]).toMatchObject({
      action: 'auth.refused',
      details: {
        remote: '10.0.0.1',
        repeats: 499,
        firstAt: '2025-06-01T00:00:00.000Z',
        lastAt: '2025-06-01T00:00:00.000Z',
      },
    });
  });

  it('writes at most 2 × perWindow + 1 entries a window however many addresses flood it, and loses no count', () => {
    const { recorder: r, written, advance } = recorder(10);
    for (let i = 0; i < 5000; i++)
      r.refused(refusal(`10.0.${i >> 8}.${i & 255}`, i % 2 === 0 ? 'GET /v1/targets' : 'GET /v1/bundles'));
    for (let i = 0; i < 5000; i++)
      r.refused(refusal(`10.0.${i >> 8}.${i & 255}`, i % 2 === 0 ? 'GET /v1/targets' : 'GET /v1/bundles'));
    advance(60_000);
    r.flush();
    expect(written.length).toBeLessThanOrEqual(21);
    const full = written.filter((e) => e.action === 'auth.refused' && e.details?.['repeats'] === undefined).length;
    const repeats = written.reduce((sum, e) => sum + Number(e.details?.['repeats'] ?? 0), 0);
    const overflow = written.find((e) => e.action === 'audit.refusals-suppressed');
    expect(overflow).toMatchObject({
      actor: { kind: 'system', id: 'audit-rate-limit' },
      reason: 'RATE_LIMITED',
      details: { byAction: { 'auth.refused': expect.any(Number) } },
    });
    expect(full + repeats + Number(overflow!.details!['count'])).toBe(10_000);
  });

  it('writes what it counted when the hub closes', () => {
    const { recorder: r, written } = recorder(10);
    r.refused(refusal('10.0.0.9'));
    r.refused(refusal('10.0.0.9'));
    r.close();
    expect(written.map((e) => e.details?.['repeats'])).toEqual([undefined, 1]);
  });
});

describe('export, checkpoint and verify', () => {
  it('exports JSON Lines that verify offline against the hub key', async () => {
    const { status, type, text } = await exportText();
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/x-ndjson/);
    const result = verifyAuditExport(text, { trustedKeys: [hubKey] });
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ ok: true, trusted: true, elided: 0 });
    // The export records itself before it is written.
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; action?: string });
    expect(lines.filter((l) => l.kind === 'entry').at(-1)).toMatchObject({ action: 'audit.export' });
  });

  it("a filtered export carries only the target's entries in full and still verifies end to end", async () => {
    const [a] = targets;
    const { text } = await exportText(`?target=${a!.id}`);
    const result = verifyAuditExport(text, { trustedKeys: [hubKey] });
    expect(result.ok).toBe(true);
    const entries = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; subjects?: string[] })
      .filter((l) => l.kind === 'entry');
    expect(entries.length).toBeGreaterThanOrEqual(4);
    expect(entries.every((e) => e.subjects!.includes(a!.id))).toBe(true);
    expect(result.elided).toBeGreaterThan(0);

    const byQuery = await exportText(`?q=${encodeURIComponent('tier=silver')}`);
    expect(verifyAuditExport(byQuery.text, { trustedKeys: [hubKey] })).toMatchObject({ ok: true });
    expect(JSON.parse(byQuery.text.split('\n')[0]!)).toMatchObject({ filter: { targets: [targets[2]!.id] } });
  });

  it('an edited export fails, naming the line, seq and kind of the break', async () => {
    const { text } = await exportText();
    const lines = text.split('\n');
    const index = lines.findIndex((l) => l.includes('"action":"target.disable"'));
    const entry = JSON.parse(lines[index]!) as AuditEntry;
    lines[index] = lines[index]!.replace('"reason":"test disable"', '"reason":"nothing to see"');
    const result = verifyAuditExport(lines.join('\n'), { trustedKeys: [hubKey] });
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toMatchObject({ kind: 'hash-mismatch', line: index + 1, seq: entry.seq });
  });

  it('refuses an export to viewers, and bad parameters before anything is streamed', async () => {
    expect((await call(hub.url, 'GET', '/v1/audit/export', { token: viewerToken })).status).toBe(403);
    const bad = await call(hub.url, 'GET', '/v1/audit/export?until=soon', { token: hub.adminToken });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/until/);
  });

  it('signs a checkpoint on request, over the head, with the hub key', async () => {
    const answer = await call(hub.url, 'POST', '/v1/audit/checkpoints', { token: hub.adminToken });
    expect(answer.status).toBe(201);
    const signed = answer.body as SignedAuditCheckpoint;
    expect(verifyPayload('audit-checkpoint', signed.checkpoint, signed.signature, hubKey.publicKey)).toBe(true);
    const [head] = (await page('/v1/audit?limit=1')).entries;
    expect(head).toMatchObject({
      seq: signed.checkpoint.seq,
      hash: signed.checkpoint.hash,
      action: 'audit.checkpoint',
      actor: { id: 'admin' },
    });
  });

  it('verifies the stored chain on the server', async () => {
    const answer = await call(hub.url, 'GET', '/v1/audit/verify', { token: hub.adminToken });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ ok: true, trusted: true, problems: [] });
    expect(answer.body.checkpoints).toBeGreaterThanOrEqual(2);
  });
});

describe('retention', () => {
  it('refuses a prune that would keep less than a day', async () => {
    const answer = await call(hub.url, 'POST', '/v1/audit/prune', {
      token: hub.adminToken,
      body: JSON.stringify({ olderThanSeconds: 3600 }),
    });
    expect(answer.status).toBe(400);
    const both = await call(hub.url, 'POST', '/v1/audit/prune', {
      token: hub.adminToken,
      body: JSON.stringify({ olderThanSeconds: 86400, before: '2020-01-01T00:00:00Z' }),
    });
    expect(both.status).toBe(400);
    expect(both.body.error.message).toMatch(/exactly one/);
  });

  it('prunes by age behind a signed anchor; what remains verifies on the server and offline', async () => {
    const [a] = targets;
    const head = (await page('/v1/audit?limit=1')).entries[0]!.seq;
    hub.advance(100 * 86_400_000);
    expect(
      (await call(hub.url, 'POST', `/v1/targets/${a!.id}/disable`, { token: hub.adminToken, body: '{}' })).status,
    ).toBe(200);

    const answer = await call(hub.url, 'POST', '/v1/audit/prune', {
      token: hub.adminToken,
      body: JSON.stringify({ olderThanSeconds: 90 * 86_400 }),
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ removed: head, anchor: { checkpoint: { seq: head } } });

    const remaining = await all('/v1/audit?order=asc');
    expect(remaining[0]!.seq).toBe(head + 1);
    expect(remaining.at(-1)).toMatchObject({
      action: 'audit.prune',
      actor: { kind: 'user', id: 'admin' },
      details: { removed: head, throughSeq: head },
    });
    expect((await page(`/v1/targets/${a!.id}/history`)).entries.map((e) => e.action)).toEqual(['target.disable']);

    expect((await call(hub.url, 'GET', '/v1/audit/verify', { token: hub.adminToken })).body).toMatchObject({
      ok: true,
    });
    const { text } = await exportText();
    const result = verifyAuditExport(text, { trustedKeys: [hubKey] });
    expect(result.problems).toEqual([]);
    expect(JSON.parse(text.split('\n')[0]!)).toMatchObject({ base: { seq: head } });
  });
});

describe('hub settings for the audit trail', () => {
  it.each([
    [{}, {}, 300],
    [{ checkpointInterval: '5m' }, {}, 300],
    [{ checkpointInterval: '90' }, {}, 90],
    [{}, { FLOTILLA_AUDIT_CHECKPOINT_SECONDS: '60' }, 60],
    [{ checkpointInterval: '0' }, {}, 0],
  ])('checkpoint interval %j %j is %i seconds', (flags, env, seconds) => {
    expect(serveConfig(flags, env).checkpointInterval).toBe(seconds);
  });

  it('refuses a checkpoint interval it cannot use, naming it', () => {
    expect(() => serveConfig({ checkpointInterval: 'soon' }, {})).toThrow(/checkpointInterval/);
    expect(() => serveConfig({ checkpointInterval: '2d' }, {})).toThrow(/checkpointInterval/);
    expect(() => serveConfig({}, { FLOTILLA_AUDIT_RETENTION_DAYS: '0' })).toThrow(/auditRetentionDays/);
    expect(serveConfig({}, { FLOTILLA_AUDIT_RETENTION_DAYS: '90' }).auditRetentionDays).toBe(90);
  });

  it('signs the head on the interval while it moves, and once more at shutdown', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-audit-interval-'));
    try {
      const { hub: local } = await openHub({
        dataDir: dir,
        log: pino({ level: 'silent' }),
        checkpointIntervalMs: 60_000,
      });
      const audit = local.services.audit;
      const reader = new Database(join(dir, 'hub.db'), { readonly: true });
      const checkpoints = (): number =>
        (reader.prepare('SELECT count(*) AS n FROM audit_checkpoints').get() as { n: number }).n;
      audit.append({ actor: { kind: 'system', id: 'test' }, action: 'test.one' });
      expect(checkpoints()).toBe(0);
      vi.advanceTimersByTime(60_000);
      expect(checkpoints()).toBe(1);
      vi.advanceTimersByTime(60_000);
      expect(checkpoints()).toBe(1);
      audit.append({ actor: { kind: 'system', id: 'test' }, action: 'test.two' });
      await local.close();
      expect(reader.prepare('SELECT seq, reason FROM audit_checkpoints ORDER BY id').all()).toEqual([
        { seq: 1, reason: 'interval' },
        { seq: 2, reason: 'interval' },
      ]);
      reader.close();
    } finally {
      vi.useRealTimers();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prunes past the retention period when it starts, and what remains verifies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-audit-retention-'));
    let now = Date.parse('2025-01-01T00:00:00Z');
    const clock = (): number => now;
    try {
      const first = await openHub({ dataDir: dir, log: pino({ level: 'silent' }), clock });
      for (let i = 0; i < 5; i++)
        first.hub.services.audit.append({ actor: { kind: 'system', id: 'test' }, action: 'test.old' });
      await first.hub.close();
      now += 40 * 86_400_000;
      const second = await openHub({
        dataDir: dir,
        log: pino({ level: 'silent' }),
        clock,
        auditRetentionMs: 30 * 86_400_000,
      });
      const audit = second.hub.services.audit;
      const entries = audit.query({}, { order: 'asc' }).entries;
      expect(entries.map((e) => e.action)).toEqual(['audit.prune']);
      expect(entries[0]).toMatchObject({ actor: { kind: 'system', id: 'audit-retention' } });
      expect(audit.verify()).toMatchObject({ ok: true });
      expect(
        verifyAuditExport(audit.export(), { trustedKeys: keysWithRole(second.hub.services.trust.trustRoot, 'hub') }),
      ).toMatchObject({ ok: true });
      await second.hub.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
