import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { importJWK, SignJWT } from 'jose';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, FileAgentStore, ManifestsDirDriver, requestKeyRotation } from '@flotilla/agent';
import { KeyPair, keyIdOf, type KeyPair as KeyPairType } from '@flotilla/protocol';
import { runOfflineCommand } from '../packages/agent/src/offline/offline-command.ts';
import { api, configMap, silent, startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

/*
 * Agent key rotation end to end: a real hub, real agents, and between them a proxy that can
 * lose a rotation on its way to the hub or on its way back, as a crash of either side would.
 */

/** `down`: the hub cannot be reached at all, as from a site cut off. */
type Fault = 'drop-request' | 'drop-answer' | 'down' | undefined;

interface Proxy {
  readonly url: string;
  fault: Fault;
  /** Rotation requests that reached the hub. */
  forwarded: number;
  close(): Promise<void>;
}

async function startProxy(hubUrl: string): Promise<Proxy> {
  const proxy = { fault: undefined as Fault, forwarded: 0 };
  const server: Server = createServer((req, res) => {
    const rotation = req.method === 'POST' && (req.url ?? '').endsWith('/key-rotation');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (proxy.fault === 'down' || (rotation && proxy.fault === 'drop-request')) return void res.socket?.destroy();
      const headers = { ...req.headers };
      delete headers['host'];
      delete headers['content-length'];
      void request(`${hubUrl}${req.url ?? '/'}`, {
        method: req.method as 'GET',
        headers,
        ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
      })
        .then(async (answer) => {
          const body = Buffer.from(await answer.body.arrayBuffer());
          if (rotation) proxy.forwarded++;
          if (rotation && proxy.fault === 'drop-answer') return void res.socket?.destroy();
          const out = Object.fromEntries(
            Object.entries(answer.headers).filter(
              ([k]) => k !== 'transfer-encoding' && k !== 'connection' && k !== 'keep-alive',
            ),
          );
          res.writeHead(answer.statusCode, out).end(body);
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(502).end();
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** A file store that dies (throws, and writes nothing) when it is about to save a rotated key. */
class DyingStore extends FileAgentStore {
  died = false;
  override async commitKey(): Promise<void> {
    this.died = true;
    throw new Error('the agent was killed before it saved its new key');
  }
}

let hub: HubFixture;
let proxy: Proxy;
let dir: ReturnType<typeof tempDir>;
const running: Agent[] = [];

beforeEach(async () => {
  hub = await startHub();
  proxy = await startProxy(hub.url);
  dir = tempDir('flotilla-key-rotation-');
  enrollToken = undefined;
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((agent) => agent.stop()));
  await proxy.close();
  await hub.dispose();
  dir.remove();
});

const stateDir = (): string => join(dir.path, 'state');
const rootDir = (): string => join(dir.path, 'root');
const keyFile = (): KeyPairType => KeyPair.parse(JSON.parse(readFileSync(join(stateDir(), 'agent-key.json'), 'utf8')));

let enrollToken: string | undefined;

async function startVictim(
  options: { store?: FileAgentStore; observeIntervalMs?: number } = {},
): Promise<{ agent: Agent; targetId: string }> {
  enrollToken ??= await hub.enrollmentToken(1);
  const agent = new Agent({
    hubUrl: proxy.url,
    ...(options.store === undefined ? { stateDir: stateDir() } : { store: options.store }),
    driver: new ManifestsDirDriver(rootDir()),
    log: silent,
    enrollToken,
    waitSeconds: 1,
    observeIntervalMs: options.observeIntervalMs ?? 60_000,
    backoff: { baseMs: 20, maxMs: 100 },
  });
  running.push(agent);
  const { targetId } = await agent.start();
  return { agent, targetId };
}

async function stop(agent: Agent): Promise<void> {
  running.splice(running.indexOf(agent), 1);
  await agent.stop();
}

/** An access token for `targetId` got with `key`, or the hub's refusal. */
async function tokenWith(key: KeyPairType, targetId: string): Promise<{ status: number; token?: string }> {
  const enrollment = JSON.parse(readFileSync(join(stateDir(), 'enrollment.json'), 'utf8')) as { audience: string };
  const jwk = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: key.publicKey, d: key.seed }, 'EdDSA');
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(targetId)
    .setIssuer(targetId)
    .setAudience(enrollment.audience)
    .setIssuedAt()
    .setExpirationTime('60s')
    .setJti(randomUUID())
    .sign(jwk);
  const answer = await api<{ accessToken: string }>(hub.url, 'POST', '/v1/token', { body: { assertion } });
  return { status: answer.status, token: answer.body.accessToken };
}

async function hubKeyId(targetId: string): Promise<string> {
  const target = await api<{ keyId: string }>(hub.url, 'GET', `/v1/targets/${targetId}`, { token: hub.adminToken });
  return target.body.keyId;
}

/** The agent still works: it applies a release assigned now. */
async function appliesARelease(targetId: string, version: string): Promise<void> {
  await hub.publish('app', version, [configMap('app', { v: version })]);
  expect((await hub.assign(targetId, [`app@${version}`])).status).toBe(200);
  await waitFor(`release ${version} applied`, () => {
    try {
      return readFileSync(join(rootDir(), 'default_configmap_app.yaml'), 'utf8').includes(version);
    } catch {
      return false;
    }
  });
}

describe('agent key rotation', () => {
  it('binds a new key to the same target on demand, and the old key stops working at once', async () => {
    const { targetId } = await startVictim();
    const old = keyFile();
    const oldToken = await tokenWith(old, targetId);
    expect(oldToken.status).toBe(200);
    await requestKeyRotation(new FileAgentStore(stateDir()), Date.now());
    await waitFor('the agent key rotated', () => keyFile().publicKey !== old.publicKey);
    const rotated = keyFile();
    expect(await hubKeyId(targetId)).toBe(keyIdOf(rotated.publicKey));
    const refused = await api(hub.url, 'GET', `/v1/targets/${targetId}/envelope`, { token: oldToken.token });
    expect(refused.status).toBe(401);
    expect((await tokenWith(old, targetId)).status).toBe(401);
    expect((await tokenWith(rotated, targetId)).status).toBe(200);
    await appliesARelease(targetId, '1.0.0');
    const audit = await api<{ entries: { action: string; subjects: string[] }[] }>(
      hub.url,
      'GET',
      '/v1/audit?action=target.rotate-key',
      { token: hub.adminToken },
    );
    expect(audit.body.entries).toEqual([expect.objectContaining({ subjects: [targetId] })]);
  });

  it('rotates a key that is older than the schedule allows', async () => {
    const first = await startVictim();
    await stop(first.agent);
    const old = keyFile();
    const since = new Date(Date.now() - 91 * 86_400_000).toISOString();
    writeFileSync(
      join(stateDir(), 'key-rotation.json'),
      JSON.stringify({ keySince: since, pending: null, requested: false }),
    );
    await startVictim();
    await waitFor('the agent key rotated', () => keyFile().publicKey !== old.publicKey);
    expect(await hubKeyId(first.targetId)).toBe(keyIdOf(keyFile().publicKey));
  });

  it('keeps a working identity when the rotation is lost on its way to the hub', async () => {
    const { targetId } = await startVictim();
    const old = keyFile();
    proxy.fault = 'drop-request';
    await requestKeyRotation(new FileAgentStore(stateDir()), Date.now());
    await waitFor('a pending key kept', () => {
      const state = JSON.parse(readFileSync(join(stateDir(), 'key-rotation.json'), 'utf8')) as { pending: unknown };
      return state.pending !== null;
    });
    expect(await hubKeyId(targetId)).toBe(keyIdOf(old.publicKey));
    expect((await tokenWith(old, targetId)).status).toBe(200);
    proxy.fault = undefined;
    await waitFor('the agent key rotated', () => keyFile().publicKey !== old.publicKey);
    expect(await hubKeyId(targetId)).toBe(keyIdOf(keyFile().publicKey));
    await appliesARelease(targetId, '1.0.0');
  });

  it('finishes a rotation whose answer the hub sent but the agent never got', async () => {
    const { targetId } = await startVictim();
    const old = keyFile();
    proxy.fault = 'drop-answer';
    await requestKeyRotation(new FileAgentStore(stateDir()), Date.now());
    await waitFor('the rotation made at the hub', async () => (await hubKeyId(targetId)) !== keyIdOf(old.publicKey));
    expect(keyFile().publicKey).toBe(old.publicKey);
    proxy.fault = undefined;
    await waitFor('the agent key rotated', () => keyFile().publicKey !== old.publicKey);
    expect(await hubKeyId(targetId)).toBe(keyIdOf(keyFile().publicKey));
    await appliesARelease(targetId, '1.0.0');
  });

  it('finishes a rotation after the agent died between the hub saying yes and saving its key', async () => {
    const dying = new DyingStore(stateDir());
    const first = await startVictim({ store: dying });
    const old = keyFile();
    await requestKeyRotation(dying, Date.now());
    await waitFor('the agent killed half-way', () => dying.died);
    await stop(first.agent);
    expect(await hubKeyId(first.targetId)).not.toBe(keyIdOf(old.publicKey));
    expect(keyFile().publicKey).toBe(old.publicKey);
    await startVictim();
    await waitFor('the agent key rotated', () => keyFile().publicKey !== old.publicKey);
    expect(await hubKeyId(first.targetId)).toBe(keyIdOf(keyFile().publicKey));
    await appliesARelease(first.targetId, '1.0.0');
  });

  it('takes a reports file the agent wrote before it rotated its key, its reports held once', async () => {
    const online = await startVictim();
    await appliesARelease(online.targetId, '1.0.0');
    await stop(online.agent);
    // Cut off: the agent journals what it observes, and the site carries a reports file out.
    proxy.fault = 'down';
    const offline = await startVictim({ observeIntervalMs: 50 });
    const journal = join(stateDir(), 'journal');
    await waitFor('a report journaled while cut off', () =>
      readdirSync(journal).some((f) => f.endsWith('.report.json')),
    );
    await stop(offline.agent);
    const file = join(dir.path, 'reports.jsonl');
    await runOfflineCommand('export-reports', file, { stateDir: stateDir() }, {}, () => undefined);
    // Back online: the journal goes to the hub, then the key rotates.
    proxy.fault = undefined;
    const old = keyFile();
    await requestKeyRotation(new FileAgentStore(stateDir()), Date.now());
    await startVictim();
    await waitFor('the agent key rotated', () => keyFile().publicKey !== old.publicKey);

    const answer = await api<{ receipt: { accepted: unknown[]; duplicates: Array<{ from: number; to: number }> } }>(
      hub.url,
      'POST',
      '/v1/offline/reports',
      {
        token: hub.adminToken,
        rawBody: readFileSync(file, 'utf8'),
        headers: { 'content-type': 'application/x-ndjson' },
      },
    );
    expect(answer.status).toBe(200);
    expect(answer.body.receipt.accepted).toEqual([]);
    expect(answer.body.receipt.duplicates).toHaveLength(1);
  });

  it('refuses a rotation not signed by the key the target holds', async () => {
    const { targetId } = await startVictim();
    const { generateKeyPair, signPayload } = await import('@flotilla/protocol');
    const thief = generateKeyPair();
    const next = generateKeyPair();
    const rotation = {
      targetId,
      oldKeyId: keyIdOf(keyFile().publicKey),
      newPublicKey: next.publicKey,
      issuedAt: new Date().toISOString(),
    };
    const answer = await api(hub.url, 'POST', `/v1/targets/${targetId}/key-rotation`, {
      body: {
        rotation,
        oldSignature: signPayload('key-rotation', rotation, thief),
        newSignature: signPayload('key-rotation', rotation, next),
      },
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('PROOF_INVALID');
    expect(await hubKeyId(targetId)).toBe(keyIdOf(keyFile().publicKey));
    const refusals = await api<{ entries: { reason?: string }[] }>(
      hub.url,
      'GET',
      '/v1/audit?action=target.rotate-key&outcome=refused',
      { token: hub.adminToken },
    );
    expect(refusals.body.entries).toEqual([expect.objectContaining({ reason: 'PROOF_INVALID' })]);
  });
});
