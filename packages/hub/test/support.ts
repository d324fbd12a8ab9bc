import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import {
  API_VERSION,
  generateKeyPair,
  sha256,
  signPayload,
  type Facts,
  type ReleaseRef,
  type Report,
  type SignedReport,
} from '@flotilla/protocol';
import Database from 'better-sqlite3';
import { openHub, type OpenedHub, type OpenHubOptions } from '../src/open-hub.ts';
import type { Db } from '../src/store/database.ts';
import { PostgresDatabase } from '../src/store/postgres/postgres-database.ts';
import { testHubDatabase } from './store-kinds.ts';

export interface TestHub {
  readonly url: string;
  readonly opened: OpenedHub;
  readonly adminToken: string;
  readonly dataDir: string;
  /**
   * A second connection to the hub's database, to look at what it stored (SQLite's read-only
   * unless `writable`, for a test that stores what an older hub would have); close it after.
   */
  openDb(options?: { readonly writable?: boolean }): Db;
  /** Moves the hub's clock forward. */
  advance(ms: number): void;
  /** The hub's clock. */
  now(): number;
  close(): Promise<void>;
}

/**
 * A real hub on a temporary data directory and a loopback port, with a clock the test moves.
 * Its reports are read on the event loop unless `reportWorkers` says otherwise: a report worker
 * started from TypeScript sources costs about a second of CPU, and the report tests run both
 * paths (the hubs the end-to-end tests start from the build run the workers).
 */
export async function startTestHub(
  options: Pick<
    OpenHubOptions,
    | 'dashboardDir'
    | 'lastSeenFlushMs'
    | 'reportWorkers'
    | 'faults'
    | 'envelopeDriftPolicy'
    | 'reportRetentionMs'
    | 'reportPruneBatch'
    | 'stream'
  > = {},
): Promise<TestHub> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-hub-test-'));
  let offset = 0;
  const database = testHubDatabase();
  const opened = await openHub({
    dataDir: join(dir, 'hub'),
    ...(database.url === undefined ? {} : { database: database.url }),
    log: pino({ level: 'silent' }),
    clock: () => Date.now() + offset,
    reportWorkers: 0,
    ...options,
  });
  const url = await opened.hub.listen(0);
  return {
    url,
    opened,
    adminToken: opened.createdAdminToken!,
    dataDir: join(dir, 'hub'),
    openDb({ writable = false } = {}) {
      return database.url === undefined
        ? new Database(join(dir, 'hub', 'hub.db'), { readonly: !writable })
        : PostgresDatabase.connect(database.url);
    },
    advance(ms) {
      offset += ms;
    },
    now() {
      return Date.now() + offset;
    },
    async close() {
      await opened.hub.close();
      database.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function call(
  url: string,
  method: string,
  path: string,
  options: { token?: string; body?: string; contentType?: string } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const response = await request(`${url}${path}`, {
    method: method as 'GET',
    headers,
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.statusCode, body };
}

/**
 * An agent spoken at the protocol level, without the agent package: enough to enroll, get a
 * token against the hub's clock, and send signed reports, so hub tests can move time freely.
 */
export class ProtocolAgent {
  readonly key = generateKeyPair();
  targetId = '';
  private audience = '';
  private seq = 0;
  private readonly hub: TestHub;

  constructor(hub: TestHub) {
    this.hub = hub;
  }

  async enroll(token: string, name: string, now: number): Promise<void> {
    const issuedAt = new Date(now).toISOString();
    const proof = signPayload(
      'enroll',
      { publicKey: this.key.publicKey, tokenDigest: sha256(token), issuedAt },
      this.key,
    );
    const answer = await call(this.hub.url, 'POST', '/v1/enroll', {
      body: JSON.stringify({ token, publicKey: this.key.publicKey, name, issuedAt, proof }),
    });
    if (answer.status !== 201) throw new Error(`enroll failed: ${JSON.stringify(answer.body)}`);
    this.targetId = answer.body.targetId;
    this.audience = answer.body.audience;
  }

  async accessToken(now: number): Promise<string> {
    const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: this.key.publicKey, d: this.key.seed }, 'EdDSA');
    const seconds = Math.floor(now / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(this.targetId)
      .setSubject(this.targetId)
      .setAudience(this.audience)
      .setIssuedAt(seconds)
      .setExpirationTime(seconds + 60)
      .setJti(randomUUID())
      .sign(jwk);
    const answer = await call(this.hub.url, 'POST', '/v1/token', { body: JSON.stringify({ assertion }) });
    if (answer.status !== 200) throw new Error(`token failed: ${JSON.stringify(answer.body)}`);
    return answer.body.accessToken as string;
  }

  /** Report `seq`, applied and healthy at generation 0 with nothing running, observed at `now`, signed with this agent's key. */
  signedReport(seq: number, now: number): SignedReport {
    const report: Report = {
      apiVersion: API_VERSION,
      kind: 'Report',
      targetId: this.targetId,
      seq,
      generation: 0,
      phase: 'applied',
      health: 'healthy',
      bundles: [],
      resources: [],
      facts: {},
      observedAt: new Date(now).toISOString(),
    };
    return { report, signature: signPayload('report', report, this.key) };
  }

  /** Reports running these releases, healthy, with these facts. */
  async report(now: number, bundles: ReleaseRef[], facts: Facts = {}): Promise<void> {
    const report: Report = {
      apiVersion: API_VERSION,
      kind: 'Report',
      targetId: this.targetId,
      seq: ++this.seq,
      generation: 1,
      phase: 'applied',
      health: 'healthy',
      bundles,
      resources: [],
      facts,
      observedAt: new Date(now).toISOString(),
    };
    const answer = await call(this.hub.url, 'POST', `/v1/targets/${this.targetId}/reports`, {
      token: await this.accessToken(now),
      body: JSON.stringify({ report, signature: signPayload('report', report, this.key) }),
    });
    if (answer.status !== 201) throw new Error(`report failed: ${JSON.stringify(answer.body)}`);
  }
}
