/**
 * Simulated agents for the rollout benchmark: many in one process, each a minimal protocol
 * client with its own Ed25519 key — enroll with a proof, get access tokens with signed
 * assertions, long-poll the envelope with its ETag, fetch the bundles it names, and send a
 * signed report (applied, healthy) for each new generation. No driver, no verification:
 * what the hub does for them is what is measured.
 *
 * Run by scripts/bench/rollout.ts with `--import tsx` and an IPC channel; argv[2] is JSON
 * `{ url, token, count, prefix, waitSeconds, concurrency }`. It sends `enrolled` when every
 * agent is enrolled and polling, answers `status` with how many agents applied each digest
 * (and their CPU time and per-agent timings), and exits on `stop`.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { importJWK, SignJWT } from 'jose';
import { Pool } from 'undici';
import { EnrollResponse, TokenResponse } from '@flotilla/protocol/api';
import {
  API_VERSION,
  generateKeyPair,
  resourceKey,
  sha256,
  signPayload,
  messageOf,
  type KeyPair,
  type Report,
  type SignedBundle,
  type SignedEnvelope,
} from '@flotilla/protocol';

interface Job {
  readonly url: string;
  readonly token: string;
  readonly count: number;
  readonly prefix: string;
  readonly waitSeconds: number;
  readonly concurrency: number;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const send = process.send!.bind(process);
// Long-polls hold a connection each; everything else shares a few.
const polls = new Pool(job.url, {
  connections: job.count,
  keepAliveTimeout: 120_000,
  headersTimeout: (job.waitSeconds + 30) * 1000,
  bodyTimeout: (job.waitSeconds + 30) * 1000,
  connect: { timeout: 60_000 },
});
const calls = new Pool(job.url, { connections: 32, keepAliveTimeout: 120_000, connect: { timeout: 60_000 } });
let stopped = false;
let errors = 0;

async function json(
  pool: Pool,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; body: unknown; headers: Record<string, string | string[] | undefined> }> {
  const response = await pool.request({
    method,
    path,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: text === '' ? undefined : JSON.parse(text), headers: response.headers };
}

class SimAgent {
  readonly key: KeyPair = generateKeyPair();
  readonly name: string;
  targetId = '';
  private audience = '';
  private accessToken = '';
  private tokenExpiresAt = 0;
  private etag: string | undefined;
  private seq = 0;
  applied: string | undefined;
  /** When the last envelope arrived and when its report was acknowledged (epoch ms). */
  receivedAt = 0;
  reportedAt = 0;
  /** When the poll that brought the last envelope was sent. */
  lastPolledAt = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** Enrolls, retrying while the hub is busy or away, as a real agent does. */
  async enroll(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.enrollOnce();
      } catch (error) {
        if (attempt >= 10 || (error as { code?: string }).code === undefined) throw error;
        errors++;
        await sleep(attempt * 500);
      }
    }
  }

  private async enrollOnce(): Promise<void> {
    const issuedAt = new Date().toISOString();
    const proof = signPayload(
      'enroll',
      { publicKey: this.key.publicKey, tokenDigest: sha256(job.token), issuedAt },
      this.key,
    );
    const answer = await json(
      calls,
      'POST',
      '/v1/enroll',
      {},
      { token: job.token, publicKey: this.key.publicKey, name: this.name, issuedAt, proof },
    );
    if (answer.status !== 201) throw new Error(`enroll ${this.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
    ({ targetId: this.targetId, audience: this.audience } = EnrollResponse.parse(answer.body));
    await this.token();
  }

  private async token(): Promise<string> {
    if (Date.now() < this.tokenExpiresAt - 60_000) return this.accessToken;
    const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: this.key.publicKey, d: this.key.seed }, 'EdDSA');
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(this.targetId)
      .setSubject(this.targetId)
      .setAudience(this.audience)
      .setIssuedAt()
      .setExpirationTime('60s')
      .setJti(randomUUID())
      .sign(jwk);
    const answer = await json(calls, 'POST', '/v1/token', {}, { assertion });
    if (answer.status !== 200) throw new Error(`token ${this.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
    const token = TokenResponse.parse(answer.body);
    this.accessToken = token.accessToken;
    this.tokenExpiresAt = Date.parse(token.expiresAt);
    return this.accessToken;
  }

  async run(): Promise<void> {
    while (!stopped) {
      try {
        const authorization = `Bearer ${await this.token()}`;
        const polledAt = Date.now();
        const answer = await json(polls, 'GET', `/v1/targets/${this.targetId}/envelope?wait=${job.waitSeconds}`, {
          authorization,
          ...(this.etag === undefined ? {} : { 'if-none-match': this.etag }),
        });
        if (answer.status === 200) {
          this.lastPolledAt = polledAt;
          await this.apply(answer.body as SignedEnvelope, authorization);
        } else if (answer.status !== 204 && answer.status !== 304) throw new Error(`envelope: ${answer.status}`);
        this.etag = String(answer.headers['etag']);
      } catch (error) {
        if (stopped) return;
        errors++;
        if (errors <= 5) process.stderr.write(`agent ${this.name}: ${messageOf(error)}\n`);
        await sleep(200 + Math.random() * 800);
      }
    }
  }

  private async apply(signed: SignedEnvelope, authorization: string): Promise<void> {
    const { envelope } = signed;
    this.receivedAt = Date.now();
    const resources: Report['resources'] = [];
    for (const ref of envelope.bundles) {
      const answer = await json(calls, 'GET', `/v1/bundles/${ref.digest}`, { authorization });
      if (answer.status !== 200) throw new Error(`bundle ${ref.digest}: ${answer.status}`);
      for (const resource of (answer.body as SignedBundle).bundle.resources)
        resources.push({ key: resourceKey(resource), status: 'applied', health: 'healthy' });
    }
    const report: Report = {
      apiVersion: API_VERSION,
      kind: 'Report',
      targetId: this.targetId,
      seq: ++this.seq,
      generation: envelope.generation,
      phase: 'applied',
      health: 'healthy',
      bundles: envelope.bundles,
      resources,
      facts: { driver: 'bench', agentVersion: '0.1.0' },
      observedAt: new Date().toISOString(),
    };
    const answer = await json(
      calls,
      'POST',
      `/v1/targets/${this.targetId}/reports`,
      { authorization },
      { report, signature: signPayload('report', report, this.key) },
    );
    if (answer.status !== 201 && answer.status !== 200)
      throw new Error(`report: ${answer.status} ${JSON.stringify(answer.body)}`);
    this.applied = envelope.bundles.map((b) => b.digest).join(',');
    this.reportedAt = Date.now();
  }
}

const agents = Array.from({ length: job.count }, (_, i) => new SimAgent(`${job.prefix}-${i}`));
const loops: Promise<void>[] = [];
let next = 0;
await Promise.all(
  Array.from({ length: job.concurrency }, async () => {
    while (next < agents.length) {
      const agent = agents[next++]!;
      await agent.enroll();
      loops.push(agent.run());
    }
  }),
);
send({ type: 'enrolled', count: agents.length });

process.on('message', (message: { type: string }) => {
  if (message.type === 'status') {
    const applied: Record<string, number> = {};
    for (const agent of agents)
      if (agent.applied !== undefined) applied[agent.applied] = (applied[agent.applied] ?? 0) + 1;
    const usage = process.resourceUsage();
    send({
      type: 'status',
      applied,
      errors,
      cpuMicros: usage.userCPUTime + usage.systemCPUTime,
      timings: agents.map((a) => [a.receivedAt, a.reportedAt, a.lastPolledAt]),
    });
  } else if (message.type === 'stop') {
    stopped = true;
    void Promise.all([polls.destroy(), calls.destroy()]).finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
