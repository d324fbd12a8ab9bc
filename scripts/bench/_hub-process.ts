/**
 * The benchmarks' side of a hub in a process of its own (scripts/bench/_rollout-hub.ts): start
 * it, call its API as the admin, publish a release for a rollout, and sample its usage. Shared
 * by the fleet and rollout benchmarks, so both start and measure the hub alike.
 */
import type { ChildProcess } from 'node:child_process';
import { request } from 'undici';
import type { z } from 'zod';
import { API_VERSION, generateKeyPair, signBundle, SignedTrustRoot, type Resource } from '@flotilla/protocol';
import { EnrollmentToken, lenient, PublishResult } from '@flotilla/protocol/api';
import { ask, child, next } from '../sim/processes.ts';

/** What the hub process answers to `usage`: its counters since start, and the loop's worst delay since the last sample. */
export interface Usage {
  readonly cpuMicros: number;
  readonly maxRssKb: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly streams: number;
  readonly loopDelayMaxMs: number;
  readonly streamStats: { readonly notices: number; readonly refused: number };
  readonly controller: { readonly passes: number; readonly busyMs: number };
  readonly issuer: { readonly issued: number; readonly batches: number };
}

export interface BenchHub {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly adminToken: string;
  /** The connection cap the hub runs with, as `flotilla hub serve` would set it. */
  readonly maxConnections: number | undefined;
  /** Calls the API as the admin; a status of 300 or more throws with the answer's text. */
  readonly call: <S extends z.ZodType>(
    answer: S,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ) => Promise<z.infer<S>>;
  /** Samples the hub's usage (and starts a new loop-delay histogram). */
  readonly usage: () => Promise<Usage>;
}

/** Starts a hub on `dataDir` in its own process; `profileDir` records a V8 CPU profile of it there. */
export async function startBenchHub(dataDir: string, profileDir = process.env['BENCH_HUB_PROFILE']): Promise<BenchHub> {
  const proc = child('./_rollout-hub.ts', import.meta.url, [dataDir], profileDir);
  proc.once('exit', (code, signal) => {
    if (code !== 0) process.stderr.write(`the hub process exited (${code ?? signal})\n`);
  });
  const ready = (await next(proc, 'ready')) as unknown as { url: string; adminToken: string; maxConnections?: number };
  const { url, adminToken } = ready;
  return {
    proc,
    url,
    adminToken,
    maxConnections: ready.maxConnections,
    call: async (answer, method, path, body) => {
      const response = await request(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.body.text();
      if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text}`);
      return lenient(answer).parse(JSON.parse(text));
    },
    usage: async () => (await ask(proc, 'usage')) as unknown as Usage,
  };
}

/** Trusts a new release key and publishes `name@version` signed with it: one ConfigMap. */
export async function publishRelease(hub: BenchHub, name: string, version: string): Promise<void> {
  const key = generateKeyPair();
  await hub.call(SignedTrustRoot, 'POST', '/v1/trust-root/release-keys', { publicKey: key.publicKey, name: 'bench' });
  const resources: Resource[] = [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { version } },
  ];
  await hub.call(
    PublishResult,
    'POST',
    '/v1/bundles',
    signBundle({ apiVersion: API_VERSION, kind: 'Bundle', name, version, resources }, [key]),
  );
}

/** An enrollment token for `agents` agents, labelling each `fleet=bench`. */
export async function benchEnrollmentToken(hub: BenchHub, agents: number): Promise<string> {
  const { token } = await hub.call(EnrollmentToken, 'POST', '/v1/enrollment-tokens', {
    maxUses: agents,
    ttlSeconds: 3600,
    labels: { fleet: 'bench' },
  });
  return token ?? '';
}

/** `--agents N` from the command line (`npm run bench -- NAME --agents N`), else BENCH_AGENTS, else `fallback`. */
export function agentCount(fallback: number): number {
  const flag = process.argv.indexOf('--agents');
  const text = flag >= 0 ? process.argv[flag + 1] : process.env['BENCH_AGENTS'];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--agents must be a whole number of at least 1; received '${text}'`);
  return n;
}
