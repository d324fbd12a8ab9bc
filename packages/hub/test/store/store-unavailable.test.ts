import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHub, type OpenedHub } from '../../src/open-hub.ts';
import { ProtocolAgent, type TestHub } from '../support.ts';

let dir: string;
let opened: OpenedHub;
let url: string;
let adminToken: string;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-store-'));
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    }),
  );
  opened = await openHub({
    dataDir: join(dir, 'hub'),
    log,
    checkpointIntervalMs: 0,
    storeProbeMs: 50,
    lastSeenFlushMs: 20,
  });
  url = await opened.hub.listen(0);
  adminToken = opened.createdAdminToken!;
});

afterAll(async () => {
  await opened.hub.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: string) {
  const started = performance.now();
  const response = await request(`${url}${path}`, {
    method: method as 'GET',
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers,
    body: text === '' ? undefined : JSON.parse(text),
    ms: performance.now() - started,
  };
}

/** Polls `probe` until it returns a value other than undefined; the deadline only ends a hung test. */
async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function waitForLine(match: (line: Record<string, unknown>) => boolean): Promise<void> {
  await until('the log line', () => (lines.some(match) ? true : undefined));
}

const createToken = () => call('POST', '/v1/enrollment-tokens', '{"maxUses":1}');

describe('the hub while another process holds the write lock of its database', () => {
  it('answers writes 503 with Retry-After and STORE_UNAVAILABLE, keeps reads and liveness fast, reports unready, and recovers by itself', async () => {
    expect((await createToken()).status).toBe(201);
    expect((await call('GET', '/v1/ready')).status).toBe(200);

    const holder = new Database(join(dir, 'hub', 'hub.db'));
    holder.exec('BEGIN IMMEDIATE');
    try {
      const refused = await createToken();
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('STORE_UNAVAILABLE');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.ms).toBeLessThan(1000);
      for (let i = 0; i < 5; i++) expect((await createToken()).status).toBe(503);

      const health = await call('GET', '/v1/health');
      expect(health.status).toBe(200);
      // The defect stalled liveness for seconds behind the busy timeout; a loaded CI machine needs slack.
      expect(health.ms).toBeLessThan(2000);
      expect((await call('GET', '/v1/enrollment-tokens')).status).toBe(200);
      const ready = await call('GET', '/v1/ready');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ ready: false, store: { writable: false, code: 'SQLITE_BUSY' } });
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }

    const back = await until('the hub to be ready again', async () => {
      const answer = await call('GET', '/v1/ready');
      return answer.status === 200 ? answer : undefined;
    });
    expect(back.body).toMatchObject({ ready: true, store: { writable: true } });
    expect((await createToken()).status).toBe(201);

    const down = lines.filter((line) => line['msg'] === 'store unavailable');
    const up = lines.filter((line) => line['msg'] === 'store writable again');
    expect(down).toHaveLength(1);
    expect(down[0]).toMatchObject({ code: 'SQLITE_BUSY' });
    expect(up).toHaveLength(1);
    expect(up[0]?.['durationMs']).toEqual(expect.any(Number));
    // Logged once, not per refused request.
    expect(lines.filter((line) => line['level'] === 50 && line['msg'] !== 'store unavailable')).toEqual([]);
  });

  it("keeps the hub up when a timer's write fails, and writes what it held once the lock is let go", async () => {
    const created = await createToken();
    const agent = new ProtocolAgent({ url, now: () => Date.now() } as TestHub);
    await agent.enroll(created.body.token as string, 'seen-while-locked', Date.now());
    const token = await agent.accessToken(Date.now());
    const holder = new Database(join(dir, 'hub', 'hub.db'));
    holder.exec('BEGIN IMMEDIATE');
    try {
      // A check-in marks the target seen; the flush timer then fails on the lock, again and again.
      const checkIn = await request(`${url}/v1/targets/${agent.targetId}/envelope?wait=0`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await checkIn.body.text();
      await waitForLine((line) => line['msg'] === 'store unavailable' && line['failedIn'] === 'last-seen flush');
      expect((await call('GET', '/v1/health')).status).toBe(200);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    const seen = await until('the target to be marked seen', async () => {
      const target = await call('GET', `/v1/targets/${agent.targetId}`);
      return (target.body.lastSeenAt ?? undefined) as unknown;
    });
    expect(seen).toEqual(expect.any(String));
  });
});
