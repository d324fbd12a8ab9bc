import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { API_VERSION, generateKeyPair, parseYaml, signBundle, type Target } from '@flotilla/protocol';
import { manifestFileName, type Transport } from '@flotilla/agent';
import { createPostgresDatabase, postgresAvailable } from '../packages/hub/test/store-kinds.ts';
import { api, configMap, startAgent, type AgentFixture } from './fixtures/hub-fixture.ts';
import { spawnHubProcess, startHubProcess, type HubProcess, type RunningProcess } from './fixtures/processes.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

const AGENTS = 200;
const REPLICAS = 3;
const WAVES = ['canary', 'early', 'rest'];
/** Agents enrolling at once: enough to keep the replicas busy, few enough not to time out on two cores. */
const STARTING_AT_ONCE = 20;

/** A real agent of the test, the replica it was given first and how it hears of changes. */
interface FleetAgent extends AgentFixture {
  readonly name: string;
  readonly home: number;
  readonly transport: Transport;
}

interface AuditEntry {
  readonly action: string;
  readonly details?: { readonly rollout?: string; readonly waveName?: string };
}

/** Agents holding a push stream to a replica now, as its `/metrics` says (long-polls come and go). */
async function streamsAt(metricsUrl: string): Promise<number> {
  const text = await (await request(metricsUrl)).body.text();
  const series = 'flotilla_connected_agents{transport="stream"} ';
  const line = text.split('\n').find((l) => l.startsWith(series));
  if (line === undefined) throw new Error(`${metricsUrl} has no ${series.trim()} sample`);
  return Number(line.slice(series.length));
}

/**
 * Issue #18, first test: three hub replicas (separate `flotilla hub serve` processes sharing one
 * PostgreSQL database and the same keys) with 200 real agents (in this process, manifests-dir
 * driver, half on push streams and half long-polling) spread over them, a rollout in waves, and the replica holding the lease
 * killed with SIGKILL in the middle of a wave. Each agent is given all three replicas' URLs,
 * its own first, and nothing else: those of the dead replica must find a live one by
 * themselves, keep their identity and converge with the rest.
 */
describe.skipIf(!postgresAvailable())('three hub replicas on one PostgreSQL database', () => {
  const database = postgresAvailable() ? createPostgresDatabase() : undefined;
  // A skipped describe still runs its body: make folders only when its tests will run and remove them.
  const dirs = postgresAvailable() ? Array.from({ length: REPLICAS }, () => tempDir('flotilla-replica-')) : [];
  const agentsDir = postgresAvailable() ? tempDir('flotilla-replica-agents-') : undefined;
  const hubs: (HubProcess | undefined)[] = [];
  const metrics: string[] = [];
  const agents: FleetAgent[] = [];

  beforeAll(async () => {
    const env = { FLOTILLA_DATABASE_URL: database!.url, FLOTILLA_METRICS_PORT: '0' };
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
    for (const hub of hubs) metrics.push(String(hub!.logs.find((l) => l.msg === 'hub listening')!['metrics']));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.agent.stop()));
    await Promise.all(hubs.filter((hub) => hub !== undefined).map((hub) => hub.kill('SIGKILL')));
    database?.drop();
    for (const dir of [...dirs, agentsDir]) dir?.remove();
  }, 30_000);

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

  /**
   * Starts the fleet: agent `i` has replica `i mod 3` first, then the other two in turn; every
   * other agent of each replica long-polls, since the two transports find a replica gone apart.
   */
  async function startFleet(token: string): Promise<void> {
    const pending = Array.from({ length: AGENTS }, (_, i) => i);
    await Promise.all(
      Array.from({ length: STARTING_AT_ONCE }, async () => {
        for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
          const home = i % REPLICAS;
          const name = `r${home}-${i}`;
          const urls = Array.from({ length: REPLICAS }, (_, k) => hubs[(home + k) % REPLICAS]!.url);
          const transport: Transport = Math.floor(i / REPLICAS) % 2 === 0 ? 'auto' : 'long-poll';
          const fixture = await startAgent(urls, token, {
            name,
            dir: join(agentsDir!.path, name),
            transport,
            // The agent's own first steps of backoff (retries within 1 s, then 2 s, jittered), so the
            // time the dead replica's agents take to move is the one a fleet sees; capped lower
            // than its 60 s so that a slow retry under load stays within the test's waits.
            backoff: { baseMs: 1000, maxMs: 5000 },
          });
          agents.push({ ...fixture, name, home, transport });
        }
      }),
    );
  }

  it('completes a rollout in waves when the leading replica is killed mid-wave, each step once, its agents moving by themselves', async () => {
    const key = generateKeyPair();
    await call('POST', '/v1/trust-root/release-keys', { publicKey: key.publicKey, name: 'replicas' });
    const app = configMap('app', { v: '2' });
    const published = await call<{ digest: string }>(
      'POST',
      '/v1/bundles',
      signBundle({ apiVersion: API_VERSION, kind: 'Bundle', name: 'app', version: '2.0.0', resources: [app] }, [key]),
    );
    const { token } = await call<{ token: string }>('POST', '/v1/enrollment-tokens', {
      maxUses: AGENTS,
      ttlSeconds: 600,
      labels: { fleet: 'replicas' },
    });

    const startedAt = performance.now();
    await startFleet(token);
    const startS = (performance.now() - startedAt) / 1000;
    const homes = Array.from({ length: REPLICAS }, (_, r) => agents.filter((a) => a.home === r));
    const streaming = (group: readonly FleetAgent[]) => group.filter((a) => a.transport === 'auto').length;
    // Spread: every agent talks to its own first replica, which holds the streams of those that stream.
    await waitFor(
      'each replica to hold the streams of the agents that have it first',
      async () => {
        const counts = await Promise.all(metrics.map(streamsAt));
        return counts.every((n, r) => n === streaming(homes[r]!)) ? true : undefined;
      },
      30_000,
      250,
    );
    expect(agents.filter((a) => a.agent.current.hub !== hubs[a.home]!.url).map((a) => a.name)).toEqual([]);

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
    const killedWhen = Date.now();
    const dead = hubs[first]!.url;
    await hubs[first]!.kill('SIGKILL');

    // Nobody re-points them: the dead replica's agents move to the next URL in their own list,
    // and the surviving replicas see their streams arrive and their long-polls check in.
    const orphans = homes[first]!;
    await waitFor(
      "the dead replica's agents to hold their streams on the live replicas",
      async () => {
        if (orphans.some((a) => a.agent.current.hub === dead)) return undefined;
        const counts = await Promise.all(metrics.filter((_, r) => r !== first).map(streamsAt));
        return counts.reduce((sum, n) => sum + n, 0) === streaming(agents) ? true : undefined;
      },
      30_000,
      100,
    );
    const movedS = (performance.now() - killedAt) / 1000;
    const polling = orphans.filter((a) => a.transport === 'long-poll');
    // Replicas write check-in times every 5 s; only a live one can have taken these.
    await waitFor(
      "the dead replica's long-polling agents to check in at a live one",
      async () => {
        const seen = await Promise.all(
          polling.map(async (a) => (await call<Target>('GET', `/v1/targets/${a.targetId}`)).lastSeenAt),
        );
        return seen.every((at) => at !== null && Date.parse(at) > killedWhen) ? true : undefined;
      },
      30_000,
      500,
    );
    const next = await leader();
    expect(next).not.toBe(first);
    // When the replica took the lease by its own log, not when this test got round to looking.
    const took = hubs[next]!.logs.findLast((l) => l.msg === 'this replica took the lease')!;
    const failoverS = (Number(took['time']) - killedWhen) / 1000;

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

    // Every agent converged: the release is in its directory, and the hub has its report of it.
    const file = manifestFileName(app);
    const written = (a: FleetAgent): boolean => {
      const path = join(a.root, file);
      if (!existsSync(path)) return false;
      const resource = parseYaml(readFileSync(path, 'utf8'), path) as { data?: { v?: string } };
      return resource.data?.v === '2';
    };
    await waitFor('every agent to write the release', () => agents.every(written), 30_000, 250);
    const targets = await call<{ items: Target[]; total: number }>('GET', '/v1/targets?limit=1000');
    expect(targets.total).toBe(AGENTS);
    const behind = targets.items.filter(
      (t) => t.observed?.phase !== 'applied' || t.observed.bundles.map((b) => b.digest).join() !== published.digest,
    );
    expect(behind.map((t) => t.name)).toEqual([]);
    // Under the identity each enrolled with: none of them enrolled again at another replica.
    const enrolled = await call<{ entries: AuditEntry[] }>('GET', '/v1/audit?action=target.enroll&limit=1000');
    expect(enrolled.entries).toHaveLength(AGENTS);
    expect(agents.filter((a) => a.agent.current.targetId !== a.targetId).map((a) => a.name)).toEqual([]);
    expect(orphans.filter((a) => a.agent.current.hub === dead).map((a) => a.name)).toEqual([]);
    process.stderr.write(
      `replicas: ${AGENTS} real agents started in ${startS.toFixed(1)} s; after SIGKILL of replica ${first}, ` +
        `its ${orphans.length} agents moved in ${movedS.toFixed(1)} s, replica ${next} led after ${failoverS.toFixed(1)} s\n`,
    );
  }, 120_000);
});

describe.skipIf(!postgresAvailable())('replicas starting together on a new database', () => {
  const database = postgresAvailable() ? createPostgresDatabase() : undefined;
  const dirs = postgresAvailable() ? Array.from({ length: 2 }, () => tempDir('flotilla-replica-')) : [];
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
