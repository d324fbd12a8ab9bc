/**
 * One simulated agent of the fleet simulator (`npm run sim`, docs/operations.md "Sizing"): a
 * minimal client of the real protocol with its own Ed25519 key. It enrolls with a proof of
 * possession, gets access tokens with signed assertions, hears of changes on the push stream
 * (the agent's own `HubStream`, with its heartbeats, token renewal and jittered reconnects) or
 * by long-polling, fetches its envelope with its ETag, the bundles it names and, once per
 * process, each drift policy it names (a real agent fetches one once and keeps it), and sends a
 * signed report (applied, healthy) for each new generation. It has no driver and verifies
 * nothing: what the hub does for it is what is measured.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { importJWK, SignJWT } from 'jose';
import { pino, type Logger } from 'pino';
import type { Pool } from 'undici';
import { HubEndpoints, HubStream, type Transport } from '@flotilla/agent';
import { EnrollResponse, TokenResponse, type EnrollRequest } from '@flotilla/protocol/api';
import {
  API_VERSION,
  generateKeyPair,
  messageOf,
  READS_DRIFT_POLICY_DIGEST,
  releaseRefOf,
  resourceKey,
  sha256,
  signPayload,
  type KeyPair,
  type Report,
  type SignedBundle,
  type SignedEnvelope,
} from '@flotilla/protocol';
import type { WireClock } from './wire-clock.ts';

const silent = pino({ level: 'silent' });

/**
 * At most `size` pieces of work at once, the rest queued in order. Access-token requests go
 * through one: an assertion lives a minute, so it is signed when its request can be sent
 * rather than when the agent first wants a token, and a fleet starting at once does not
 * queue assertions past their expiry.
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.free++;
      else next();
    }
  }
}

/** What every agent of one simulator process shares. */
export interface SimContext {
  readonly url: string;
  /** Enrollment, tokens, envelopes fetched after a notice, bundles and reports: a few shared connections. */
  readonly calls: Pool;
  /** Long-polls: one connection each. */
  readonly polls: Pool;
  /** Access-token requests in flight at once. */
  readonly tokenSlots: Slots;
  readonly transport: Transport;
  readonly waitSeconds: number;
  /** After a hub restart, the stream reconnects at a random moment within this. */
  readonly reconnectWindowMs: number;
  /**
   * The drift policies fetched, by digest, shared by the process's agents: each is fetched once,
   * as a real agent fetches the policy its envelopes name once and keeps it.
   */
  readonly driftPolicies: Map<string, Promise<void>>;
  /** Counts failures; prints the first few. */
  readonly error: (agent: string, error: unknown) => void;
  /** Where the agents' streams log (what a test reads their chosen reconnect waits from); silent by default. */
  readonly log?: Logger;
  /** When each report went on a connection, for its latency without the wait for one; else timed from the call. */
  readonly wire?: WireClock;
  /** Hears each report's latency on the wire (ms) once the hub answered it. */
  readonly onReport?: (wireMs: number) => void;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string | string[] | undefined>;
}

async function call(
  pool: Pool,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Answer> {
  const response = await pool.request({
    method,
    path,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: text === '' ? undefined : JSON.parse(text), headers: response.headers };
}

export class SimAgent {
  readonly key: KeyPair = generateKeyPair();
  readonly name: string;
  targetId = '';
  private audience = '';
  private accessToken = '';
  private tokenRenewAt = 0;
  private etag: string | undefined;
  private seq = 0;
  private readonly ctx: SimContext;
  /** The push stream, once running with transport `auto`. */
  stream: HubStream | undefined;
  /** The digests of the last envelope applied, joined with commas. */
  applied: string | undefined;
  /** When the last envelope arrived and when its report was acknowledged (epoch ms). */
  receivedAt = 0;
  reportedAt = 0;
  /** How long the last report took to be acknowledged (ms), from the call: with any wait for one of the process's shared connections. */
  reportMs = 0;
  /** The same from when the report went on a connection (the context's {@link WireClock}): the hub's answer alone. */
  reportWireMs = 0;

  constructor(name: string, ctx: SimContext) {
    this.name = name;
    this.ctx = ctx;
  }

  /** Enrolls, retrying while the hub is busy or away, as a real agent does. */
  async enroll(enrollToken: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.enrollOnce(enrollToken);
      } catch (error) {
        if (attempt >= 10) throw error;
        this.ctx.error(this.name, error);
        await sleep(attempt * 500);
      }
    }
  }

  private async enrollOnce(enrollToken: string): Promise<void> {
    const answer = await call(this.ctx.calls, 'POST', '/v1/enroll', {}, this.enrollRequest(enrollToken));
    if (answer.status !== 201) throw new Error(`enroll ${this.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
    this.enrolled(EnrollResponse.parse(answer.body));
  }

  /** The body of `POST /v1/enroll`: the key, the token, and a fresh proof of possession. */
  enrollRequest(enrollToken: string): EnrollRequest {
    const issuedAt = new Date().toISOString();
    const proof = signPayload(
      'enroll',
      { publicKey: this.key.publicKey, tokenDigest: sha256(enrollToken), issuedAt },
      this.key,
    );
    return { token: enrollToken, publicKey: this.key.publicKey, name: this.name, issuedAt, proof };
  }

  /** Takes the hub's answer to enrollment, however it was sent. */
  enrolled(answer: EnrollResponse): void {
    ({ targetId: this.targetId, audience: this.audience } = answer);
  }

  /** The access token, renewed at two thirds of its life as the agent's `Credentials` does. */
  async token(): Promise<string> {
    if (Date.now() < this.tokenRenewAt) return this.accessToken;
    return this.ctx.tokenSlots.run(() => this.renewToken());
  }

  private async renewToken(): Promise<string> {
    const now = Date.now();
    if (now < this.tokenRenewAt) return this.accessToken;
    const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: this.key.publicKey, d: this.key.seed }, 'EdDSA');
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setIssuer(this.targetId)
      .setSubject(this.targetId)
      .setAudience(this.audience)
      .setIssuedAt()
      .setExpirationTime('60s')
      .setJti(randomUUID())
      .sign(jwk);
    const answer = await call(this.ctx.calls, 'POST', '/v1/token', {}, { assertion });
    if (answer.status !== 200) throw new Error(`token ${this.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
    const token = TokenResponse.parse(answer.body);
    this.accessToken = token.accessToken;
    this.tokenRenewAt = now + ((Date.parse(token.expiresAt) - now) * 2) / 3;
    return this.accessToken;
  }

  /** Syncs until `stop` aborts: waits for a change, fetches the envelope, applies and reports. */
  async run(stop: AbortSignal): Promise<void> {
    const { ctx } = this;
    // A signal of the agent's own, as an agent alone in its process has: every wait adds a
    // listener to it, and on the signal the simulator's thousands of agents share, each add
    // walked all their listeners (Node's EventTarget checks for duplicates), a cost that grew
    // with the agents per process and that no real agent pays.
    const own = new AbortController();
    const signal = own.signal;
    if (stop.aborted) own.abort();
    else stop.addEventListener('abort', () => own.abort(), { once: true });
    if (ctx.transport === 'auto') {
      this.stream = new HubStream({
        endpoints: new HubEndpoints(ctx.url),
        targetId: this.targetId,
        token: () => this.token(),
        invalidateToken: () => {
          this.tokenRenewAt = 0;
        },
        etag: () => this.etag,
        log: ctx.log ?? silent,
        reconnectWindowMs: ctx.reconnectWindowMs,
      });
      void this.stream.run(signal);
    }
    let seen = -1;
    while (!signal.aborted) {
      try {
        const stream = this.stream;
        let wait = ctx.waitSeconds;
        if (stream !== undefined && !stream.refused) {
          await stream.next(seen, 3_600_000, signal);
          if (signal.aborted || stream.refused) continue;
          seen = stream.changes;
          wait = 0;
        }
        const authorization = `Bearer ${await this.token()}`;
        const answer = await call(
          wait === 0 ? ctx.calls : ctx.polls,
          'GET',
          `/v1/targets/${this.targetId}/envelope?wait=${wait}`,
          { authorization, ...(this.etag === undefined ? {} : { 'if-none-match': this.etag }) },
        );
        if (answer.status === 200) await this.apply(answer.body as SignedEnvelope, authorization);
        else if (answer.status !== 204 && answer.status !== 304) throw new Error(`envelope: ${answer.status}`);
        this.etag = String(answer.headers['etag']);
      } catch (error) {
        if (signal.aborted) return;
        // Fetched again after the pause, notice or not, as the agent's pull loop does.
        seen = -1;
        ctx.error(this.name, error);
        if (messageOf(error).includes('401')) this.tokenRenewAt = 0;
        await sleep(200 + Math.random() * 800);
      }
    }
  }

  /** Fetches the drift policy of `digest` unless this process has it or is fetching it. */
  private driftPolicy(digest: string, authorization: string): Promise<void> {
    const { driftPolicies, calls } = this.ctx;
    let fetched = driftPolicies.get(digest);
    if (fetched === undefined) {
      fetched = call(calls, 'GET', `/v1/drift-policies/${digest}`, { authorization }).then((answer) => {
        if (answer.status !== 200) throw new Error(`drift policy ${digest}: ${answer.status}`);
      });
      driftPolicies.set(digest, fetched);
      // A failed fetch is tried again by the next agent that needs it.
      fetched.catch(() => driftPolicies.delete(digest));
    }
    return fetched;
  }

  private async apply(signed: SignedEnvelope, authorization: string): Promise<void> {
    const { envelope } = signed;
    this.receivedAt = Date.now();
    const resources: Report['resources'] = [];
    if (envelope.driftPolicyDigest !== undefined) await this.driftPolicy(envelope.driftPolicyDigest, authorization);
    for (const ref of envelope.bundles) {
      const answer = await call(this.ctx.calls, 'GET', `/v1/bundles/${ref.digest}`, { authorization });
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
      // A report names releases only; the envelope's bundles also carry their sizes.
      bundles: envelope.bundles.map(releaseRefOf),
      resources,
      facts: { driver: 'sim', agentVersion: '0.1.0', envelopeFeatures: [READS_DRIFT_POLICY_DIGEST] },
      observedAt: new Date().toISOString(),
    };
    const path = `/v1/targets/${this.targetId}/reports`;
    const sentAt = performance.now();
    const answer = await call(
      this.ctx.calls,
      'POST',
      path,
      { authorization },
      { report, signature: signPayload('report', report, this.key) },
    );
    if (answer.status !== 201 && answer.status !== 200)
      throw new Error(`report: ${answer.status} ${JSON.stringify(answer.body)}`);
    const answeredAt = performance.now();
    this.reportMs = answeredAt - sentAt;
    this.reportWireMs = answeredAt - (this.ctx.wire?.take('POST', path) ?? sentAt);
    this.ctx.onReport?.(this.reportWireMs);
    this.applied = envelope.bundles.map((b) => b.digest).join(',');
    this.reportedAt = Date.now();
  }
}
