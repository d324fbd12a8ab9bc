/**
 * Report ingestion and enrollment of one hub, without the 18,000-agent fleet: the hub runs in
 * a process of its own (the fleet benchmark's), and this process plays N agents over a pool of
 * keep-alive connections, with everything an agent signs made before the clock starts, so the
 * hub's work is what is measured.
 *
 * 1. N agents enroll through `POST /v1/enroll` (each its own key and proof of possession),
 *    BENCH_CONCURRENCY at a time: enrollments per second.
 * 2. Each gets an access token, a rollout assigns a release to all of them, and each fetches
 *    its envelope, as agents do when a rollout reaches them.
 * 3. BENCH_ROUNDS bursts: every agent sends one signed report (applied, healthy, the release's
 *    resources, no drift, next seq), BENCH_CONCURRENCY in flight: reports per second over the burst and
 *    the p50 and p99 of each report's round trip. The figures are the last round's, once the
 *    hub's code is warm; every round is logged.
 *
 * Beside each rate, the hub's CPU time per report and per enrollment: on a busy machine the
 * rates move with the load (printed as `loadavg`), the CPU time much less. Of a report's, the
 * part its main thread spent (`report_loop_cpu_us`, Linux only): the event loop's share, which
 * the report intake's worker threads keep small.
 *
 * Environment: BENCH_TARGETS (5000), BENCH_CONCURRENCY (256), BENCH_ROUNDS (3),
 * BENCH_REPORT_WORKERS (the hub's report intake workers; unset: its default),
 * BENCH_HUB_PROFILE=DIR (a V8 CPU profile of the hub).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
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
  type SignedEnvelope,
} from '@flotilla/protocol';
import { CreateRolloutResult, EnrollmentToken, EnrollResponse, lenient, TokenResponse } from '@flotilla/protocol/api';
import { ask, child, next, stopAll } from '../sim/processes.ts';
import { burst } from './_burst.ts';
import { quantile } from '../quantile.ts';

const TARGETS = Number(process.env['BENCH_TARGETS'] ?? 5000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 256);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const log = (line: string): boolean => process.stderr.write(`${line}\n`);

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

const percentile = (samples: Float64Array, p: number): number => {
  const sorted = Float64Array.from(samples).sort();
  return Number(quantile(sorted, p)!.toFixed(1));
};

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-reports-'));
const hub = child('./_rollout-hub.ts', import.meta.url, [join(dir, 'hub')], process.env['BENCH_HUB_PROFILE']);
let pool: Pool | undefined;
try {
  const { url, adminToken } = (await next(hub, 'ready')) as unknown as { url: string; adminToken: string };
  const hubUsage = async (): Promise<{ cpuMicros: number; mainCpuMicros?: number; loopDelayMaxMs: number }> =>
    (await ask(hub, 'usage')) as unknown as { cpuMicros: number; mainCpuMicros?: number; loopDelayMaxMs: number };
  const calls = new Pool(url, { connections: CONCURRENCY, keepAliveTimeout: 120_000, pipelining: 1 });
  pool = calls;
  const call = async (
    method: 'GET' | 'POST',
    path: string,
    authorization: string | undefined,
    body?: unknown,
  ): Promise<Answer> => {
    const response = await calls.request({
      method,
      path,
      headers: {
        ...(authorization === undefined ? {} : { authorization }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text === '' ? undefined : JSON.parse(text) };
  };
  const admin = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const answer = await call(method, path, `Bearer ${adminToken}`, body);
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  };

  const releaseKey = generateKeyPair();
  await admin('POST', '/v1/trust-root/release-keys', { publicKey: releaseKey.publicKey, name: 'bench' });
  const resources = Array.from({ length: 10 }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `app-${i}`, namespace: 'default' },
    data: { v: '2' },
  }));
  await admin(
    'POST',
    '/v1/bundles',
    signBundle({ apiVersion: API_VERSION, kind: 'Bundle', name: 'app', version: '2.0.0', resources }, [releaseKey]),
  );
  const { token } = lenient(EnrollmentToken).parse(
    await admin('POST', '/v1/enrollment-tokens', { maxUses: TARGETS, ttlSeconds: 3600, labels: { fleet: 'bench' } }),
  );
  const enrollToken = token ?? '';

  // Enrollment: keys and proofs made first.
  const keys: KeyPair[] = Array.from({ length: TARGETS }, () => generateKeyPair());
  const issuedAt = new Date().toISOString();
  const enrollBodies = keys.map((key, i) =>
    JSON.stringify({
      token: enrollToken,
      publicKey: key.publicKey,
      name: `bench-${i}`,
      issuedAt,
      proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(enrollToken), issuedAt }, key),
    }),
  );
  const enrolled: EnrollResponse[] = new Array<EnrollResponse>(TARGETS);
  const beforeEnroll = await hubUsage();
  const enrollment = await burst(TARGETS, CONCURRENCY, async (i) => {
    const answer = await call('POST', '/v1/enroll', undefined, enrollBodies[i]);
    if (answer.status !== 201) throw new Error(`enroll: ${answer.status} ${JSON.stringify(answer.body)}`);
    enrolled[i] = lenient(EnrollResponse).parse(answer.body);
  });
  const enrollPerS = Math.round(TARGETS / (enrollment.ms / 1000));
  const enrollCpuUs = Math.round(((await hubUsage()).cpuMicros - beforeEnroll.cpuMicros) / TARGETS);
  log(
    `enrolled ${TARGETS} in ${(enrollment.ms / 1000).toFixed(2)} s: ${enrollPerS}/s, p99 ${percentile(enrollment.each, 0.99)} ms, hub CPU ${enrollCpuUs} µs each`,
  );

  // Access tokens, then a rollout to everyone and each agent's envelope.
  const tokens: string[] = new Array<string>(TARGETS);
  await burst(TARGETS, CONCURRENCY, async (i) => {
    const { targetId, audience } = enrolled[i]!;
    const key = keys[i]!;
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
    const answer = await call('POST', '/v1/token', undefined, { assertion });
    if (answer.status !== 200) throw new Error(`token: ${answer.status} ${JSON.stringify(answer.body)}`);
    tokens[i] = `Bearer ${lenient(TokenResponse).parse(answer.body).accessToken}`;
  });
  lenient(CreateRolloutResult).parse(
    await admin('POST', '/v1/rollouts', { release: 'app@2.0.0', selector: 'fleet=bench', waves: 'all:100%' }),
  );
  const envelopes: SignedEnvelope[] = new Array<SignedEnvelope>(TARGETS);
  for (let attempt = 0; ; attempt++) {
    let missing = 0;
    await burst(TARGETS, CONCURRENCY, async (i) => {
      if (envelopes[i] !== undefined) return;
      const { targetId } = enrolled[i]!;
      const answer = await call('GET', `/v1/targets/${targetId}/envelope?wait=0`, tokens[i]);
      if (answer.status === 200) envelopes[i] = answer.body as SignedEnvelope;
      else missing++;
    });
    if (missing === 0) break;
    if (attempt > 100) throw new Error(`${missing} agents never received their envelope`);
    await sleep(500);
  }

  const rounds: { perS: number; p50: number; p99: number; cpuUs: number; loopCpuUs: number | null }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const bodies = envelopes.map(({ envelope }, i) => {
      const report: Report = {
        apiVersion: API_VERSION,
        kind: 'Report',
        targetId: enrolled[i]!.targetId,
        seq: round,
        generation: envelope.generation,
        phase: 'applied',
        health: 'healthy',
        bundles: envelope.bundles.map(({ name, version, digest }) => ({ name, version, digest })),
        resources: resources.map((resource) => ({ key: resourceKey(resource), status: 'applied', health: 'healthy' })),
        facts: { driver: 'sim', agentVersion: '0.1.0', kubernetesVersion: 'v1.31.2' },
        drift: { items: [], omitted: 0, counts: { acceptable: 0, transient: 0, suspicious: 0, dangerous: 0 } },
        observedAt: new Date().toISOString(),
      };
      return JSON.stringify({ report, signature: signPayload('report', report, keys[i]!) });
    });
    const before = await hubUsage(); // and a fresh loop-delay histogram for the burst
    const reports = await burst(TARGETS, CONCURRENCY, async (i) => {
      const answer = await call('POST', `/v1/targets/${enrolled[i]!.targetId}/reports`, tokens[i], bodies[i]);
      if (answer.status !== 201) throw new Error(`report: ${answer.status} ${JSON.stringify(answer.body)}`);
    });
    const usage = await hubUsage();
    const result = {
      cpuUs: Math.round((usage.cpuMicros - before.cpuMicros) / TARGETS),
      loopCpuUs:
        usage.mainCpuMicros === undefined || before.mainCpuMicros === undefined
          ? null
          : Math.round((usage.mainCpuMicros - before.mainCpuMicros) / TARGETS),
      perS: Math.round(TARGETS / (reports.ms / 1000)),
      p50: percentile(reports.each, 0.5),
      p99: percentile(reports.each, 0.99),
    };
    rounds.push(result);
    log(
      `round ${round}: ${TARGETS} reports in ${(reports.ms / 1000).toFixed(2)} s: ${result.perS}/s, p50 ${result.p50} ms, p99 ${result.p99} ms, hub loop delay max ${usage.loopDelayMaxMs.toFixed(1)} ms, hub CPU ${result.cpuUs} µs each (${result.loopCpuUs ?? '?'} on its main thread)`,
    );
  }
  const last = rounds.at(-1)!;
  process.stdout.write(
    `${JSON.stringify({
      name: 'reports',
      targets: TARGETS,
      concurrency: CONCURRENCY,
      reports_per_s: last.perS,
      report_p50_ms: last.p50,
      report_p99_ms: last.p99,
      report_hub_cpu_us: last.cpuUs,
      report_loop_cpu_us: last.loopCpuUs,
      enroll_per_s: enrollPerS,
      enroll_p99_ms: percentile(enrollment.each, 0.99),
      enroll_hub_cpu_us: enrollCpuUs,
      loadavg: Number(loadavg()[0]!.toFixed(2)),
    })}\n`,
  );
} finally {
  await pool?.close();
  await stopAll([hub]);
  rmSync(dir, { recursive: true, force: true });
}
