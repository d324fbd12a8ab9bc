/**
 * Hub replicas on one PostgreSQL database (issue #18): `flotilla hub serve` processes sharing
 * the hub's keys and a fresh database, all on this machine.
 *
 * 1. One replica starts; N agents enroll through it, take access tokens, and a rollout gives
 *    each an envelope (its ETag kept for the not-modified check-in).
 * 2. With one, then two, then three replicas (each started in turn): check-ins per second (the
 *    checkin benchmark's 304 long-poll with wait=0, driven by wrk, one run per replica at once)
 *    and reports per second (every agent sends one signed report, spread round-robin over the
 *    replicas, BENCH_CONCURRENCY in flight). Beside each, where the CPU went: the hub
 *    processes, PostgreSQL's processes, and the load generators, from /proc/<pid>/stat.
 * 3. Failover: a rollout in two waves whose first wave's members have their new envelopes; the
 *    lease holder is killed with SIGKILL and those members' healthy reports are sent through a
 *    survivor, so the next step (the second wave's start) is due. The time from the kill to
 *    that step's audit entry, read through a survivor, is `failover_s`.
 *
 * Environment: BENCH_TARGETS (600), BENCH_CONCURRENCY (64), BENCH_DURATION_MS (3000),
 * FLOTILLA_TEST_POSTGRES_URL (the PostgreSQL the tests use).
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { importJWK, SignJWT } from 'jose';
import { Pool } from 'undici';
import {
  API_VERSION,
  generateKeyPair,
  resourceKey,
  sha256,
  signBundle,
  signPayload,
  type KeyPair,
  type Report,
  type Resource,
  type SignedEnvelope,
} from '@flotilla/protocol';
import { createPostgresDatabase, postgresAvailable } from '../../packages/hub/test/store-kinds.ts';
import { spawnHubProcess, startHubProcess, type RunningProcess } from '../../test/fixtures/processes.ts';
import { tempDir } from '../../test/fixtures/temp-dir.ts';
import { burst } from './_burst.ts';
import { hasWrk, wrk } from './_wrk.ts';

const TARGETS = Number(process.env['BENCH_TARGETS'] ?? 600);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 64);
const DURATION_MS = Number(process.env['BENCH_DURATION_MS'] ?? 3000);
const REPLICAS = 3;
const log = (line: string): boolean => process.stderr.write(`${line}\n`);

if (!postgresAvailable()) {
  log('replicas: PostgreSQL does not answer (start it: docs/development.md, "PostgreSQL")');
  process.exit(2);
}
if (!hasWrk()) {
  log('replicas: wrk is not installed; the check-in load needs it (Debian: apt-get install wrk)');
  process.exit(2);
}

interface Replica {
  readonly proc: RunningProcess;
  readonly url: string;
  readonly pool: Pool;
}

interface Agent {
  readonly targetId: string;
  readonly key: KeyPair;
  authorization: string;
  envelope?: SignedEnvelope;
  etag?: string;
  seq: number;
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** utime + stime of a process, in seconds; 0 once it has ended. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** The pids of PostgreSQL's processes (the server and its backends): all of them, as they share the machine. */
function postgresPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

/** CPU seconds per side, between a `mark` and `since(mark)`: hubs, PostgreSQL, this process and wrk. */
function cpuMeter(hubs: () => readonly number[]) {
  const sample = () => {
    const pg = postgresPids();
    return {
      at: performance.now(),
      hubs: new Map(hubs().map((pid) => [pid, cpuSeconds(pid)])),
      pg: new Map(pg.map((pid) => [pid, cpuSeconds(pid)])),
      self: process.cpuUsage(),
    };
  };
  type Sample = ReturnType<typeof sample>;
  const delta = (after: Map<number, number>, before: Map<number, number>) =>
    [...after].reduce((sum, [pid, s]) => sum + s - (before.get(pid) ?? 0), 0);
  return {
    mark: sample,
    since(before: Sample, extraLoadS = 0) {
      const after = sample();
      const self = process.cpuUsage(before.self);
      return {
        wallS: (after.at - before.at) / 1000,
        hubS: delta(after.hubs, before.hubs),
        postgresS: delta(after.pg, before.pg),
        loadS: (self.user + self.system) / 1e6 + extraLoadS,
      };
    },
  };
}

type Cpu = ReturnType<ReturnType<typeof cpuMeter>['since']>;
const cpuLine = (cpu: Cpu): string =>
  `CPU over ${cpu.wallS.toFixed(1)} s: hubs ${cpu.hubS.toFixed(2)} s, PostgreSQL ${cpu.postgresS.toFixed(2)} s, load generators ${cpu.loadS.toFixed(2)} s (of ${(2 * cpu.wallS).toFixed(1)} s on 2 cores)`;

/** Runs `work(i)` for i in 0..count-1, `concurrency` at once; the elapsed ms. */
const database = createPostgresDatabase();
const dirs = Array.from({ length: REPLICAS }, () => tempDir('flotilla-bench-replica-'));
const replicas: (Replica | undefined)[] = [];
const env = { FLOTILLA_DATABASE_URL: database.url, FLOTILLA_LOG_LEVEL: 'info' };
try {
  const first = await startHubProcess({ dataDir: dirs[0]!.path, env });
  const adminToken = first.adminToken;
  const poolFor = (url: string) => new Pool(url, { connections: CONCURRENCY, keepAliveTimeout: 120_000 });
  replicas[0] = { proc: first, url: first.url, pool: poolFor(first.url) };
  for (const dir of dirs.slice(1)) {
    mkdirSync(join(dir.path, 'keys'), { recursive: true, mode: 0o700 });
    for (const file of ['hub.json', 'root.json'])
      copyFileSync(join(dirs[0]!.path, 'keys', file), join(dir.path, 'keys', file));
  }
  const alive = () => replicas.filter((r): r is Replica => r?.proc.alive() === true);

  const call = async (
    replica: Replica,
    method: 'GET' | 'POST',
    path: string,
    authorization: string | undefined,
    body?: unknown,
  ): Promise<{ status: number; body: unknown; etag: string | undefined }> => {
    const response = await replica.pool.request({
      method,
      path,
      headers: {
        ...(authorization === undefined ? {} : { authorization }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.body.text();
    const etag = response.headers['etag'];
    return {
      status: response.statusCode,
      body: text === '' ? undefined : JSON.parse(text),
      etag: typeof etag === 'string' ? etag : undefined,
    };
  };
  const admin = async <T>(method: 'GET' | 'POST', path: string, body?: unknown, via = alive()[0]!): Promise<T> => {
    const answer = await call(via, method, path, `Bearer ${adminToken}`, body);
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body as T;
  };

  // 1. Agents, enrolled through the first replica, each with an envelope.
  const releaseKey = generateKeyPair();
  await admin('POST', '/v1/trust-root/release-keys', { publicKey: releaseKey.publicKey, name: 'bench' });
  const resourcesOf = (version: string): Resource[] =>
    Array.from({ length: 5 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `app-${i}`, namespace: 'default' },
      data: { version },
    }));
  for (const version of ['1.0.0', '2.0.0'])
    await admin(
      'POST',
      '/v1/bundles',
      signBundle({ apiVersion: API_VERSION, kind: 'Bundle', name: 'app', version, resources: resourcesOf(version) }, [
        releaseKey,
      ]),
    );
  const { token } = await admin<{ token: string }>('POST', '/v1/enrollment-tokens', {
    maxUses: TARGETS,
    ttlSeconds: 3600,
    labels: { fleet: 'bench' },
  });
  const agents: Agent[] = new Array<Agent>(TARGETS);
  const setupStarted = performance.now();
  await burst(TARGETS, CONCURRENCY, async (i) => {
    const key = generateKeyPair();
    const issuedAt = new Date().toISOString();
    const enrolled = await call(replicas[0]!, 'POST', '/v1/enroll', undefined, {
      token,
      publicKey: key.publicKey,
      name: `bench-${i}`,
      issuedAt,
      proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
    });
    if (enrolled.status !== 201) throw new Error(`enroll: ${enrolled.status} ${JSON.stringify(enrolled.body)}`);
    const { targetId, audience } = enrolled.body as { targetId: string; audience: string };
    const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: key.publicKey, d: key.seed }, 'EdDSA');
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setIssuer(targetId)
      .setSubject(targetId)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('60s')
      .setJti(randomUUID())
      .sign(jwk);
    const issued = await call(replicas[0]!, 'POST', '/v1/token', undefined, { assertion });
    if (issued.status !== 200) throw new Error(`token: ${issued.status} ${JSON.stringify(issued.body)}`);
    agents[i] = {
      targetId,
      key,
      authorization: `Bearer ${(issued.body as { accessToken: string }).accessToken}`,
      seq: 0,
    };
  });
  const setup = await admin<{ rollout: { id: string } }>('POST', '/v1/rollouts', {
    release: 'app@1.0.0',
    selector: 'fleet=bench',
    waves: 'all:100%',
    bake: '0s',
  });
  /**
   * The rollout's started waves' members once the lead replica has issued all their envelopes,
   * so that the fetches after it find them there (before, an agent is answered 204).
   */
  const issued = async (id: string, via: Replica): Promise<Set<string>> => {
    for (let attempt = 0; ; attempt++) {
      const listed = await admin<{ members: { targetId: string; state: string; generation?: number }[] }>(
        'GET',
        `/v1/rollouts/${id}?members=all`,
        undefined,
        via,
      );
      // Targets of waves not started yet are listed as planned, without a generation.
      const members = listed.members.filter((m) => m.state !== 'planned');
      if (members.length > 0 && members.every((m) => (m.generation ?? 0) > 0))
        return new Set(members.map((m) => m.targetId));
      if (attempt > 300) throw new Error(`rollout ${id}: members not issued within 60 s`);
      await sleep(200);
    }
  };
  /** Fetches the envelopes of `which` agents (via `replica`) until each has one newer than it had. */
  const fetchEnvelopes = async (which: readonly Agent[], replica: Replica): Promise<void> => {
    let pending = [...which];
    for (let attempt = 0; ; attempt++) {
      let missing = 0;
      const asked = pending;
      const still: Agent[] = [];
      await burst(asked.length, CONCURRENCY, async (i) => {
        const agent = asked[i]!;
        const answer = await call(replica, 'GET', `/v1/targets/${agent.targetId}/envelope?wait=0`, agent.authorization);
        const envelope = answer.body as SignedEnvelope | undefined;
        if (
          answer.status === 200 &&
          envelope !== undefined &&
          envelope.envelope.generation > (agent.envelope?.envelope.generation ?? 0)
        ) {
          if (answer.etag === undefined) throw new Error('an envelope came without an ETag');
          agent.envelope = envelope;
          agent.etag = answer.etag;
        } else {
          missing++;
          still.push(agent);
        }
      });
      pending = still;
      if (missing === 0) return;
      if (attempt > 50) throw new Error(`${missing} agents were answered no newer envelope than they had`);
      await sleep(200);
    }
  };
  await issued(setup.rollout.id, replicas[0]);
  await fetchEnvelopes(agents, replicas[0]);
  log(`${TARGETS} agents enrolled with envelopes in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

  const reportBody = (agent: Agent): string => {
    const { envelope } = agent.envelope!;
    const report: Report = {
      apiVersion: API_VERSION,
      kind: 'Report',
      targetId: agent.targetId,
      seq: ++agent.seq,
      generation: envelope.generation,
      phase: 'applied',
      health: 'healthy',
      bundles: envelope.bundles.map(({ name, version, digest }) => ({ name, version, digest })),
      resources: envelope.bundles.flatMap((b) =>
        resourcesOf(b.version).map((r) => ({
          key: resourceKey(r),
          status: 'applied' as const,
          health: 'healthy' as const,
        })),
      ),
      facts: { driver: 'sim', agentVersion: '0.1.0', kubernetesVersion: 'v1.31.2' },
      drift: { items: [], omitted: 0, counts: { acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 } },
      observedAt: new Date().toISOString(),
    };
    return JSON.stringify({ report, signature: signPayload('report', report, agent.key) });
  };
  const sendReport = async (agent: Agent, replica: Replica, body = reportBody(agent)): Promise<void> => {
    const answer = await call(replica, 'POST', `/v1/targets/${agent.targetId}/reports`, agent.authorization, body);
    if (answer.status !== 201) throw new Error(`report: ${answer.status} ${JSON.stringify(answer.body)}`);
  };

  const hubPids = () => alive().map((r) => r.proc.pid);
  const meter = cpuMeter(hubPids);
  const checkinRps: number[] = [];
  const reportRps: number[] = [];
  const cpu: Record<string, { hubs_s: number; postgres_s: number; load_s: number; wall_s: number }> = {};
  const round2 = (n: number) => Number(n.toFixed(2));

  // Warm up: one report from each agent through the first replica, which also completes the setup rollout.
  await burst(TARGETS, CONCURRENCY, (i) => sendReport(agents[i]!, replicas[0]!));

  // 2. One, two, three replicas.
  for (let n = 1; n <= REPLICAS; n++) {
    if (n > 1) {
      const proc = spawnHubProcess({ dataDir: dirs[n - 1]!.path, env });
      const url = String((await proc.waitForLog('hub listening'))['url']);
      replicas[n - 1] = { proc, url, pool: poolFor(url) };
    }
    const serving = alive();
    const checkinStart = meter.mark();
    const wrkCpuBefore = childCpu();
    const runs = await Promise.all(
      serving.map((replica, r) => {
        const agent = agents[r]!;
        return wrk(
          replica.url,
          {
            path: `/v1/targets/${agent.targetId}/envelope?wait=0`,
            headers: { authorization: agent.authorization, 'if-none-match': agent.etag! },
          },
          304,
          { connections: Math.max(8, Math.round(CONCURRENCY / n)), durationMs: DURATION_MS },
        );
      }),
    );
    const checkinCpu = meter.since(checkinStart, childCpu() - wrkCpuBefore);
    const unexpected = runs.reduce((sum, run) => sum + run.unexpected, 0);
    if (unexpected > 0) throw new Error(`${unexpected} check-ins with ${n} replicas were not answered 304`);
    checkinRps.push(Math.round(runs.reduce((sum, run) => sum + run.rps, 0)));
    log(
      `${n} replica(s): ${checkinRps.at(-1)} check-ins/s (${runs.map((r) => Math.round(r.rps)).join(' + ')}); ${cpuLine(checkinCpu)}`,
    );

    const bodies = agents.map(reportBody);
    const reportStart = meter.mark();
    const { ms } = await burst(TARGETS, CONCURRENCY, (i) => sendReport(agents[i]!, serving[i % n]!, bodies[i]));
    const reportCpu = meter.since(reportStart);
    reportRps.push(Math.round(TARGETS / (ms / 1000)));
    log(
      `${n} replica(s): ${reportRps.at(-1)} reports/s (${TARGETS} in ${(ms / 1000).toFixed(2)} s); ${cpuLine(reportCpu)}`,
    );
    for (const [phase, c] of [
      [`checkin_${n}`, checkinCpu],
      [`report_${n}`, reportCpu],
    ] as const)
      cpu[phase] = {
        hubs_s: round2(c.hubS),
        postgres_s: round2(c.postgresS),
        load_s: round2(c.loadS),
        wall_s: round2(c.wallS),
      };
  }

  // 3. Failover: the next step of a rollout is due when the lease holder dies.
  const setupState = await admin<{ state: string }>('GET', `/v1/rollouts/${setup.rollout.id}?members=none`);
  if (setupState.state !== 'completed') throw new Error(`the setup rollout is ${setupState.state}, not completed`);
  const holder = alive().find((r) => {
    const took = r.proc.logs.filter((l) => l.msg === 'this replica took the lease').length;
    const lost = r.proc.logs.filter((l) => l.msg === 'this replica lost the lease').length;
    return took > lost;
  });
  if (holder === undefined) throw new Error('no replica holds the lease');
  const survivor = alive().find((r) => r !== holder)!;
  const { rollout } = await admin<{ rollout: { id: string } }>(
    'POST',
    '/v1/rollouts',
    { release: 'app@2.0.0', selector: 'fleet=bench', waves: 'canary:2%,rest:100%', bake: '0s' },
    holder,
  );
  const memberIds = await issued(rollout.id, survivor);
  const canary = agents.filter((a) => memberIds.has(a.targetId));
  if (canary.length === 0) throw new Error('the canary wave has no members');
  await fetchEnvelopes(canary, survivor);
  const canaryBodies = canary.map(reportBody);
  const killedAt = performance.now();
  await holder.proc.kill('SIGKILL');
  await Promise.all(canary.map((agent, i) => sendReport(agent, survivor, canaryBodies[i])));
  const reportedS = (performance.now() - killedAt) / 1000;
  let failoverS: number | undefined;
  while (failoverS === undefined) {
    const page = await admin<{ entries: { action: string; details?: { rollout?: string; waveName?: string } }[] }>(
      'GET',
      '/v1/audit?action=rollout.wave.start&limit=100',
      undefined,
      survivor,
    );
    if (page.entries.some((e) => e.details?.rollout === rollout.id && e.details.waveName === 'rest'))
      failoverS = (performance.now() - killedAt) / 1000;
    else if (performance.now() - killedAt > 60_000) throw new Error('the next rollout step was not taken within 60 s');
    else await sleep(50);
  }
  const tookOver = alive().find((r) => r.proc.logs.some((l) => l.msg === 'this replica took the lease'));
  log(
    `failover: SIGKILL of the lease holder → rollout.wave.start rest in ${failoverS.toFixed(2)} s (canary: ${canary.length} members, reported ${reportedS.toFixed(2)} s after the kill; the lease is now held by replica ${tookOver === undefined ? '?' : replicas.indexOf(tookOver) + 1})`,
  );

  process.stdout.write(
    `${JSON.stringify({
      name: 'replicas',
      checkin_rps: checkinRps,
      report_rps: reportRps,
      failover_s: round2(failoverS),
      targets: TARGETS,
      concurrency: CONCURRENCY,
      duration_ms: DURATION_MS,
      cpu,
      loadavg: round2(loadavg()[0]!),
    })}\n`,
  );
} finally {
  await Promise.all(replicas.map(async (r) => r && (await r.pool.destroy(), await r.proc.kill('SIGKILL'))));
  database.drop();
  for (const dir of dirs) dir.remove();
}

/** CPU seconds of this process's ended children (wrk), from /proc/self/stat's cutime + cstime. */
function childCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_S;
}
