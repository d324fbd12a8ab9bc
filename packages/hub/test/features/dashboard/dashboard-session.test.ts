import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { hashSecret } from '../../../src/features/identity/identity-service.ts';
import { startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;
let assets: string;
let viewerToken: string;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: any;
}

async function send(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await request(`${hub.url}${path}`, {
    method: (options.method ?? 'GET') as 'GET',
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, headers: response.headers, text, body };
}

/** Signs in with a token; returns the Cookie header and the CSRF token. */
async function signIn(token: string): Promise<{ cookie: string; csrf: string; answer: Answer }> {
  const answer = await send('/v1/session', { method: 'POST', body: { token } });
  const setCookie = String(answer.headers['set-cookie'] ?? '');
  return { cookie: setCookie.split(';')[0]!, csrf: answer.body?.csrfToken, answer };
}

beforeAll(async () => {
  assets = mkdtempSync(join(tmpdir(), 'flotilla-dashboard-assets-'));
  mkdirSync(join(assets, 'assets'));
  writeFileSync(
    join(assets, 'index.html'),
    '<!doctype html><html><head><script type="module" src="/assets/app-1234.js"></script></head><body></body></html>',
  );
  writeFileSync(join(assets, 'assets', 'app-1234.js'), 'console.log("dashboard");'.repeat(50));
  hub = await startTestHub({ dashboardDir: assets });
  viewerToken = 'fl_viewer_test_token_0123456789';
  // No API creates operator tokens yet: the viewer's goes into the hub's database as the hub would write it.
  const db = new Database(join(hub.dataDir, 'hub.db'));
  db.prepare(
    'INSERT INTO api_tokens (id, name, token_hash, role, selector, created_at) VALUES (?, ?, ?, ?, NULL, ?)',
  ).run('tok_viewer', 'vera', hashSecret(viewerToken), 'viewer', hub.now());
  db.close();
});

afterAll(async () => {
  await hub.close();
  rmSync(assets, { recursive: true, force: true });
});

describe('the dashboard pages', () => {
  it('serves the page shell at / and at every page route, under a strict Content-Security-Policy', async () => {
    for (const path of ['/', '/targets', '/targets/tgt_00000000000000000000', '/rollouts/ro_1', '/audit?q=x']) {
      const answer = await send(path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
      const csp = String(answer.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('serves hashed assets gzip-compressed and cacheable forever, with an ETag that revalidates', async () => {
    const answer = await request(`${hub.url}/assets/app-1234.js`, { headers: { 'accept-encoding': 'gzip' } });
    await answer.body.arrayBuffer();
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-encoding']).toBe('gzip');
    expect(answer.headers['cache-control']).toContain('immutable');
    const again = await send('/assets/app-1234.js', { headers: { 'if-none-match': String(answer.headers['etag']) } });
    expect(again.status).toBe(304);
  });

  it('answers 404 with an error body for a file that is not part of the build', async () => {
    const answer = await send('/assets/..%2Findex.html');
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('NOT_FOUND');
  });

  it('explains how to build the dashboard when its files are missing', async () => {
    const bare = await startTestHub({ dashboardDir: join(assets, 'nowhere') });
    try {
      const answer = await request(`${bare.url}/`);
      const text = await answer.body.text();
      expect(answer.statusCode).toBe(503);
      expect(text).toContain('npm run build -w @flotilla/dashboard');
    } finally {
      await bare.close();
    }
  });
});

describe('dashboard sign-in', () => {
  it('exchanges an API token for an HttpOnly, SameSite=Strict session cookie and never returns the token', async () => {
    const { answer, cookie } = await signIn(hub.adminToken);
    expect(answer.status).toBe(201);
    const setCookie = String(answer.headers['set-cookie']);
    expect(setCookie).toMatch(/^flotilla_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).not.toContain('Secure');
    expect(answer.body).toMatchObject({ name: 'admin', role: 'admin' });
    expect(answer.text).not.toContain(hub.adminToken);
    const me = await send('/v1/session', { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(me.body.role).toBe('admin');
  });

  it('marks the cookie Secure when the hub is reached over TLS through a proxy', async () => {
    const answer = await send('/v1/session', {
      method: 'POST',
      body: { token: hub.adminToken },
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(String(answer.headers['set-cookie'])).toContain('; Secure');
  });

  it('refuses an unknown token with 401 and records the refusal in the audit trail', async () => {
    const { answer } = await signIn('fl_admin_not-a-real-token-at-all');
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('UNAUTHENTICATED');
    hub.opened.hub.services.dashboard.events.pollAudit();
    const audit = await send('/v1/audit?action=auth.refused&limit=1', {
      headers: { authorization: `Bearer ${hub.adminToken}` },
    });
    expect(audit.body.entries[0].details.request).toBe('POST /v1/session');
  });

  it('refuses a sign-in posted from another origin', async () => {
    const answer = await send('/v1/session', {
      method: 'POST',
      body: { token: hub.adminToken },
      headers: { origin: 'https://evil.example' },
    });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('CSRF_TOKEN_INVALID');
  });

  it('lets a cookie read the API, as the token it stands for', async () => {
    const { cookie } = await signIn(viewerToken);
    const answer = await send('/v1/targets', { headers: { cookie } });
    expect(answer.status).toBe(200);
  });

  it('refuses a state change by cookie without the CSRF token, and accepts it with it', async () => {
    const { cookie, csrf } = await signIn(hub.adminToken);
    const body = { maxUses: 1, labels: {} };
    const without = await send('/v1/enrollment-tokens', { method: 'POST', body, headers: { cookie } });
    expect(without.status).toBe(403);
    expect(without.body.error.code).toBe('CSRF_TOKEN_INVALID');
    const wrong = await send('/v1/enrollment-tokens', {
      method: 'POST',
      body,
      headers: { cookie, 'x-flotilla-csrf': `${csrf.slice(0, -1)}x` },
    });
    expect(wrong.status).toBe(403);
    const crossSite = await send('/v1/enrollment-tokens', {
      method: 'POST',
      body,
      headers: { cookie, 'x-flotilla-csrf': csrf, origin: 'http://attacker.test' },
    });
    expect(crossSite.status).toBe(403);
    const good = await send('/v1/enrollment-tokens', {
      method: 'POST',
      body,
      headers: { cookie, 'x-flotilla-csrf': csrf, origin: hub.url },
    });
    expect(good.status).toBe(201);
  });

  it('keeps a viewer session a viewer: deploy actions are refused by the API', async () => {
    const { cookie, csrf } = await signIn(viewerToken);
    const answer = await send('/v1/rollouts/ro_0000000000000000/pause', {
      method: 'POST',
      headers: { cookie, 'x-flotilla-csrf': csrf },
    });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('FORBIDDEN');
  });

  it('signs out: the cookie is cleared and no longer authenticates', async () => {
    const { cookie, csrf } = await signIn(hub.adminToken);
    const out = await send('/v1/session', { method: 'DELETE', headers: { cookie, 'x-flotilla-csrf': csrf } });
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    const after = await send('/v1/targets', { headers: { cookie } });
    expect(after.status).toBe(401);
    const me = await send('/v1/session', { headers: { cookie } });
    expect(me.status).toBe(401);
  });

  it('leaves a request with a bearer token alone, cookie or not: no CSRF token is needed', async () => {
    const { cookie } = await signIn(viewerToken);
    const answer = await send('/v1/enrollment-tokens', {
      method: 'POST',
      body: { maxUses: 1, labels: {} },
      headers: { cookie, authorization: `Bearer ${hub.adminToken}` },
    });
    expect(answer.status).toBe(201);
  });

  it('ignores a forged session cookie', async () => {
    const answer = await send('/v1/targets', {
      headers: { cookie: 'flotilla_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    expect(answer.status).toBe(401);
  });
});
