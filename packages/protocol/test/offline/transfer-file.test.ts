import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalize, generateKeyPair } from '../../src/index.ts';
import { planTransfer, readTransfer, writeTransfer, type TransferItem } from '../../src/offline/index.ts';
import { encodeFileHeader, USTAR_MAX_SIZE } from '../../src/offline/lib/ustar.ts';
import {
  chunks,
  collect,
  contents,
  digestOfBytes,
  envelope,
  hubKey,
  hubKeys,
  memoryBlob,
  release,
  TARGET,
} from './offline-fixture.ts';
import { END, file, pax, tar } from './craft-tar.ts';

interface ReadBack {
  readonly manifest: Extract<TransferItem, { type: 'manifest' }>['manifest'];
  readonly entries: Map<string, Buffer>;
}

async function readAll(bytes: Uint8Array, chunkSize = 7919): Promise<ReadBack> {
  const entries = new Map<string, Buffer>();
  let manifest: ReadBack['manifest'] | undefined;
  for await (const item of readTransfer(chunks(bytes, chunkSize), { hubKeys })) {
    if (item.type === 'manifest') manifest = item.manifest;
    else entries.set(item.entry.path, await collect(item.body));
  }
  return { manifest: manifest!, entries };
}

describe('a transfer file', () => {
  it('carries every document and blob, and reads back exactly what was written', async () => {
    const input = contents();
    const bytes = await collect(writeTransfer(input, hubKey));
    const { manifest, entries } = await readAll(bytes);
    expect(manifest.targets).toEqual([{ targetId: TARGET, generation: 7 }]);
    expect(JSON.parse(entries.get('envelopes/tgt_00000000000000000001.json')!.toString())).toEqual(input.envelopes[0]);
    for (const r of input.releases)
      expect(JSON.parse(entries.get(`releases/${r.digest.slice(7)}.json`)!.toString())).toEqual(r);
    for (const root of input.trustRoots)
      expect(
        JSON.parse(entries.get(`trust-root/${String(root.trustRoot.version).padStart(12, '0')}.json`)!.toString()),
      ).toEqual(root);
    for (const blob of input.images!.blobs)
      expect(digestOfBytes(entries.get(`images/blobs/sha256/${blob.digest.slice(7)}`)!)).toBe(blob.digest);
    expect(JSON.parse(entries.get('images/oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
  });

  it('lists its entries in the fixed order: trust roots by version, envelopes, releases, then the image layout with blobs by digest', async () => {
    const { manifest } = await readAll(await collect(writeTransfer(contents(), hubKey)));
    const kinds = manifest.entries.map((e) => e.kind);
    expect(kinds).toEqual([
      'trust-root',
      'trust-root',
      'envelope',
      'release',
      'release',
      'oci-layout',
      'oci-index',
      'oci-blob',
      'oci-blob',
      'oci-blob',
    ]);
    expect(manifest.entries[0]!.path).toBe('trust-root/000000000002.json');
    const blobs = manifest.entries.filter((e) => e.kind === 'oci-blob').map((e) => e.path);
    expect(blobs).toEqual([...blobs].sort());
  });

  it('is deterministic: the same contents, in any order, give the same bytes', async () => {
    const input = contents();
    const first = await collect(writeTransfer(input, hubKey));
    const reordered = {
      ...input,
      trustRoots: [...input.trustRoots].reverse(),
      releases: [...input.releases].reverse(),
      images: { index: input.images!.index, blobs: [...input.images!.blobs].reverse() },
    };
    const second = await collect(writeTransfer(reordered, hubKey));
    expect(digestOfBytes(second)).toBe(digestOfBytes(first));
  });

  it('takes no time from the clock: every header carries the manifest createdAt as its mtime', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-transfer-'));
    try {
      writeFileSync(
        join(dir, 'file.tar'),
        await collect(writeTransfer(contents({ createdAt: '2030-01-02T03:04:05.000Z' }), hubKey)),
      );
      const listing = execFileSync('tar', ['--utc', '-tvf', join(dir, 'file.tar')], { encoding: 'utf8' });
      expect(
        listing
          .trim()
          .split('\n')
          .every((line) => line.includes('2030-01-02 03:04')),
      ).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is a POSIX tar archive that GNU tar lists and extracts to the digests the manifest lists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-transfer-'));
    try {
      const bytes = await collect(writeTransfer(contents(), hubKey));
      writeFileSync(join(dir, 'file.tar'), bytes);
      execFileSync('tar', ['-xf', join(dir, 'file.tar'), '-C', dir]);
      const { manifest } = await readAll(bytes);
      for (const entry of manifest.entries)
        expect(digestOfBytes(readFileSync(join(dir, entry.path)))).toBe(entry.digest);
      const signed = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      expect(signed.manifest).toEqual(manifest);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([1, 511, 512, 513, 65_536, 1 << 20])(
    'reads the same whatever the chunk size of the stream (%i bytes)',
    async (size) => {
      const bytes = await collect(writeTransfer(contents(), hubKey));
      const { entries } = await readAll(bytes, size);
      expect(entries.size).toBe(10);
    },
  );

  it.each([100, 513, 700, 4096])(
    'reads correctly from a source that reuses one buffer for every chunk (%i bytes)',
    async (size) => {
      const { signed, entries } = planTransfer(contents({ images: undefined }), hubKey);
      const first = entries[0]!;
      const parts: Uint8Array[] = [
        file('manifest.json', canonicalize(signed)),
        pax({ size: String(first.entry.length) }),
        file(first.entry.path, (first.body as { bytes: Uint8Array }).bytes, { size: 0 }),
      ];
      for (const planned of entries.slice(1))
        parts.push(file(planned.entry.path, (planned.body as { bytes: Uint8Array }).bytes));
      const bytes = tar(...parts, END);
      async function* reusing(): AsyncGenerator<Uint8Array> {
        const buffer = new Uint8Array(size);
        for (let offset = 0; offset < bytes.length; offset += size) {
          // Whatever the reader kept of the last chunk is garbage from here on.
          buffer.fill(0xee);
          const part = bytes.subarray(offset, offset + size);
          buffer.set(part);
          yield buffer.subarray(0, part.length);
        }
      }
      const digests: string[] = [];
      for await (const item of readTransfer(reusing(), { hubKeys })) {
        if (item.type !== 'entry') continue;
        const hash = createHash('sha256');
        for await (const chunk of item.body) hash.update(chunk);
        digests.push(`sha256:${hash.digest('hex')}`);
      }
      expect(digests).toEqual(entries.map((e) => e.entry.digest));
    },
  );

  it('still reads and checks the entries a consumer skips', async () => {
    const bytes = await collect(writeTransfer(contents(), hubKey));
    const seen: string[] = [];
    for await (const item of readTransfer(chunks(bytes, 4096), { hubKeys }))
      if (item.type === 'entry') seen.push(item.entry.path);
    expect(seen).toHaveLength(10);
  });

  it('reads an entry whose size is in a pax size record, as written for entries of 8 GiB and more', async () => {
    const { signed, entries } = planTransfer(contents({ images: undefined }), hubKey);
    const envelopeEntry = entries.find((e) => e.entry.kind === 'envelope')!;
    const parts: Uint8Array[] = [file('manifest.json', canonicalize(signed))];
    for (const planned of entries) {
      const body = (planned.body as { bytes: Uint8Array }).bytes;
      if (planned === envelopeEntry)
        parts.push(pax({ size: String(body.length), mtime: '0' }), file(planned.entry.path, body, { size: 0 }));
      else parts.push(file(planned.entry.path, body));
    }
    const { entries: read } = await readAll(tar(...parts, END));
    expect(read.get(envelopeEntry.entry.path)!.length).toBe(envelopeEntry.entry.length);
  });

  it('writes a pax size record for an entry too large for the ustar size field', () => {
    const blocks = encodeFileHeader('images/blobs/sha256/' + 'a'.repeat(64), USTAR_MAX_SIZE + 1, 0);
    expect(blocks.length).toBe(3 * 512);
    expect(Buffer.from(blocks.subarray(512, 1024)).toString('utf8')).toContain(` size=${USTAR_MAX_SIZE + 1}\n`);
    expect(String.fromCharCode(blocks[156]!)).toBe('x');
  });
});

describe('writing a transfer file', () => {
  it('refuses a blob whose bytes do not hash to its digest, at the end of the blob', async () => {
    const good = memoryBlob(new Uint8Array(1000).fill(1));
    const lying = { ...good, open: () => chunks(new Uint8Array(1000).fill(2), 100) };
    const input = contents();
    const blobs = [...input.images!.blobs, lying];
    const index = { ...input.images!.index, manifests: [...input.images!.index.manifests] };
    await expect(collect(writeTransfer({ ...input, images: { index, blobs } }, hubKey))).rejects.toMatchObject({
      code: 'OCI_DIGEST_MISMATCH',
    });
  });

  it('stops a blob source that yields more than its declared size before passing the excess on', async () => {
    const declared = memoryBlob(new Uint8Array(1000).fill(1));
    const written: Uint8Array[] = [];
    const longer = { ...declared, open: () => chunks(new Uint8Array(1500).fill(1), 500) };
    const input = contents();
    const iterator = writeTransfer(
      { ...input, images: { index: input.images!.index, blobs: [...input.images!.blobs, longer] } },
      hubKey,
    );
    await expect(
      (async () => {
        for await (const part of iterator) written.push(part);
      })(),
    ).rejects.toMatchObject({ code: 'OCI_DIGEST_MISMATCH' });
    const total = written.reduce((n, p) => n + p.length, 0);
    const last = written.at(-1)!;
    expect(last.length).toBe(500);
    expect(total % 512).toBe(1000 % 512);
  });

  it('refuses contents whose envelope names a release the file does not carry', () => {
    const app = release('app', '4.2.0');
    expect(() => planTransfer(contents({ envelopes: [envelope(TARGET, 3, [app])], releases: [] }), hubKey)).toThrow(
      TypeError,
    );
  });

  it('refuses a trust root the site already acknowledged', () => {
    expect(() => planTransfer(contents({ trustRootSince: 2 }), hubKey)).toThrow(/not newer/);
  });

  it('signs the manifest with the given hub key only: another key makes another file', async () => {
    const a = await collect(writeTransfer(contents(), hubKey));
    const b = await collect(writeTransfer(contents(), generateKeyPair()));
    expect(digestOfBytes(a)).not.toBe(digestOfBytes(b));
  });
});
