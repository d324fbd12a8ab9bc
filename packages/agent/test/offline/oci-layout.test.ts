import { mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST, OCI_REF_NAME } from '@flotilla/protocol/offline';
import { blobPath, OciLayoutWriter, readOciLayout, verifyOciLayout } from '../../src/offline/oci-layout.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-layout-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function* bytes(text: string): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode(text);
}

/** A one-image layout; returns the layer's descriptor. */
async function build() {
  const writer = await OciLayoutWriter.create(dir);
  const layer = await writer.addBlob(bytes('layer bytes '.repeat(1000)), OCI_LAYER_TAR);
  const config = await writer.addJson(
    { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } },
    OCI_CONFIG,
  );
  const manifest = await writer.addJson(
    { schemaVersion: 2, mediaType: OCI_MANIFEST, config: config.descriptor, layers: [layer] },
    OCI_MANIFEST,
  );
  writer.tag(manifest.descriptor, 'app:1');
  await writer.close();
  return { layer, config: config.descriptor, manifest: manifest.descriptor };
}

describe('an OCI image layout', () => {
  it('is written content-addressed and read back with every blob the index needs', async () => {
    const { layer, config, manifest } = await build();
    expect(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const layout = await readOciLayout(dir);
    expect(layout.index.manifests).toEqual([{ ...manifest, annotations: { [OCI_REF_NAME]: 'app:1' } }]);
    expect(layout.nodes.map((n) => n.descriptor.digest)).toEqual([config.digest, layer.digest, manifest.digest]);
    await verifyOciLayout(layout);
  });

  it('fails verification when a blob no longer matches its digest', async () => {
    const { layer } = await build();
    const path = blobPath(dir, layer.digest);
    const content = readFileSync(path);
    content[0]! ^= 1;
    writeFileSync(path, content);
    await expect(verifyOciLayout(await readOciLayout(dir))).rejects.toMatchObject({
      code: 'OCI_DIGEST_MISMATCH',
      details: { blob: layer.digest },
    });
  });

  it('is refused when a blob has another size than its descriptor', async () => {
    const { layer } = await build();
    writeFileSync(blobPath(dir, layer.digest), 'short');
    await expect(readOciLayout(dir)).rejects.toMatchObject({
      code: 'OCI_DIGEST_MISMATCH',
      details: { blob: layer.digest },
    });
  });

  it('is refused when a blob is missing', async () => {
    const { layer } = await build();
    unlinkSync(blobPath(dir, layer.digest));
    await expect(readOciLayout(dir)).rejects.toMatchObject({
      code: 'OCI_LAYOUT_INVALID',
      details: { blob: layer.digest },
    });
  });

  it('is refused when a blob is a symbolic link', async () => {
    const { layer } = await build();
    const path = blobPath(dir, layer.digest);
    writeFileSync(join(dir, 'elsewhere'), readFileSync(path));
    unlinkSync(path);
    symlinkSync(join(dir, 'elsewhere'), path);
    await expect(readOciLayout(dir)).rejects.toMatchObject({ code: 'OCI_LAYOUT_INVALID' });
  });

  it('is refused when a manifest was changed', async () => {
    const { manifest } = await build();
    writeFileSync(
      blobPath(dir, manifest.digest),
      readFileSync(blobPath(dir, manifest.digest), 'utf8').replace('"schemaVersion":2', '"schemaVersion":3'),
    );
    await expect(readOciLayout(dir)).rejects.toMatchObject({ code: 'OCI_DIGEST_MISMATCH' });
  });

  it('is refused when oci-layout declares another version', async () => {
    await build();
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await expect(readOciLayout(dir)).rejects.toMatchObject({ code: 'OCI_LAYOUT_INVALID' });
  });
});
