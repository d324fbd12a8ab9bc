import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFlotillaError } from '@flotilla/protocol';
import {
  EMPTY_SYNC_STATE,
  IDENTITY_SECRET_TYPE,
  isIdentityConflict,
  KubeClient,
  SecretAgentStore,
  staticToken,
} from '@flotilla/agent';
import { startKubeApiServer, type KubeApiServer, type ObjectRef } from './fixtures/kube-apiserver/index.ts';
import { tempDir } from './fixtures/temp-dir.ts';

const TOKEN = 'store-token';
const NAMESPACE = 'flotilla-system';
const SECRET: ObjectRef = { apiVersion: 'v1', kind: 'Secret', namespace: NAMESPACE, name: 'flotilla-agent-identity' };
const ENROLLMENT = {
  targetId: 'tgt_0123456789abcdef0123',
  name: 'eu-1',
  hubId: 'hub-1',
  audience: 'urn:flotilla:hub:hub-1',
};

let kube: KubeApiServer;
let client: KubeClient;
let scratch: { path: string; remove: () => void };

beforeEach(async () => {
  kube = await startKubeApiServer({ tokens: [TOKEN] });
  kube.as('kubectl').apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  client = new KubeClient({ server: kube.url, token: staticToken(TOKEN) });
  scratch = tempDir('flotilla-store-');
});

afterEach(async () => {
  await client.close();
  await kube.close();
  scratch.remove();
});

function store(seqBlock = 100): SecretAgentStore {
  return new SecretAgentStore({ client, namespace: NAMESPACE, dir: scratch.path, seqBlock });
}

function stored(key: string): unknown {
  const data = (kube.get(SECRET)?.['data'] ?? {}) as Record<string, string>;
  return data[key] === undefined ? undefined : JSON.parse(Buffer.from(data[key], 'base64').toString('utf8'));
}

describe('SecretAgentStore: an agent identity shared by the pods of a cluster', () => {
  it('creates the Secret with the key pair on first use, and every later store reads the same identity', async () => {
    const first = store();
    expect(first.location).toBe('Secret flotilla-system/flotilla-agent-identity');
    expect(await first.enrollment()).toBeUndefined();
    expect(await first.sync()).toEqual(EMPTY_SYNC_STATE);
    const key = await first.keyPair();
    expect(await first.keyPair()).toEqual(key);
    await first.saveEnrollment(ENROLLMENT);

    const secret = kube.get(SECRET)!;
    expect(secret['type']).toBe(IDENTITY_SECRET_TYPE);
    expect(secret['metadata']).toMatchObject({
      labels: { 'app.kubernetes.io/name': 'flotilla-agent', 'app.kubernetes.io/managed-by': 'flotilla-agent' },
      annotations: { 'flotilla.io/target': ENROLLMENT.targetId },
    });
    expect(stored('agent-key.json')).toEqual(key);

    const later = store();
    expect(await later.keyPair()).toEqual(key);
    expect(await later.enrollment()).toEqual(ENROLLMENT);
  });

  it('makes one key pair when two pods create the Secret at once', async () => {
    const keys = await Promise.all([store().keyPair(), store().keyPair(), store().keyPair()]);
    expect(keys[1]).toEqual(keys[0]);
    expect(keys[2]).toEqual(keys[0]);
    expect(stored('agent-key.json')).toEqual(keys[0]);
  });

  it("hands out report numbers from reserved blocks, and a new leader continues above the old one's", async () => {
    const old = store(2);
    expect([await old.nextReportSeq(), await old.nextReportSeq(), await old.nextReportSeq()]).toEqual([1, 2, 3]);
    expect(stored('report-seq.json')).toEqual({ reserved: 4 });
    const next = store(2);
    expect(await next.nextReportSeq()).toBe(5);
    expect(stored('report-seq.json')).toEqual({ reserved: 6 });
    // The old leader may use what it reserved, but cannot reserve past the new one.
    expect(await old.nextReportSeq()).toBe(4);
    await expect(old.nextReportSeq()).rejects.toSatisfy(isIdentityConflict);
  });

  it("refuses a stale leader's write over a newer leader's applied state", async () => {
    const old = store();
    await old.saveSync({ ...EMPTY_SYNC_STATE, appliedGeneration: 3 });
    const next = store();
    expect((await next.sync()).appliedGeneration).toBe(3);
    await next.saveSync({ ...EMPTY_SYNC_STATE, appliedGeneration: 4 });
    const error = await old.saveSync({ ...EMPTY_SYNC_STATE, appliedGeneration: 3 }).catch((e: unknown) => e);
    expect(isIdentityConflict(error)).toBe(true);
    expect(isFlotillaError(error, 'CONFLICT')).toBe(true);
    expect(stored('sync.json')).toMatchObject({ appliedGeneration: 4 });
  });

  it('retries a write when someone else changed only other parts of the Secret', async () => {
    const agent = store();
    await agent.keyPair();
    kube.as('kubectl-annotate').mergePatch(SECRET, { metadata: { annotations: { 'example.com/owner': 'platform' } } });
    await agent.saveSync({ ...EMPTY_SYNC_STATE, appliedGeneration: 7 });
    expect(stored('sync.json')).toMatchObject({ appliedGeneration: 7 });
    expect(
      (kube.get(SECRET)!['metadata'] as { annotations: Record<string, string> }).annotations['example.com/owner'],
    ).toBe('platform');
  });

  it('says how to recover when the Secret holds something the agent did not write', async () => {
    kube.as('kubectl').create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: SECRET.name, namespace: NAMESPACE },
      data: { 'enrollment.json': Buffer.from('{"targetId":1}').toString('base64') },
    });
    await expect(store().enrollment()).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('delete it to enroll this cluster anew'),
    });
  });

  it('refuses options that cannot name a Secret', () => {
    expect(() => new SecretAgentStore({ client, namespace: NAMESPACE, dir: scratch.path, name: 'Not A Name' })).toThrow(
      TypeError,
    );
    expect(() => new SecretAgentStore({ client, namespace: '', dir: scratch.path })).toThrow(TypeError);
    expect(() => new SecretAgentStore({ client, namespace: NAMESPACE, dir: scratch.path, seqBlock: 0 })).toThrow(
      TypeError,
    );
  });
});
