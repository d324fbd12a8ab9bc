import { describe, expect, it } from 'vitest';
import { OCI_INDEX, walkOciIndex, type OciDescriptor } from '../../src/offline/index.ts';
import { collect, digestOfBytes, image, seededBytes } from './offline-fixture.ts';

async function loaderOf(blobs: ReturnType<typeof image>['blobs']) {
  const bytes = new Map<string, Uint8Array>();
  for (const blob of blobs) bytes.set(blob.digest, await collect(blob.open()));
  return async (d: OciDescriptor) => bytes.get(d.digest)!;
}

describe('walking an image index', () => {
  it('lists config and layers before the manifest that names them, each once', async () => {
    const img = image('app:1', seededBytes('walk', 1000));
    const nodes = await walkOciIndex(img.index, await loaderOf(img.blobs));
    expect(nodes.map((n) => n.kind)).toEqual(['blob', 'blob', 'manifest']);
    expect(nodes.at(-1)!.descriptor.digest).toBe(digestOfBytes(img.manifestBytes));
  });

  it('walks a nested index (a multi-platform image) and lists it after its manifests', async () => {
    const a = image('app:1', seededBytes('a', 100));
    const b = image('app:1', seededBytes('b', 100));
    const nestedBytes = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [...a.index.manifests, ...b.index.manifests],
      }),
    );
    const nested = { mediaType: OCI_INDEX, digest: digestOfBytes(nestedBytes), size: nestedBytes.length };
    const load = await loaderOf([...a.blobs, ...b.blobs]);
    const nodes = await walkOciIndex({ schemaVersion: 2, manifests: [nested] }, async (d) =>
      d.digest === nested.digest ? nestedBytes : load(d),
    );
    expect(nodes.map((n) => n.kind)).toEqual(['blob', 'blob', 'manifest', 'blob', 'blob', 'manifest', 'index']);
  });

  it('refuses a manifest whose bytes do not hash to its descriptor', async () => {
    const img = image('app:1', seededBytes('walk', 10));
    const load = await loaderOf(img.blobs);
    await expect(
      walkOciIndex(img.index, async (d) => Uint8Array.from(await load(d)).fill(32, 0, 1)),
    ).rejects.toMatchObject({ code: 'OCI_DIGEST_MISMATCH' });
  });

  it('refuses an index entry that is neither a manifest nor an index', async () => {
    const img = image('app:1', seededBytes('walk', 10));
    const index = { ...img.index, manifests: [{ ...img.index.manifests[0]!, mediaType: 'application/octet-stream' }] };
    await expect(walkOciIndex(index, await loaderOf(img.blobs))).rejects.toMatchObject({ code: 'OCI_LAYOUT_INVALID' });
  });
});
