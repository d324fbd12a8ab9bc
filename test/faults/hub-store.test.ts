import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, signBundle, type KeyPair } from '@flotilla/protocol';
import { fillStore } from '../fixtures/full-store.ts';
import { api } from '../fixtures/hub-fixture.ts';
import { spawnHubProcess, startHubProcess, type HubProcess } from '../fixtures/processes.ts';
import { mountSmallFilesystem, type SmallFilesystem } from '../fixtures/small-filesystem.ts';
import { tempDir } from '../fixtures/temp-dir.ts';
import { ProtocolAgent, type TestHub } from '../../packages/hub/test/support.ts';
import { waitFor } from '../fixtures/wait-for.ts';

const HOLD_LOCK = fileURLToPath(new URL('../fixtures/hold-db-lock.ts', import.meta.url));

let hub: HubProcess | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
let small: SmallFilesystem | undefined;

afterEach(async () => {
  await hub?.kill();
  hub = undefined;
  dir?.remove();
  dir = undefined;
  small?.remove();
  small = undefined;
});

/** A write that answers at once: an enrollment token. */
function write(h: HubProcess) {
  return api(h.url, 'POST', '/v1/enrollment-tokens', { token: h.adminToken, body: { maxUses: 1 } });
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

/** The most pages the hub's database may have in the full-store test: 4 MiB, some 900 pages more than a new hub's */
const STORE_PAGES = 1024;

async function addReleaseKey(h: HubProcess): Promise<KeyPair> {
  const releaseKey = generateKeyPair();
  const added = await api(h.url, 'POST', '/v1/trust-root/release-keys', {
    token: h.adminToken,
    body: { publicKey: releaseKey.publicKey, name: 'release' },
  });
  expect(added.status).toBe(200);
  return releaseKey;
}

/** A signed release of `count` ConfigMaps of `kib` KiB each: a write that needs new pages. */
function bigBundle(releaseKey: KeyPair, version: string, count: number, kib: number) {
  return signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'big',
      version,
      resources: Array.from({ length: count }, (_, i) => ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `big-${i}`, namespace: 'default' },
        data: { blob: `${version}-${i}-`.padEnd(kib * 1024, 'x') },
      })),
    },
    [releaseKey],
  );
}

async function readyAgain(h: HubProcess): Promise<void> {
  await waitFor('the hub to be ready again', async () => (await api(h.url, 'GET', '/v1/ready')).status === 200);
}

/** What a hub under a store fault must do, whatever the fault: checked while it lasts. */
async function expectDegradedButUp(h: HubProcess, code: RegExp): Promise<void> {
  const refused = await write(h);
  expect(refused.status).toBe(503);
  expect(refused.body.error.code).toBe('STORE_UNAVAILABLE');
  expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  // Writes, reads and liveness together: liveness stays fast, reads keep working.
  const [writes, reads, health] = await Promise.all([
    Promise.all(Array.from({ length: 10 }, () => write(h))),
    Promise.all(Array.from({ length: 5 }, () => api(h.url, 'GET', '/v1/enrollment-tokens', { token: h.adminToken }))),
    Promise.all(Array.from({ length: 5 }, () => timed(() => api(h.url, 'GET', '/v1/health')))),
  ]);
  expect(writes.map((w) => w.status)).toEqual(Array(10).fill(503));
  expect(reads.map((r) => r.status)).toEqual(Array(5).fill(200));
  expect(health.map((r) => r.value.status)).toEqual(Array(5).fill(200));
  // The defect stalled liveness for the whole busy timeout (5 s); slack for a loaded CI machine.
  expect(Math.max(...health.map((r) => r.ms))).toBeLessThan(2000);
  const ready = await api(h.url, 'GET', '/v1/ready');
  expect(ready.status).toBe(503);
  expect(ready.body.store.code).toMatch(code);
}

async function expectLoggedOnce(h: HubProcess): Promise<void> {
  // The hub is ready again before its log line has come through the pipe.
  await h.waitForLog('store writable again');
  expect(h.logs.filter((l) => l.msg === 'store unavailable')).toHaveLength(1);
  expect(h.logs.filter((l) => l.msg === 'store writable again')).toEqual([
    expect.objectContaining({ durationMs: expect.any(Number) }),
  ]);
  expect(h.logs.filter((l) => l.msg === 'request failed')).toEqual([]);
}

async function expectIntact(h: HubProcess, dataDir: string): Promise<void> {
  const verify = await api(h.url, 'GET', '/v1/audit/verify', { token: h.adminToken });
  expect(verify.body).toMatchObject({ ok: true });
  expect(await h.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  const db = new Database(join(dataDir, 'hub.db'), { readonly: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  } finally {
    db.close();
  }
}

describe('the hub process when its store cannot write', () => {
  it('stays up while another process holds the database write lock, and recovers when it lets go', async () => {
    dir = tempDir('flotilla-lock-');
    const dataDir = join(dir.path, 'hub');
    hub = await startHubProcess({ dataDir });
    const created = await write(hub);
    expect(created.status).toBe(201);
    const agent = new ProtocolAgent({ url: hub.url, now: () => Date.now() } as TestHub);
    await agent.enroll(created.body.token as string, 'seen-while-locked', Date.now());
    const agentToken = await agent.accessToken(Date.now());

    const holder = spawn(process.execPath, ['--import', 'tsx', HOLD_LOCK, join(dataDir, 'hub.db')], {
      stdio: ['pipe', 'pipe', 'inherit'],
      // tsx's compile cache would stay behind in the temporary folder.
      env: { ...process.env, TSX_DISABLE_CACHE: '1' },
    });
    const holderExit = new Promise((resolve) => holder.once('exit', resolve));
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    try {
      // A check-in marks the target seen; the hub's own last-seen flush then meets the lock in
      // a timer, where the uncaught SQLITE_BUSY used to end the process. Liveness is probed
      // all along, which used to stall for the busy timeout.
      const checkIn = await api(hub.url, 'GET', `/v1/targets/${agent.targetId}/envelope?wait=0`, { token: agentToken });
      expect(checkIn.status).toBeLessThan(500);
      const probes: number[] = [];
      let probing = true;
      // At least a dozen probes, however soon the flush meets the lock: its timer may fire at once.
      const probe = (async () => {
        while (probing || probes.length <= 10) {
          const answer = await timed(() => api(hub!.url, 'GET', '/v1/health'));
          expect(answer.value.status).toBe(200);
          probes.push(answer.ms);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      try {
        await hub.waitForLog('store unavailable', (line) => line['failedIn'] === 'last-seen flush');
      } finally {
        probing = false;
        await probe;
      }
      expect(Math.max(...probes)).toBeLessThan(2000);
      expect(hub.alive()).toBe(true);
      await expectDegradedButUp(hub, /^SQLITE_BUSY/);
    } finally {
      holder.stdin.end();
      await holderExit;
    }
    await readyAgain(hub);
    expect((await write(hub)).status).toBe(201);
    await waitFor('the last-seen time held through the outage to be written', async () => {
      const target = await api(hub!.url, 'GET', `/v1/targets/${agent.targetId}`, { token: hub!.adminToken });
      return typeof target.body.lastSeenAt === 'string';
    });
    expect(hub.alive()).toBe(true);
    await expectLoggedOnce(hub);
    await expectIntact(hub, dataDir);
  });

  it('stays up when its store cannot grow, answers each write that needs room 503, and takes it once there is room', async () => {
    dir = tempDir('flotilla-full-store-');
    const dataDir = join(dir.path, 'hub');
    hub = await startHubProcess({ dataDir, env: { FLOTILLA_TEST_STORE_MAX_PAGES: String(STORE_PAGES) } });
    expect(hub.logs.filter((l) => l.msg === 'test-only store page limit in force')).toEqual([
      expect.objectContaining({ maxPages: STORE_PAGES }),
    ]);
    const releaseKey = await addReleaseKey(hub);
    // Filled from this process up to the page limit the hub applies to its own connection: the
    // hub's next write that needs a new page gets SQLITE_FULL from SQLite itself.
    const store = fillStore(join(dataDir, 'hub.db'), STORE_PAGES);
    const publish = await api(hub.url, 'POST', '/v1/bundles', {
      token: hub.adminToken,
      body: bigBundle(releaseKey, '1.0.0', 1, 256),
    });
    expect(publish.status).toBe(503);
    expect(publish.body.error.code).toBe('STORE_UNAVAILABLE');
    expect(publish.body.error.message).toContain('SQLITE_FULL');
    expect(Number(publish.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Unlike a full disk (below), a write that fits in the pages the store has still succeeds,
    // so the hub's probe may end the outage at once; each write that needs room fails anew.
    const [writes, reads, health] = await Promise.all([
      Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          api(hub!.url, 'POST', '/v1/bundles', {
            token: hub!.adminToken,
            body: bigBundle(releaseKey, `1.0.${i + 1}`, 1, 256),
          }),
        ),
      ),
      Promise.all(
        Array.from({ length: 5 }, () => api(hub!.url, 'GET', '/v1/enrollment-tokens', { token: hub!.adminToken })),
      ),
      Promise.all(Array.from({ length: 5 }, () => timed(() => api(hub!.url, 'GET', '/v1/health')))),
    ]);
    expect(writes.map((w) => [w.status, w.body.error?.code])).toEqual(Array(5).fill([503, 'STORE_UNAVAILABLE']));
    expect(reads.map((r) => r.status)).toEqual(Array(5).fill(200));
    expect(health.map((r) => r.value.status)).toEqual(Array(5).fill(200));
    expect(Math.max(...health.map((r) => r.ms))).toBeLessThan(2000);

    store.free();
    await readyAgain(hub);
    const again = await api(hub.url, 'POST', '/v1/bundles', {
      token: hub.adminToken,
      body: bigBundle(releaseKey, '1.0.0', 1, 256),
    });
    expect(again.status).toBe(201);
    expect(hub.alive()).toBe(true);
    // One line when each outage starts and one when it ends, however many outages there were.
    const logged = (msg: string) => hub!.logs.filter((l) => l.msg === msg);
    await waitFor('each outage to be logged as over', () => {
      const outages = logged('store unavailable').length;
      return outages >= 1 && logged('store writable again').length === outages;
    });
    expect(logged('store unavailable').map((l) => l['code'])).toEqual(
      logged('store unavailable').map(() => 'SQLITE_FULL'),
    );
    expect(hub.logs.filter((l) => l.msg === 'request failed')).toEqual([]);
    await expectIntact(hub, dataDir);
  });

  // A tmpfs needs root to mount: CI runs as root (.ci/run) and must run this; elsewhere it
  // skips and says why. What it adds to the test above: on a full file system the write-ahead
  // log cannot grow either, so every write fails, the small probe included, and the outage
  // lasts until there is room.
  const mounted = mountSmallFilesystem(32);
  const noMount = typeof mounted === 'string' ? mounted : undefined;
  if (typeof mounted !== 'string') mounted.remove();
  const skipFullDisk = noMount !== undefined && process.env['CI'] === undefined;
  afterAll(() => {
    if (skipFullDisk) console.warn(`full-filesystem test skipped: ${noMount}`);
  });

  it.skipIf(skipFullDisk)(
    'stays up on a full file system, refuses every write until there is room, and recovers by itself',
    async () => {
      const mountedNow = mountSmallFilesystem(32);
      if (typeof mountedNow === 'string') throw new Error(`CI must run this test as root: ${mountedNow}`);
      small = mountedNow;
      const dataDir = join(small.path, 'hub');
      hub = await startHubProcess({ dataDir });
      const releaseKey = await addReleaseKey(hub);
      const filler = small.fill();
      // About 6 MB: more than the write-ahead log has room for, so it needs new space.
      const publish = await api(hub.url, 'POST', '/v1/bundles', {
        token: hub.adminToken,
        body: bigBundle(releaseKey, '1.0.0', 6, 1024),
      });
      expect(publish.status).toBe(503);
      expect(publish.body.error.code).toBe('STORE_UNAVAILABLE');
      await expectDegradedButUp(hub, /^SQLITE_(FULL|IOERR)/);

      rmSync(filler);
      await readyAgain(hub);
      expect(
        (
          await api(hub.url, 'POST', '/v1/bundles', {
            token: hub.adminToken,
            body: bigBundle(releaseKey, '1.0.0', 6, 1024),
          })
        ).status,
      ).toBe(201);
      expect(hub.alive()).toBe(true);
      await expectLoggedOnce(hub);
      await expectIntact(hub, dataDir);
    },
  );

  describe('refuses to start on a data directory it cannot use, naming the path and the cause', () => {
    it('a data directory that is a file', async () => {
      dir = tempDir('flotilla-baddir-');
      const dataDir = join(dir.path, 'hub');
      writeFileSync(dataDir, 'not a directory');
      const started = spawnHubProcess({ dataDir });
      expect(await started.exited).toEqual({ code: 1, signal: null });
      const message = started.stderr().trim();
      expect(message.split('\n')).toHaveLength(1);
      expect(message).toContain(dataDir);
      expect(message).toMatch(/not a directory/i);
      expect(message).not.toMatch(/unexpected error/);
    });

    it('a database that cannot grow', async () => {
      dir = tempDir('flotilla-full-start-');
      const dataDir = join(dir.path, 'hub');
      // One page: the migrations need more, and SQLite answers SQLITE_FULL as on a full disk.
      const started = spawnHubProcess({ dataDir, env: { FLOTILLA_TEST_STORE_MAX_PAGES: '1' } });
      expect(await started.exited).toEqual({ code: 1, signal: null });
      const message = started.stderr().trim();
      expect(message.split('\n')).toHaveLength(1);
      expect(message).toContain(dataDir);
      expect(message).toContain('SQLITE_FULL');
      expect(message).toMatch(/the disk is full/);
      expect(message).not.toMatch(/unexpected error/);
    });
  });
});
