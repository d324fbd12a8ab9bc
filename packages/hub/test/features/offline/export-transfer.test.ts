import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalize } from '@flotilla/protocol';
import { OCI_LAYOUT_VERSION, readTransfer, type BlobSource, type OciImageIndex } from '@flotilla/protocol/offline';
import { exportTransferFile } from '../../../src/features/offline/export-transfer.ts';
import { ociLayoutImages } from '../../../src/features/offline/oci-layout-images.ts';
import {
  collect,
  contents,
  hubKey,
  hubKeys,
  image,
  seededBytes,
} from '../../../../protocol/test/offline/offline-fixture.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-export-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Writes images as an OCI layout directory, as skopeo or a build would leave one. */
async function layoutDir(images: { index: OciImageIndex; blobs: BlobSource[] }[]): Promise<string> {
  const root = join(dir, 'layout');
  mkdirSync(join(root, 'blobs', 'sha256'), { recursive: true });
  for (const img of images)
    for (const blob of img.blobs)
      writeFileSync(join(root, 'blobs', 'sha256', blob.digest.slice(7)), await collect(blob.open()));
  writeFileSync(join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
  writeFileSync(
    join(root, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: images.flatMap((i) => i.index.manifests) }),
  );
  return root;
}

describe('exporting a transfer file', () => {
  it('writes the file whole and reports its length and digest', async () => {
    const exported = await exportTransferFile(join(dir, 'site.tar'), contents(), hubKey);
    const bytes = readFileSync(exported.path);
    expect(exported.bytes).toBe(bytes.length);
    expect(exported.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    let entries = 0;
    for await (const item of readTransfer(createReadStream(exported.path), { hubKeys }))
      if (item.type === 'entry') entries++;
    expect(entries).toBe(10);
  });

  it('carries the images of an OCI layout directory, only those named when refs are given', async () => {
    const app = image('registry.example/app:1', seededBytes('app', 5000));
    const db = image('registry.example/db:2', seededBytes('db', 7000));
    const images = await ociLayoutImages(await layoutDir([app, db]), ['registry.example/db:2']);
    expect(images.index.manifests.map((m) => m.digest)).toEqual(db.index.manifests.map((m) => m.digest));
    expect(images.blobs.map((b) => b.digest).sort()).toEqual(db.blobs.map((b) => b.digest).sort());
    const exported = await exportTransferFile(join(dir, 'site.tar'), contents({ images }), hubKey);
    const paths: string[] = [];
    for await (const item of readTransfer(createReadStream(exported.path), { hubKeys }))
      if (item.type === 'entry') paths.push(item.entry.path);
    expect(paths.filter((p) => p.startsWith('images/blobs/'))).toHaveLength(3);
  });

  it('refuses an image the layout does not have', async () => {
    const app = image('registry.example/app:1', seededBytes('app', 100));
    await expect(ociLayoutImages(await layoutDir([app]), ['registry.example/app:2'])).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { missing: ['registry.example/app:2'] },
    });
  });

  it('leaves no file when a layer in the layout no longer matches its digest', async () => {
    const app = image('registry.example/app:1', seededBytes('app', 5000));
    const root = await layoutDir([app]);
    const layer = join(root, 'blobs', 'sha256', app.blobs[0]!.digest.slice(7));
    const content = readFileSync(layer);
    content[10]! ^= 1;
    writeFileSync(layer, content);
    await expect(
      exportTransferFile(join(dir, 'site.tar'), contents({ images: await ociLayoutImages(root) }), hubKey),
    ).rejects.toMatchObject({ code: 'OCI_DIGEST_MISMATCH' });
    expect(readdirSync(dir)).toEqual(['layout']);
  });

  it('refuses a layout whose manifest was changed', async () => {
    const app = image('registry.example/app:1', seededBytes('app', 100));
    const root = await layoutDir([app]);
    writeFileSync(
      join(root, 'blobs', 'sha256', app.index.manifests[0]!.digest.slice(7)),
      canonicalize({ schemaVersion: 2, layers: [] }),
    );
    await expect(ociLayoutImages(root)).rejects.toMatchObject({ code: 'OCI_DIGEST_MISMATCH' });
  });
});
