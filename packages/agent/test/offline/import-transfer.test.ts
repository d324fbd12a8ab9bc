import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalize, generateKeyPair } from '@flotilla/protocol';
import { planTransfer, signTransferManifest, writeTransfer, type TransferContents } from '@flotilla/protocol/offline';
import {
  importedImages,
  importTransferFile,
  removeStaleStaging,
  verifyImportedTransfer,
} from '../../src/offline/import-transfer.ts';
import { verifyOciLayout } from '../../src/offline/oci-layout.ts';
import {
  collect,
  contents,
  hubKey,
  hubKeys,
  NOW,
  TARGET,
  trustRoot,
} from '../../../protocol/test/offline/offline-fixture.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-import-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function fileOf(input: TransferContents = contents()): Promise<string> {
  const path = join(dir, 'transfer.tar');
  writeFileSync(path, await collect(writeTransfer(input, hubKey)));
  return path;
}

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const imports = () => join(dir, 'imports');

describe('importing a transfer file', () => {
  it('puts every verified entry under the destination, and nothing else beside it', async () => {
    const imported = await importTransferFile(await fileOf(), { hubKeys, destination: join(imports(), 'gen-7') });
    for (const entry of imported.manifest.entries)
      expect(sha256(readFileSync(join(imported.directory, entry.path)))).toBe(entry.digest);
    expect(JSON.parse(readFileSync(join(imported.directory, 'manifest.json'), 'utf8')).manifest).toEqual(
      imported.manifest,
    );
    expect(readdirSync(imports())).toEqual(['gen-7']);
  });

  it('hands the imported documents to the online checks, and the images to the OCI layout reader', async () => {
    const imported = await importTransferFile(await fileOf(), { hubKeys, destination: join(imports(), 'gen-7') });
    const verified = await verifyImportedTransfer(imported, {
      trustRoot: trustRoot(1),
      targetId: TARGET,
      lastGeneration: 6,
      now: NOW,
    });
    expect(verified.verifiedEnvelope.generation).toBe(7);
    const layout = await importedImages(imported);
    expect(layout?.nodes.map((n) => n.kind)).toEqual(['blob', 'blob', 'manifest']);
    await verifyOciLayout(layout!);
  });

  it('leaves nothing when an entry fails its digest at the very end of the file', async () => {
    const bytes = await collect(writeTransfer(contents(), hubKey));
    bytes[bytes.length - 1024 - 600]! ^= 0xff;
    const path = join(dir, 'bad.tar');
    writeFileSync(path, bytes);
    await expect(importTransferFile(path, { hubKeys, destination: join(imports(), 'gen-7') })).rejects.toMatchObject({
      code: 'TRANSFER_DIGEST_MISMATCH',
    });
    expect(readdirSync(imports())).toEqual([]);
  });

  it('leaves nothing when the file was cut short', async () => {
    const bytes = await collect(writeTransfer(contents(), hubKey));
    const path = join(dir, 'short.tar');
    writeFileSync(path, bytes.subarray(0, bytes.length - 700));
    await expect(importTransferFile(path, { hubKeys, destination: join(imports(), 'gen-7') })).rejects.toMatchObject({
      code: 'TRANSFER_TRUNCATED',
    });
    expect(readdirSync(imports())).toEqual([]);
  });

  it('leaves nothing when the manifest is signed by a key the site does not trust', async () => {
    const { signed } = planTransfer(contents(), hubKey);
    const bytes = await collect(writeTransfer(contents(), hubKey));
    const forged = Buffer.from(canonicalize(signTransferManifest(signed.manifest, generateKeyPair())));
    const path = join(dir, 'forged.tar');
    // Same length as the hub's signature, so the archive stays well formed: only the key differs.
    writeFileSync(path, Buffer.concat([bytes.subarray(0, 512), forged, bytes.subarray(512 + forged.length)]));
    await expect(importTransferFile(path, { hubKeys, destination: join(imports(), 'gen-7') })).rejects.toMatchObject({
      code: 'TRANSFER_KEY_UNKNOWN',
    });
    expect(readdirSync(imports())).toEqual([]);
  });

  it('refuses a destination that exists and leaves it as it was', async () => {
    mkdirSync(join(imports(), 'gen-7'), { recursive: true });
    writeFileSync(join(imports(), 'gen-7', 'mine'), 'keep');
    await expect(
      importTransferFile(await fileOf(), { hubKeys, destination: join(imports(), 'gen-7') }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(readdirSync(join(imports(), 'gen-7'))).toEqual(['mine']);
  });

  it('imports from a stream as from a path', async () => {
    const imported = await importTransferFile(writeTransfer(contents(), hubKey), {
      hubKeys,
      destination: join(imports(), 'streamed'),
    });
    expect(existsSync(join(imported.directory, 'images', 'index.json'))).toBe(true);
  });

  it('removes the staging directories of an import that was killed', async () => {
    mkdirSync(join(imports(), '.gen-7.0123456789ab.staging', 'images'), { recursive: true });
    mkdirSync(join(imports(), 'gen-6'));
    expect(await removeStaleStaging(imports())).toEqual(['.gen-7.0123456789ab.staging']);
    expect(readdirSync(imports())).toEqual(['gen-6']);
  });
});
