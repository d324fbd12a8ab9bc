import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OCI_MANIFEST } from '@flotilla/protocol/offline';
import {
  blobPath,
  credentialsFromSecret,
  loadRegistryCredentials,
  OciLayoutWriter,
  pushOciImages,
  readOciLayout,
  RegistryClient,
  type OciLayout,
  type RegistryClientOptions,
} from '../packages/agent/src/offline/index.ts';
import { startOciRegistry, type OciRegistry } from './fixtures/oci-registry.ts';
import { addTestImage, type TestImage } from './fixtures/test-image.ts';
import { tempDir } from './fixtures/temp-dir.ts';

/** An undici agent that notes each request's method, path and headers. */
class RecordingAgent extends Agent {
  readonly calls: { method: string; path: string; headers: Record<string, string> }[] = [];
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries((options.headers ?? {}) as Record<string, string>))
      headers[name.toLowerCase()] = String(value);
    this.calls.push({ method: options.method, path: options.path, headers });
    return super.dispatch(options, handler);
  }
}

let work: ReturnType<typeof tempDir>;
let layout: OciLayout;
let app: TestImage;
let db: TestImage;

beforeAll(async () => {
  work = tempDir('flotilla-push-');
  const writer = await OciLayoutWriter.create(join(work.path, 'layout'));
  app = await addTestImage(writer, work.path, 'registry.example.com/team/app:4.2.0', 3, 200 * 1024);
  db = await addTestImage(writer, work.path, 'registry.example.com/team/db:1.0', 1, 10 * 1024);
  await writer.close();
  layout = await readOciLayout(join(work.path, 'layout'));
});
afterAll(() => work.remove());

/** Pulls an image back: its manifest, checked against the digest, and every blob through its digest. */
async function pullBack(client: RegistryClient, repository: string, tag: string, image: TestImage): Promise<void> {
  const manifest = await client.getManifest(repository, tag, [OCI_MANIFEST]);
  expect(manifest.digest).toBe(image.manifest.digest);
  expect(manifest.mediaType).toBe(OCI_MANIFEST);
  expect(Buffer.from(manifest.bytes).equals(Buffer.from(image.manifestBytes))).toBe(true);
  for (const blob of [image.config, ...image.layers]) {
    let size = 0;
    for await (const chunk of client.getBlob(repository, blob)) size += chunk.length;
    expect(size).toBe(blob.size);
  }
}

describe('pushing an OCI layout into a registry without auth', () => {
  let registry: OciRegistry;
  let client: RegistryClient;
  const connect = (options: Partial<RegistryClientOptions> = {}) =>
    new RegistryClient({ url: registry.url, ...options });
  beforeEach(async () => {
    registry = await startOciRegistry();
  });
  afterEach(async () => {
    await client?.close();
    await registry.stop();
  });

  it('pushes every image monolithically and reads back the same manifests and blobs', async () => {
    client = connect();
    const pushed = await pushOciImages(layout, client);
    expect(pushed).toEqual([
      {
        ref: app.ref,
        repository: 'team/app',
        tag: '4.2.0',
        digest: app.manifest.digest,
        blobsPushed: 4,
        blobsPresent: 0,
      },
      { ref: db.ref, repository: 'team/db', tag: '1.0', digest: db.manifest.digest, blobsPushed: 2, blobsPresent: 0 },
    ]);
    await pullBack(client, 'team/app', '4.2.0', app);
    await pullBack(client, 'team/db', '1.0', db);
    await pullBack(client, 'team/app', app.manifest.digest, app);
  });

  it('pushes large blobs in chunks (POST, PATCH with Content-Range, PUT with the digest)', async () => {
    const recorder = new RecordingAgent();
    client = connect({ monolithicMaxBytes: 1024, chunkSize: 64 * 1024, dispatcher: recorder });
    await pushOciImages(layout, client);
    await pullBack(client, 'team/app', '4.2.0', app);
    const layer = app.layers[0]!;
    const ranges = recorder.calls.filter((c) => c.method === 'PATCH').map((c) => c.headers['content-range']);
    expect(ranges).toEqual(
      expect.arrayContaining(['0-65535', '65536-131071', '131072-196607', `196608-${layer.size - 1}`]),
    );
    expect(
      recorder.calls
        .filter((c) => c.method === 'PUT' && c.path.includes(`digest=${encodeURIComponent(layer.digest)}`))
        .map((c) => c.headers['content-length']),
    ).toEqual(['0']);
    await recorder.close();
  });

  it('skips the blobs the registry already holds (HEAD first)', async () => {
    client = connect();
    await pushOciImages(layout, client);
    const again = await pushOciImages(layout, client);
    expect(again.map((p) => [p.blobsPushed, p.blobsPresent])).toEqual([
      [0, 4],
      [0, 2],
    ]);
  });

  it('refuses a layer whose bytes no longer match its digest, and never pushes the manifest naming it', async () => {
    const copy = tempDir('flotilla-corrupt-');
    try {
      const writer = await OciLayoutWriter.create(copy.path);
      const image = await addTestImage(writer, copy.path, 'registry.example.com/team/bad:1', 1, 4096);
      await writer.close();
      const broken = await readOciLayout(copy.path);
      const handle = await open(blobPath(copy.path, image.layers[0]!.digest), 'r+');
      await handle.write(Buffer.from('corrupted'), 0, 9, 100);
      await handle.close();
      client = connect();
      await expect(pushOciImages(broken, client)).rejects.toMatchObject({ code: 'OCI_DIGEST_MISMATCH' });
      await expect(client.getManifest('team/bad', '1', [OCI_MANIFEST])).rejects.toMatchObject({
        code: 'REGISTRY_ERROR',
        details: { status: 404 },
      });
      await expect(client.hasBlob('team/bad', image.layers[0]!.digest)).resolves.toBe(false);
    } finally {
      copy.remove();
    }
  });

  it('refuses, in chunks too, a layer that does not match its digest, and cancels the upload', async () => {
    const copy = tempDir('flotilla-corrupt-');
    try {
      const writer = await OciLayoutWriter.create(copy.path);
      const image = await addTestImage(writer, copy.path, 'registry.example.com/team/bad:1', 1, 300 * 1024);
      await writer.close();
      const broken = await readOciLayout(copy.path);
      const handle = await open(blobPath(copy.path, image.layers[0]!.digest), 'r+');
      await handle.write(Buffer.from('corrupted'), 0, 9, 250 * 1024);
      await handle.close();
      const recorder = new RecordingAgent();
      client = connect({ monolithicMaxBytes: 0, chunkSize: 64 * 1024, dispatcher: recorder });
      await expect(pushOciImages(broken, client)).rejects.toMatchObject({ code: 'OCI_DIGEST_MISMATCH' });
      await expect(client.hasBlob('team/bad', image.layers[0]!.digest)).resolves.toBe(false);
      expect(
        recorder.calls.filter((c) => c.method === 'DELETE' && c.path.includes('/v2/team/bad/blobs/uploads/')),
      ).toHaveLength(1);
      await recorder.close();
    } finally {
      copy.remove();
    }
  });

  it('reports a registry it cannot reach as REGISTRY_UNREACHABLE', async () => {
    const url = registry.url;
    await registry.stop();
    registry = await startOciRegistry();
    client = new RegistryClient({ url });
    await expect(client.hasBlob('team/app', app.layers[0]!.digest)).rejects.toMatchObject({
      code: 'REGISTRY_UNREACHABLE',
    });
  });
});

describe('pushing into a registry with htpasswd basic auth', () => {
  let registry: OciRegistry;
  let client: RegistryClient | undefined;
  beforeAll(async () => {
    registry = await startOciRegistry({ kind: 'basic', users: { site: 'correct horse' } });
  });
  afterAll(() => registry.stop());
  afterEach(async () => {
    await client?.close();
    client = undefined;
  });

  it('signs in with credentials from a Docker config file', async () => {
    const file = join(work.path, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        auths: { [`http://${registry.host}`]: { auth: Buffer.from('site:correct horse').toString('base64') } },
      }),
    );
    client = new RegistryClient({ url: registry.url, credentials: await loadRegistryCredentials(file, registry.host) });
    await pushOciImages(layout, client);
    await pullBack(client, 'team/app', '4.2.0', app);
  });

  it('is refused with a wrong password', async () => {
    client = new RegistryClient({
      url: registry.url,
      credentials: { kind: 'basic', username: 'site', password: 'wrong' },
    });
    await expect(pushOciImages(layout, client)).rejects.toMatchObject({
      code: 'REGISTRY_UNAUTHORIZED',
      details: { status: 401 },
    });
  });

  it('is refused without credentials', async () => {
    client = new RegistryClient({ url: registry.url });
    await expect(client.hasBlob('team/app', app.layers[0]!.digest)).rejects.toMatchObject({
      code: 'REGISTRY_UNAUTHORIZED',
    });
  });
});

describe('pushing into a registry with token auth', () => {
  let registry: OciRegistry;
  let client: RegistryClient | undefined;
  beforeAll(async () => {
    registry = await startOciRegistry({ kind: 'token', users: { site: 's3cret' } });
  });
  afterAll(() => registry.stop());
  afterEach(async () => {
    await client?.close();
    client = undefined;
  });

  it('fetches a bearer token for the push scope, with credentials from a dockerconfigjson Secret', async () => {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 'site-registry', namespace: 'flotilla-system' },
      data: {
        '.dockerconfigjson': Buffer.from(
          JSON.stringify({ auths: { [registry.host]: { username: 'site', password: 's3cret' } } }),
        ).toString('base64'),
      },
    };
    client = new RegistryClient({ url: registry.url, credentials: credentialsFromSecret(secret, registry.host) });
    await pushOciImages(layout, client);
    await pullBack(client, 'team/db', '1.0', db);
    expect(
      registry.tokenRequests.some(
        (query) => new URLSearchParams(query).get('scope') === 'repository:team/app:pull,push',
      ),
    ).toBe(true);
  });

  it('is refused when the token service does not know the user', async () => {
    client = new RegistryClient({
      url: registry.url,
      credentials: { kind: 'basic', username: 'site', password: 'nope' },
    });
    await expect(pushOciImages(layout, client)).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
  });
});
