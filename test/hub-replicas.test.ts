import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { API_VERSION, generateKeyPair, messageOf, signBundle, type Resource } from '@flotilla/protocol';
import { SimAgent, Slots, type SimContext } from '../scripts/sim/sim-agent.ts';
import { createPostgresDatabase, postgresAvailable } from '../packages/hub/test/store-kinds.ts';
import { api } from './fixtures/hub-fixture.ts';
import { spawnHubProcess, startHubProcess, type HubProcess, type RunningProcess } from './fixtures/processes.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

const AGENTS = 200;
const REPLICAS = 3;
const WAVES = ['canary', 'early', 'rest'];

/** A group of simulated agents talking to one replica; moved to another when that one dies. */
interface Group {
  replica: number;
  readonly ctx: { -readonly [K in keyof SimContext]: SimContext[K] };
  readonly agents: SimAgent[];
}

function pools(url: string, agents: number): Pick<SimContext, 'calls' | 'polls'> {
  return {
    calls: new Pool(url, { connections: 16, keepAliveTimeout: 60_000 }),
    polls: new Pool(url, { connections: agents, keepAliveTimeout: 60_000, headersTimeout: 90_000 }),
  };
}

interface AuditEntry {
  readonly action: string;
  readonly details?: { readonly rollout?: string; readonly waveName?: string };
}

/**
 * Issue #18, first test: three hub replicas (separate `flotilla hub serve` processes sharing one
 * PostgreSQL database and the same keys) with 200 simulated agents spread over them, a rollout
 * in waves, and the replica holding the lease killed with SIGKILL in the middle of a wave.
 * Agents take one hub URL each here: those of the dead replica are pointed at a live one, as
 * an agent given several URLs moves by itself.
 */
describe.skipIf(!postgresAvailable())('three hub replicas on one PostgreSQL database', () => {
  const database = postgresAvailable() ? createPostgresDatabase() : undefined;
  const dirs = Array.from({ length: REPLICAS }, () => tempDir('flotilla-replica-'));
  const hubs: (HubProcess | undefined)[] = [];
  const groups: Group[] = [];
  const abort = new AbortController();
  let errors = 0;

  beforeAll(async () => {
    const env = { FLOTILLA_DATABASE_URL: database!.url };
    hubs[0] = await startHubProcess({ dataDir: dirs[0]!.path, env });
    // Replicas share the hub key and the root key: any of them accepts a token another issued.
    for (const dir of dirs.slice(1)) {
      mkdirSync(join(dir.path, 'keys'), { recursive: true, mode: 0o700 });
      for (const file of ['hub.json', 'root.json'])
        copyFileSync(join(dirs[0]!.path, 'keys', file), join(dir.path, 'keys', file));
    }
    const others = await Promise.all(
      dirs.slice(1).map(async (dir) => {
        const child = spawnHubProcess({ dataDir: dir.path, env });
        const listening = await child.waitForLog('hub listening');
        return { ...child, url: String(listening['url']) };
      }),
    );
    others.forEach((hub, i) => {
      hubs[i + 1] = { ...hub, port: Number(new URL(hub.url).port), adminToken: hubs[0]!.adminToken };
    });
  }, 60_000);

  afterAll(async () => {
    abort.abort();
    await Promise.all(groups.flatMap((g) => [g.ctx.calls.destroy(), g.ctx.polls.destroy()]));
    await Promise.all(hubs.filter((hub) => hub !== undefined).map((hub) => hub.kill('SIGKILL')));
    database?.drop();
    for (const dir of dirs) dir.remove();
  });

  const admin = () => hubs[0]!.adminToken;
  const alive = () => hubs.filter((hub): hub is HubProcess => hub?.alive() === true);

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const hub = alive()[0]!;
    const answer = await api<T>(hub.url, method, path, { token: admin(), ...(body === undefined ? {} : { body }) });
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  async function leader(): Promise<number> {
    return waitFor('a replica to hold the lease', () => {
      const holders = hubs
        .map((hub, i) => ({ hub, i }))
        .filter(({ hub }) => hub?.alive() === true)
        .map(({ hub, i }) => {
          const took = hub!.logs.filter((l) => l.msg === 'this replica took the lease').length;
          const lost = hub!.logs.filter((l) => l.msg === 'this replica lost the lease').length;
          return took > lost ? i : undefined;
        })
        .filter((i) => i !== undefined);
      return holders.length === 1 ? holders[0] : undefined;
    });
  }

  it('completes a rollout in waves when the leading replica is killed mid-wave, each step once', async () => {
    const key = generateKeyPair();
    await call('POST', '/v1/trust-root/release-keys', { publicKey: key.publicKey, name: 'replicas' });
    const resources: Resource[] = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: { v: '2' } },
    ];
    const published = await call<{ digest: string }>(
      'POST',
      '/v1/bundles',
      signBundle({ apiVersion: API_VERSION, kind: 'Bundle', name: 'app', version: '2.0.0', resources }, [key]),
    );
    const { token } = await call<{ token: string }>('POST', '/v1/enrollment-tokens', {
      maxUses: AGENTS,
      ttlSeconds: 600,
      labels: { fleet: 'replicas' },
    });

    // Agents spread over the replicas, each enrolling and polling through its own.
    for (let r = 0; r < REPLICAS; r++) {
      const count = Math.floor(AGENTS / REPLICAS) + (r < AGENTS % REPLICAS ? 1 : 0);
      const url = hubs[r]!.url;
      const ctx = {
        url,
        ...pools(url, count),
        tokenSlots: new Slots(16),
        transport: 'long-poll' as const,
        // Longer than the whole rollout: an agent hears of its new envelope only by being woken,
        // by whichever replica issued it.
        waitSeconds: 50,
        reconnectWindowMs: 1000,
        error: (agent: string, error: unknown) => {
          errors++;
          if (errors <= 3) process.stderr.write(`sim agent ${agent}: ${messageOf(error)}\n`);
        },
      };
      const agents = Array.from({ length: count }, (_, i) => new SimAgent(`r${r}-${i}`, ctx));
      groups.push({ replica: r, ctx, agents });
    }
    await Promise.all(
      groups.map(async (group) => {
        for (const agent of group.agents) await agent.enroll(token);
      }),
    );
    for (const group of groups) for (const agent of group.agents) void agent.run(abort.signal);

    const first = await leader();
    const { rollout } = await call<{ rollout: { id: string } }>('POST', '/v1/rollouts', {
      release: 'app@2.0.0',
      selector: 'fleet=replicas',
      waves: 'canary:5%,early:30%,rest:100%',
      bake: '2s',
    });
    const view = () =>
      call<{ state: string; currentWave: { index: number } | null }>('GET', `/v1/rollouts/${rollout.id}?members=none`);
    // Mid-wave: the second wave started, its members are being issued and are reporting.
    await waitFor(
      'the second wave to start',
      async () => (((await view()).currentWave?.index ?? 0) >= 1 ? true : undefined),
      30_000,
      100,
    );
    const killedAt = performance.now();
    await hubs[first]!.kill('SIGKILL');
    const survivor = alive()[0]!;
    for (const group of groups.filter((g) => g.replica === first)) {
      const old = [group.ctx.calls, group.ctx.polls];
      Object.assign(group.ctx, { url: survivor.url, ...pools(survivor.url, group.agents.length) });
      group.replica = hubs.indexOf(survivor);
      void Promise.all(old.map((pool) => pool.destroy()));
    }
    const next = await leader();
    expect(next).not.toBe(first);
    const failoverS = (performance.now() - killedAt) / 1000;

    await waitFor(
      'the rollout to complete',
      async () => {
        const state = (await view()).state;
        if (state !== 'running' && state !== 'completed') throw new Error(`the rollout stopped: ${state}`);
        return state === 'completed' ? true : undefined;
      },
      45_000,
      250,
    );

    const page = await call<{ entries: AuditEntry[] }>('GET', `/v1/audit?action=rollout.*&limit=1000&order=asc`);
    const steps = page.entries
      .filter((e) => e.details?.rollout === rollout.id)
      .map((e) => `${e.action}${e.details?.waveName === undefined ? '' : ` ${e.details.waveName}`}`);
    expect(steps).toEqual([
      'rollout.create',
      ...WAVES.flatMap((wave, i) =>
        i + 1 < WAVES.length
          ? [`rollout.wave.start ${wave}`, `rollout.wave.complete ${wave}`]
          : [`rollout.wave.start ${wave}`, `rollout.wave.complete ${wave}`, 'rollout.complete'],
      ),
    ]);
    const verified = await call<{ ok: boolean; problems: unknown[] }>('GET', '/v1/audit/verify');
    expect(verified).toMatchObject({ ok: true });
    const stale = groups.flatMap((g) => g.agents).filter((a) => a.applied !== published.digest);
    expect(stale.map((a) => a.name)).toEqual([]);
    expect(groups.every((g) => g.replica !== first)).toBe(true);
    process.stderr.write(
      `replicas: failover to replica ${next} took ${failoverS.toFixed(1)} s; agent errors ${errors}\n`,
    );
  }, 90_000);
});

describe.skipIf(!postgresAvailable())('replicas starting together on a new database', () => {
  const database = postgresAvailable() ? createPostgresDatabase() : undefined;
  const dirs = Array.from({ length: 2 }, () => tempDir('flotilla-replica-'));
  const hubs: RunningProcess[] = [];

  afterAll(async () => {
    await Promise.all(hubs.map((hub) => hub.kill('SIGKILL')));
    database?.drop();
    for (const dir of dirs) dir.remove();
  });

  it('make one hub id and one trust root, which every replica serves', async () => {
    const keys = { 'hub.json': generateKeyPair(), 'root.json': generateKeyPair() };
    for (const dir of dirs) {
      mkdirSync(join(dir.path, 'keys'), { recursive: true, mode: 0o700 });
      for (const [file, key] of Object.entries(keys))
        writeFileSync(join(dir.path, 'keys', file), `${JSON.stringify(key)}\n`, { mode: 0o600 });
    }
    const env = { FLOTILLA_DATABASE_URL: database!.url };
    const urls = await Promise.all(
      dirs.map(async (dir) => {
        const hub = spawnHubProcess({ dataDir: dir.path, env });
        hubs.push(hub);
        return String((await hub.waitForLog('hub listening'))['url']);
      }),
    );
    const roots = await Promise.all(
      urls.map(
        async (url) =>
          (await api<{ trustRoot: { hubId: string; version: number } }>(url, 'GET', '/v1/trust-root')).body,
      ),
    );
    expect(roots[0]!.trustRoot.version).toBe(1);
    expect(roots[1]).toEqual(roots[0]);
  }, 60_000);
});
