import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { request } from 'undici';
import { API_VERSION, generateKeyPair, signBundle } from '@flotilla/protocol';
import { openHub, type OpenedHub } from '../../../src/open-hub.ts';
import { createPostgresDatabase, postgresAvailable } from '../../store-kinds.ts';
import { call, ProtocolAgent, type TestHub } from '../../support.ts';

/** One replica: a hub on the shared database, with its own data directory holding the shared keys. */
interface Replica {
  readonly url: string;
  readonly opened: OpenedHub;
  close(): Promise<void>;
}

/**
 * Two hub replicas in this process on one PostgreSQL database: what one commits reaches the
 * other's caches, indexes, long-polls and token checks (replicas/replica-caches.ts).
 */
describe.skipIf(!postgresAvailable())('two replicas keeping their caches in step', () => {
  const database = postgresAvailable() ? createPostgresDatabase() : undefined;
  // A skipped describe still runs its body: the folder is made only when its tests run.
  let dir: string;
  let a: Replica;
  let b: Replica;
  let admin: string;
  let agent: ProtocolAgent;

  async function replica(name: string): Promise<Replica> {
    const dataDir = join(dir, name);
    // A wave's members wait an hour for a batch: only their agents' fetches issue their envelopes here.
    const opened = await openHub({
      dataDir,
      database: database!.url,
      log: pino({ level: 'silent' }),
      rolloutIssueDelayMs: 3_600_000,
    });
    const url = await opened.hub.listen(0);
    return { url, opened, close: () => opened.hub.close() };
  }

  async function ok(hub: Replica, method: string, path: string, body?: unknown): Promise<any> {
    const answer = await call(hub.url, method, path, {
      token: admin,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-replicas-'));
    a = await replica('a');
    admin = a.opened.createdAdminToken!;
    mkdirSync(join(dir, 'b', 'keys'), { recursive: true, mode: 0o700 });
    for (const file of ['hub.json', 'root.json'])
      copyFileSync(join(dir, 'a', 'keys', file), join(dir, 'b', 'keys', file));
    b = await replica('b');
    const { token } = await ok(a, 'POST', '/v1/enrollment-tokens', {
      maxUses: 5,
      ttlSeconds: 600,
      labels: { site: 'lyon' },
    });
    // The agent only calls its hub's URL: here, the second replica's.
    agent = new ProtocolAgent({ url: b.url } as TestHub);
    await agent.enroll(token as string, 'edge-1', Date.now());
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds a target by a label set through the other replica', async () => {
    // Built before the change: the other replica's index must take it in.
    expect((await ok(b, 'GET', '/v1/targets?q=site%3Dparis')).total).toBe(0);
    await ok(a, 'PATCH', `/v1/targets/${agent.targetId}/labels`, { set: { site: 'paris' } });
    expect((await ok(b, 'GET', '/v1/targets?q=site%3Dparis')).items.map((t: { id: string }) => t.id)).toEqual([
      agent.targetId,
    ]);
  });

  it('answers a long-poll it holds when the other replica assigns a release', async () => {
    const key = generateKeyPair();
    await ok(a, 'POST', '/v1/trust-root/release-keys', { publicKey: key.publicKey, name: 'replicas' });
    const bundle = signBundle(
      {
        apiVersion: API_VERSION,
        kind: 'Bundle',
        name: 'app',
        version: '1.0.0',
        resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: {} }],
      },
      [key],
    );
    await ok(a, 'POST', '/v1/bundles', bundle);
    const authorization = `Bearer ${await agent.accessToken(Date.now())}`;
    const envelope = `${b.url}/v1/targets/${agent.targetId}/envelope`;
    const first = await request(`${envelope}?wait=0`, { headers: { authorization } });
    await first.body.dump();
    const etag = String(first.headers['etag']);
    // Longer than the test may take: only a wake-up answers it in time.
    const poll = request(`${envelope}?wait=60`, {
      headers: { authorization, 'if-none-match': etag },
      headersTimeout: 90_000,
    });
    let answered = false;
    void poll.then(() => {
      answered = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(false);
    await ok(a, 'POST', `/v1/targets/${agent.targetId}/assign`, { bundles: ['app@1.0.0'] });
    const answer = await poll;
    expect(answer.statusCode).toBe(200);
    const body = (await answer.body.json()) as { envelope: { bundles: { version: string }[] } };
    expect(body.envelope.bundles.map((r) => r.version)).toEqual(['1.0.0']);
  });

  it("wakes a member's long-poll on the other replica when a wave takes it in, and issues its envelope there", async () => {
    const key = generateKeyPair();
    await ok(a, 'POST', '/v1/trust-root/release-keys', { publicKey: key.publicKey, name: 'rollouts' });
    for (const version of ['2.0.0', '3.0.0']) await ok(a, 'POST', '/v1/bundles', appBundle(version, key));
    await ok(a, 'PATCH', `/v1/targets/${agent.targetId}/labels`, { set: { ring: 'one' } });
    const authorization = `Bearer ${await agent.accessToken(Date.now())}`;
    const envelope = `${b.url}/v1/targets/${agent.targetId}/envelope`;
    const first = await request(`${envelope}?wait=0`, { headers: { authorization } });
    const before = ((await first.body.json()) as { envelope: { generation: number } }).envelope.generation;
    // Longer than the test may take: only a wake-up answers it in time.
    const poll = request(`${envelope}?wait=60`, {
      headers: { authorization, 'if-none-match': String(first.headers['etag']) },
      headersTimeout: 90_000,
    });
    const rollout = await ok(a, 'POST', '/v1/rollouts', {
      release: 'app@2.0.0',
      selector: 'ring=one',
      waves: 'all:100%',
    });
    const answer = await poll;
    expect(answer.statusCode).toBe(200);
    const body = (await answer.body.json()) as { envelope: { generation: number; bundles: { version: string }[] } };
    expect(body.envelope).toMatchObject({ generation: before + 1, bundles: [{ version: '2.0.0' }] });

    // Fetches on both replicas at once: the write lock lets one issue, and the other finds it issued.
    await ok(a, 'POST', `/v1/rollouts/${rollout.rollout.id as string}/abort`, {});
    await ok(a, 'POST', '/v1/rollouts', { release: 'app@3.0.0', selector: 'ring=one', waves: 'all:100%' });
    const both = await Promise.all(
      [a, b].map(async (replica) => {
        const fetched = await request(`${replica.url}/v1/targets/${agent.targetId}/envelope?wait=0`, {
          headers: { authorization },
        });
        return ((await fetched.body.json()) as { envelope: { generation: number } }).envelope.generation;
      }),
    );
    expect(both).toEqual([before + 2, before + 2]);
    expect((await ok(a, 'GET', `/v1/targets/${agent.targetId}`)).desired.generation).toBe(before + 2);
  });

  it('refuses an operator token the other replica revoked', async () => {
    const created = await ok(a, 'POST', '/v1/tokens', { name: 'ci', role: 'viewer' });
    const viewer = created.token as string;
    expect((await call(b.url, 'GET', '/v1/targets', { token: viewer })).status).toBe(200);
    await ok(a, 'DELETE', `/v1/tokens/${created.id as string}`);
    expect((await call(b.url, 'GET', '/v1/targets', { token: viewer })).status).toBe(401);
  });

  it('refuses the agent of a target the other replica revoked', async () => {
    const token = await agent.accessToken(Date.now());
    expect((await call(b.url, 'GET', `/v1/targets/${agent.targetId}/envelope?wait=0`, { token })).status).toBe(200);
    await ok(a, 'POST', `/v1/targets/${agent.targetId}/revoke`, { reason: 'stolen' });
    expect((await call(b.url, 'GET', `/v1/targets/${agent.targetId}/envelope?wait=0`, { token })).status).toBe(403);
  });
});

/** A release `app` at `version`, signed with `key`. */
function appBundle(version: string, key: ReturnType<typeof generateKeyPair>): unknown {
  return signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'app',
      version,
      resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: {} }],
    },
    [key],
  );
}
