import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../packages/hub/test/support.ts';

/**
 * Every route the hub registers, hit with the bodies an adversary or a broken client sends:
 * nested far past any limit, larger than any limit, malformed, and in the wrong media type.
 * Each must be refused with a 4xx and a stable code (a route that reads no body may answer as
 * usual), never a 500; the hub must stay healthy and its database must not change.
 */

let hub: TestHub;
let agent: ProtocolAgent;
/** The agent's access token, taken before any snapshot: taking one records its `jti`. */
let agentToken: string;

beforeAll(async () => {
  hub = await startTestHub();
  const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 1 }),
  });
  agent = new ProtocolAgent(hub);
  await agent.enroll(created.body.token as string, 'fuzzed', hub.now());
  agentToken = await agent.accessToken(hub.now());
});

afterAll(async () => {
  await hub?.close();
});

const DEPTH = 20_000;
/** Above every body limit of the hub (16 MB for bundles). */
const OVER_EVERY_LIMIT = 17 * 1024 * 1024;

interface Body {
  readonly name: string;
  readonly contentType: string | undefined;
  readonly text: string;
}

const BODIES: readonly Body[] = [
  {
    name: 'objects nested 20,000 deep',
    contentType: 'application/json',
    text: `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`,
  },
  {
    name: 'arrays nested 20,000 deep',
    contentType: 'application/json',
    text: `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`,
  },
  {
    name: 'a field nested 20,000 deep',
    contentType: 'application/json',
    text: `{"maxUses":1,"labels":${'{"a":'.repeat(DEPTH)}"x"${'}'.repeat(DEPTH)}}`,
  },
  {
    name: 'YAML nested 20,000 deep',
    contentType: 'application/yaml',
    text: `rules: ${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}\n`,
  },
  { name: 'a 2 MB string', contentType: 'application/json', text: `{"pad":"${'x'.repeat(2 * 1024 * 1024)}"}` },
  {
    name: 'a body over every limit',
    contentType: 'application/json',
    text: `{"pad":"${'x'.repeat(OVER_EVERY_LIMIT)}"}`,
  },
  { name: 'malformed JSON', contentType: 'application/json', text: '{"maxUses":1,' },
  { name: 'JSON sent as text/plain', contentType: 'text/plain', text: '{"maxUses":1}' },
  { name: 'JSON declared as UTF-16', contentType: 'application/json; charset=utf-16', text: '{"maxUses":1}' },
  { name: 'a form', contentType: 'application/x-www-form-urlencoded', text: 'maxUses=1' },
  { name: 'JSON without a content type', contentType: undefined, text: '{"maxUses":1}' },
];

/** A concrete path for a registered pattern: the enrolled target for `:id` of targets, else a well-formed id. */
function concrete(path: string): string {
  return path
    .replace('/v1/targets/:id', `/v1/targets/${agent.targetId}`)
    .replace('/v1/rollouts/:id', `/v1/rollouts/ro_${'0'.repeat(16)}`)
    .replace(':digest', `sha256:${'0'.repeat(64)}`)
    .replace(':version', '1')
    .replace(':file', 'index.js')
    .replace(':id', 'nothing-here');
}

async function send(
  method: string,
  path: string,
  token: string,
  body: Body,
): Promise<{ status: number; body: any; type: string }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body.contentType !== undefined) headers['content-type'] = body.contentType;
  const response = await request(`${hub.url}${path}`, { method: method as 'POST', headers, body: body.text });
  const type = String(response.headers['content-type'] ?? '');
  // A stream (the dashboard's live events) never ends by itself: its status is the answer.
  if (type.startsWith('text/event-stream')) {
    response.body.destroy();
    return { status: response.statusCode, body: undefined, type };
  }
  const text = await response.body.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: a page or an asset
  }
  return { status: response.statusCode, body: parsed, type };
}

/** Every row of every table, hashed per table: what "nothing was written" is checked against. */
function snapshot(): Record<string, string> {
  const db = new Database(join(hub.dataDir, 'hub.db'), { readonly: true });
  try {
    const tables = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
      .all() as { name: string }[];
    return Object.fromEntries(
      tables.map(({ name }) => {
        const rows = db.prepare(`SELECT * FROM "${name}"`).raw().all();
        const hash = createHash('sha256')
          .update(
            JSON.stringify(rows, (_k, v: unknown) =>
              Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'bigint' ? String(v) : v,
            ),
          )
          .digest('hex');
        return [name, `${rows.length}:${hash}`];
      }),
    );
  } finally {
    db.close();
  }
}

/** Methods whose routes read a body; a GET or a DELETE reads none. */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** Sends every fuzzed body to each route; returns what broke the rule `acceptable`. */
async function fuzz(
  routes: readonly { method: string; path: string }[],
  acceptable: (answer: { status: number; body: any; type: string }) => boolean,
): Promise<string[]> {
  const failures: string[] = [];
  for (const route of routes) {
    const token = route.path === '/v1/targets/:id/reports' ? agentToken : hub.adminToken;
    for (const body of BODIES) {
      const answer = await send(route.method, concrete(route.path), token, body);
      if (!acceptable(answer))
        failures.push(
          `${route.method} ${route.path} with ${body.name}: ${answer.status} ${JSON.stringify(answer.body)?.slice(0, 200)}`,
        );
    }
  }
  return failures;
}

const stableCode = (body: any): boolean => ErrorCode.safeParse(body?.error?.code).success;

async function expectHealthy(): Promise<void> {
  expect((await call(hub.url, 'GET', '/v1/health')).status).toBe(200);
  expect((await call(hub.url, 'GET', '/v1/ready')).status).toBe(200);
  const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
    token: hub.adminToken,
    body: JSON.stringify({ maxUses: 1 }),
  });
  expect(created.status).toBe(201);
}

describe('every route, fuzzed with deep, huge and mistyped bodies', () => {
  it('a route that reads a body refuses each with a 4xx and a stable code, and nothing is written', async () => {
    const routes = hub.opened.hub.routes.filter((r) => WITH_BODY.has(r.method));
    expect(routes.length).toBeGreaterThan(15);
    const before = snapshot();
    expect(await fuzz(routes, (a) => a.status >= 400 && a.status < 500 && stableCode(a.body))).toEqual([]);
    expect(snapshot()).toEqual(before);
    await expectHealthy();
  });

  it('a route that reads none answers as it would without one, never with a 500', async () => {
    // Some of these act (an export is audited, a reset is a change), so writes are not checked here.
    const routes = hub.opened.hub.routes.filter((r) => !WITH_BODY.has(r.method));
    expect(routes.length).toBeGreaterThan(15);
    const failures = await fuzz(
      routes,
      (a) => a.status < 500 && (a.status < 400 || !a.type.startsWith('application/json') || stableCode(a.body)),
    );
    expect(failures).toEqual([]);
    await expectHealthy();
  });
});
