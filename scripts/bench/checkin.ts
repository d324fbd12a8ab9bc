/**
 * Authenticated check-ins answered per second by one hub process on the not-modified path:
 * an agent's long-poll that presents the current ETag with wait=0 and gets 304. Next to it,
 * in the same run and with the same load generator, a bare node:http server answering a
 * fixed body. The load runs in a worker thread, so it has its own core.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { API_VERSION, generateKeyPair, sha256, signBundle, signPayload } from '@flotilla/protocol';
import { openHub } from '@flotilla/hub';
import { hasWrk, wrk } from './_wrk.ts';

const TARGETS = Number(process.env['BENCH_TARGETS'] ?? 1000);
const DURATION_MS = Number(process.env['BENCH_DURATION_MS'] ?? 5000);
const WARMUP_MS = 1000;
const CONNECTIONS = 64;

interface LoadResult {
  readonly requests: number;
  readonly unexpected: number;
  readonly seconds: number;
  /** How busy the serving event loop was (0..1): near 1, the server is the bottleneck. */
  readonly serverUtilization: number;
}

const USE_WRK = hasWrk() && process.env['BENCH_LOAD'] !== 'undici';

async function load(
  url: string,
  requests: { path: string; headers: Record<string, string> }[],
  expectStatus: number,
): Promise<LoadResult> {
  const before = performance.eventLoopUtilization();
  if (USE_WRK) {
    const started = performance.now();
    const result = await wrk(url, requests[0]!, expectStatus, { connections: CONNECTIONS, durationMs: DURATION_MS });
    const seconds = (performance.now() - started) / 1000;
    return {
      requests: Math.round(result.rps * seconds),
      unexpected: result.unexpected,
      seconds,
      serverUtilization: Number(performance.eventLoopUtilization(before).utilization.toFixed(2)),
    };
  }
  const result = await new Promise<Omit<LoadResult, 'serverUtilization'>>((resolve, reject) => {
    const worker = new Worker(new URL('./_load.worker.mjs', import.meta.url), {
      workerData: {
        url,
        requests,
        connections: CONNECTIONS,
        concurrency: CONNECTIONS,
        warmupMs: WARMUP_MS,
        durationMs: DURATION_MS,
        expectStatus,
      },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { ...result, serverUtilization: Number(performance.eventLoopUtilization(before).utilization.toFixed(2)) };
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-checkin-'));
const { hub } = await openHub({ dataDir: join(dir, 'hub'), log: pino({ level: 'silent' }) });
const url = await hub.listen(0);
const { services } = hub;
const operator = { kind: 'user' as const, tokenId: 'bench', name: 'bench', role: 'admin' as const };
const release = generateKeyPair();
services.trust.addReleaseKey(release.publicKey, 'bench', { kind: 'user', id: 'bench' });
services.bundles.publish(
  signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'app',
      version: '1.0.0',
      resources: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: { a: '1' } },
      ],
    },
    [release],
  ),
  operator,
);
const enrollToken = services.identity.createEnrollmentToken(
  { ttlSeconds: 3600, maxUses: TARGETS, labels: {} },
  operator,
).token!;

const requests: { path: string; headers: Record<string, string> }[] = [];
for (let i = 0; i < TARGETS; i++) {
  const key = generateKeyPair();
  const issuedAt = new Date().toISOString();
  const { targetId, audience } = services.identity.enroll(
    {
      token: enrollToken,
      publicKey: key.publicKey,
      issuedAt,
      proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(enrollToken), issuedAt }, key),
    },
    'bench',
  );
  services.desired.assign(targetId, ['app@1.0.0'], { kind: 'user', id: 'bench' });
  const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: key.publicKey, d: key.seed }, 'EdDSA');
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA' })
    .setIssuer(targetId)
    .setSubject(targetId)
    .setAudience(audience)
    .setExpirationTime('60s')
    .setJti(randomUUID())
    .sign(jwk);
  const { accessToken } = await services.identity.issueAccessToken(assertion, 'bench');
  const etag = services.desired.current(targetId)!.etag;
  requests.push({
    path: `/v1/targets/${targetId}/envelope?wait=0`,
    headers: { authorization: `Bearer ${accessToken}`, 'if-none-match': etag },
  });
}

const hubResult = await load(url, requests, 304);
await hub.close();
rmSync(dir, { recursive: true, force: true });

const body = JSON.stringify({ ok: true });
const bare = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
const bareResult = await load(`http://127.0.0.1:${(bare.address() as AddressInfo).port}`, requests, 200);
await new Promise<void>((resolve) => bare.close(() => resolve()));

if (hubResult.unexpected > 0 || bareResult.unexpected > 0) {
  process.stderr.write(`unexpected answers: hub ${hubResult.unexpected}, bare ${bareResult.unexpected}\n`);
  process.exit(1);
}
const hubRps = Math.round(hubResult.requests / hubResult.seconds);
const bareRps = Math.round(bareResult.requests / bareResult.seconds);
process.stdout.write(
  `load=${USE_WRK ? 'wrk' : 'undici-worker'} targets=${TARGETS} connections=${CONNECTIONS} duration=${DURATION_MS}ms hub_event_loop=${hubResult.serverUtilization} bare_event_loop=${bareResult.serverUtilization}\n`,
);
process.stdout.write(
  `${JSON.stringify({ name: 'checkin', hub_rps: hubRps, bare_rps: bareRps, ratio: Number((hubRps / bareRps).toFixed(3)), load: USE_WRK ? 'wrk' : 'undici-worker' })}\n`,
);
