import { describe, expect, it } from 'vitest';
import { canonicalize, generateKeyPair, keyIdOf, signPayload, type ErrorCode } from '../../src/index.ts';
import {
  planTransfer,
  readTransfer,
  signTransferManifest,
  type SignedTransferManifest,
  type TransferManifest,
} from '../../src/offline/index.ts';
import { chunks, collect, contents, hubKey, hubKeys, image, seededBytes } from './offline-fixture.ts';
import { END, file, header, pax, tar } from './craft-tar.ts';

interface Part {
  readonly path: string;
  readonly bytes: Uint8Array;
}

const encoder = new TextEncoder();

let cached: Promise<{ signed: SignedTransferManifest; parts: Part[] }> | undefined;

/** A valid file's parts: the signed manifest first, then every entry's bytes (made once; tests change copies). */
function validParts(): Promise<{ signed: SignedTransferManifest; parts: Part[] }> {
  cached ??= makeParts();
  return cached;
}

async function makeParts(): Promise<{ signed: SignedTransferManifest; parts: Part[] }> {
  const img = image('registry.example/app:1', seededBytes('attack-layer', 3000));
  const { signed, entries } = planTransfer(contents({ images: { index: img.index, blobs: img.blobs } }), hubKey);
  const parts: Part[] = [{ path: 'manifest.json', bytes: encoder.encode(canonicalize(signed)) }];
  for (const { entry, body } of entries)
    parts.push({ path: entry.path, bytes: 'bytes' in body ? body.bytes : await collect(body.blob.open()) });
  return { signed, parts };
}

function archive(parts: readonly Part[], ...more: Uint8Array[]): Buffer {
  return tar(...parts.map((p) => file(p.path, p.bytes)), ...more);
}

/** Reads everything; returns what was yielded before the refusal, and the refusal. */
async function attempt(
  source: Uint8Array | AsyncIterable<Uint8Array>,
  keys = hubKeys,
): Promise<{ yielded: string[]; error: unknown }> {
  const yielded: string[] = [];
  try {
    for await (const item of readTransfer(source instanceof Uint8Array ? chunks(source, 1000) : source, {
      hubKeys: keys,
    })) {
      if (item.type === 'manifest') yielded.push('manifest.json');
      else {
        await collect(item.body);
        yielded.push(item.entry.path);
      }
    }
    return { yielded, error: undefined };
  } catch (error) {
    return { yielded, error };
  }
}

async function refused(
  source: Uint8Array | AsyncIterable<Uint8Array>,
  code: ErrorCode,
  entry?: string | null,
): Promise<string[]> {
  const { yielded, error } = await attempt(source);
  expect(error).toMatchObject({ name: 'FlotillaError', code });
  if (entry !== undefined) expect((error as { details: { entry: unknown } }).details.entry).toBe(entry);
  return yielded;
}

function resign(signed: SignedTransferManifest, change: (m: TransferManifest) => TransferManifest): Part {
  return {
    path: 'manifest.json',
    bytes: encoder.encode(canonicalize(signTransferManifest(change(signed.manifest), hubKey))),
  };
}

describe('the transfer reader refuses a manifest it cannot trust, and yields nothing', () => {
  it('when the first entry is not the manifest', async () => {
    const { parts } = await validParts();
    expect(
      await refused(
        archive([parts[1]!, parts[0]!, ...parts.slice(2)], END),
        'TRANSFER_SIGNATURE_MISSING',
        parts[1]!.path,
      ),
    ).toEqual([]);
  });

  it('when the manifest carries no signature', async () => {
    const { signed, parts } = await validParts();
    const unsigned = { path: 'manifest.json', bytes: encoder.encode(canonicalize({ manifest: signed.manifest })) };
    expect(
      await refused(archive([unsigned, ...parts.slice(1)], END), 'TRANSFER_SIGNATURE_MISSING', 'manifest.json'),
    ).toEqual([]);
  });

  it('when the manifest was changed after signing (a forged signature)', async () => {
    const { signed, parts } = await validParts();
    const forged = {
      ...signed,
      manifest: { ...signed.manifest, targets: [{ ...signed.manifest.targets[0]!, generation: 99 }] },
    };
    const part = { path: 'manifest.json', bytes: encoder.encode(canonicalize(forged)) };
    expect(
      await refused(archive([part, ...parts.slice(1)], END), 'TRANSFER_SIGNATURE_INVALID', 'manifest.json'),
    ).toEqual([]);
  });

  it('when the signature claims a trusted key id but was made with another key', async () => {
    const { signed, parts } = await validParts();
    const impostor = {
      manifest: signed.manifest,
      signature: {
        keyId: signed.signature.keyId,
        sig: signPayload('transfer-manifest', signed.manifest, generateKeyPair()).sig,
      },
    };
    const part = { path: 'manifest.json', bytes: encoder.encode(canonicalize(impostor)) };
    expect(
      await refused(archive([part, ...parts.slice(1)], END), 'TRANSFER_SIGNATURE_INVALID', 'manifest.json'),
    ).toEqual([]);
  });

  it('when the manifest is signed by a key the site does not trust', async () => {
    const { signed, parts } = await validParts();
    const stranger = generateKeyPair();
    const part = {
      path: 'manifest.json',
      bytes: encoder.encode(canonicalize(signTransferManifest(signed.manifest, stranger))),
    };
    const { yielded, error } = await attempt(archive([part, ...parts.slice(1)], END));
    expect(error).toMatchObject({
      code: 'TRANSFER_KEY_UNKNOWN',
      details: { entry: 'manifest.json', keyId: keyIdOf(stranger.publicKey) },
    });
    expect(yielded).toEqual([]);
  });

  it('when the manifest signature is one of another purpose (an envelope signature replayed)', async () => {
    const { signed, parts } = await validParts();
    const replayed = { manifest: signed.manifest, signature: signPayload('envelope', signed.manifest, hubKey) };
    const part = { path: 'manifest.json', bytes: encoder.encode(canonicalize(replayed)) };
    expect(await refused(archive([part, ...parts.slice(1)], END), 'TRANSFER_SIGNATURE_INVALID')).toEqual([]);
  });

  it('when the manifest is larger than a manifest may be, without reading it', async () => {
    const big = header({ name: 'manifest.json', size: 64 * 1024 * 1024 });
    async function* source(): AsyncGenerator<Uint8Array> {
      yield big;
      throw new Error('read past the header of an oversized manifest');
    }
    expect(await refused(source(), 'TRANSFER_MANIFEST_INVALID', 'manifest.json')).toEqual([]);
  });

  it('when a hub-signed manifest lists an entry outside the archive layout', async () => {
    const { signed, parts } = await validParts();
    const evil = resign(signed, (m) => ({
      ...m,
      entries: [{ ...m.entries[0]!, path: '../../etc/cron.d/x' }, ...m.entries.slice(1)],
    }));
    expect(
      await refused(archive([evil, ...parts.slice(1)], END), 'TRANSFER_MANIFEST_INVALID', '../../etc/cron.d/x'),
    ).toEqual([]);
  });

  it('when the manifest is not JSON', async () => {
    const { parts } = await validParts();
    expect(
      await refused(
        archive([{ path: 'manifest.json', bytes: encoder.encode('{"manifest":') }, ...parts.slice(1)], END),
        'TRANSFER_MANIFEST_INVALID',
      ),
    ).toEqual([]);
  });
});

describe('the transfer reader refuses entries the manifest does not vouch for', () => {
  it('an unlisted entry among the listed ones', async () => {
    const { parts } = await validParts();
    const bytes = archive(
      [...parts.slice(0, 3), { path: 'releases/extra.json', bytes: encoder.encode('{}') }, ...parts.slice(3)],
      END,
    );
    expect(await refused(bytes, 'TRANSFER_ENTRY_UNLISTED', 'releases/extra.json')).toEqual(
      parts.slice(0, 3).map((p) => p.path),
    );
  });

  it('an unlisted entry after the last listed one', async () => {
    const { parts } = await validParts();
    await refused(
      archive([...parts, { path: 'payload.sh', bytes: encoder.encode('#!/bin/sh') }], END),
      'TRANSFER_ENTRY_UNLISTED',
      'payload.sh',
    );
  });

  it('an entry that appears twice', async () => {
    const { parts } = await validParts();
    await refused(
      archive([...parts.slice(0, 3), parts[2]!, ...parts.slice(3)], END),
      'TRANSFER_ENTRY_DUPLICATE',
      parts[2]!.path,
    );
  });

  it('the manifest appearing a second time', async () => {
    const { parts } = await validParts();
    await refused(archive([...parts, parts[0]!], END), 'TRANSFER_ENTRY_DUPLICATE', 'manifest.json');
  });

  it.each([
    ['climbs out with ../', '../../home/flotilla/.ssh/authorized_keys'],
    ['climbs out in the middle', 'images/../../etc/passwd'],
    ['is absolute', '/etc/passwd'],
    ['has an empty component', 'images//oci-layout'],
    ['has a dot component', './manifest.json'],
    ['has a backslash', 'images\\..\\x'],
  ])('an entry whose path %s', async (_what, path) => {
    const { parts } = await validParts();
    await refused(
      archive([...parts.slice(0, 2), { path, bytes: encoder.encode('x') }, ...parts.slice(2)], END),
      'TRANSFER_ENTRY_UNSAFE_PATH',
      path,
    );
  });

  it('an entry whose path is split across the prefix field to climb out', async () => {
    const { parts } = await validParts();
    await refused(
      archive(parts.slice(0, 2), file('passwd', 'x', { prefix: '../../etc' }), END),
      'TRANSFER_ENTRY_UNSAFE_PATH',
      '../../etc/passwd',
    );
  });

  it.each([
    ['a symbolic link', '2'],
    ['a hard link', '1'],
    ['a character device', '3'],
    ['a block device', '4'],
    ['a FIFO', '6'],
    ['a directory', '5'],
    ['a contiguous file', '7'],
    ['a sparse file', 'S'],
  ])('%s, even under a listed name', async (_what, type) => {
    const { parts } = await validParts();
    const listed = parts[1]!.path;
    const bytes = archive(
      [parts[0]!],
      header({ name: listed, size: 0, type, linkname: '/etc/shadow' }),
      ...parts.slice(2).map((p) => file(p.path, p.bytes)),
      END,
    );
    await refused(bytes, 'TRANSFER_ENTRY_TYPE', listed);
  });

  it.each([
    ['path', { path: '../../etc/passwd' }],
    ['path to another listed entry', { path: 'trust-root/000000000003.json' }],
    ['linkpath', { linkpath: '/etc/shadow' }],
  ])('a pax header that renames the next entry (%s)', async (_what, records) => {
    const { parts } = await validParts();
    const bytes = archive([parts[0]!], pax(records), ...parts.slice(1).map((p) => file(p.path, p.bytes)), END);
    await refused(bytes, 'TRANSFER_ENTRY_RENAMED');
  });

  it('a global pax header that renames every entry after it', async () => {
    const { parts } = await validParts();
    await refused(
      archive([parts[0]!], pax({ path: 'x' }, 'g'), ...parts.slice(1).map((p) => file(p.path, p.bytes)), END),
      'TRANSFER_ENTRY_RENAMED',
      'x',
    );
  });

  it('a GNU long-name header', async () => {
    const { parts } = await validParts();
    await refused(
      archive(
        [parts[0]!],
        file('././@LongLink', `${parts[1]!.path}\0`, { type: 'L' }),
        ...parts.slice(1).map((p) => file(p.path, p.bytes)),
        END,
      ),
      'TRANSFER_ENTRY_RENAMED',
    );
  });

  it('a pax header with a key a transfer file does not use', async () => {
    const { parts } = await validParts();
    await refused(
      archive([parts[0]!], pax({ 'GNU.sparse.map': '0,10' }), ...parts.slice(1).map((p) => file(p.path, p.bytes)), END),
      'TRANSFER_HEADER_INVALID',
    );
  });

  it('entries out of the manifest order', async () => {
    const { parts } = await validParts();
    await refused(
      archive([parts[0]!, parts[2]!, parts[1]!, ...parts.slice(3)], END),
      'TRANSFER_ENTRY_ORDER',
      parts[2]!.path,
    );
  });

  it('a listed entry the archive lacks', async () => {
    const { parts } = await validParts();
    await refused(archive(parts.slice(0, -1), END), 'TRANSFER_ENTRY_MISSING', parts.at(-1)!.path);
  });
});

describe('the transfer reader holds every entry to its declared length and digest', () => {
  it('refuses an entry longer than declared at its header, without reading past the declared length', async () => {
    const { parts } = await validParts();
    const blob = parts.at(-1)!;
    const prefix = archive(parts.slice(0, -1), header({ name: blob.path, size: blob.bytes.length + 1_000_000 }));
    let pulledPast = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      yield prefix;
      pulledPast = true;
      yield new Uint8Array(blob.bytes.length + 1_000_000);
    }
    await refused(source(), 'TRANSFER_ENTRY_TOO_LONG', blob.path);
    expect(pulledPast).toBe(false);
  });

  it('refuses an entry shorter than declared', async () => {
    const { parts } = await validParts();
    const blob = parts.at(-1)!;
    await refused(
      archive(parts.slice(0, -1), file(blob.path, blob.bytes.subarray(0, blob.bytes.length - 1)), END),
      'TRANSFER_ENTRY_TOO_SHORT',
      blob.path,
    );
  });

  it('refuses an entry whose bytes were changed, once it has been read, and yields it no further', async () => {
    const { parts } = await validParts();
    const blob = parts.at(-1)!;
    const changed = Uint8Array.from(blob.bytes);
    changed[changed.length - 1]! ^= 0xff;
    const yielded = await refused(
      archive([...parts.slice(0, -1), { path: blob.path, bytes: changed }], END),
      'TRANSFER_DIGEST_MISMATCH',
      blob.path,
    );
    expect(yielded).not.toContain(blob.path);
  });

  it('refuses a changed entry even when the consumer skips its body', async () => {
    const { parts } = await validParts();
    const changed = Uint8Array.from(parts[1]!.bytes);
    changed[5]! ^= 0x01;
    const bytes = archive([parts[0]!, { path: parts[1]!.path, bytes: changed }, ...parts.slice(2)], END);
    const reading = (async () => {
      for await (const item of readTransfer(chunks(bytes, 4096), { hubKeys })) void item;
    })();
    await expect(reading).rejects.toMatchObject({
      code: 'TRANSFER_DIGEST_MISMATCH',
      details: { entry: parts[1]!.path },
    });
  });

  it('refuses data hidden in the padding after an entry', async () => {
    const { parts } = await validParts();
    const bytes = archive(parts, END);
    const manifestEnd = 512 + parts[0]!.bytes.length;
    bytes[manifestEnd] = 0x41;
    await refused(bytes, 'TRANSFER_HEADER_INVALID', 'manifest.json');
  });
});

describe('the transfer reader refuses a damaged or extended file', () => {
  it.each([
    ['inside the manifest', (starts: number[]) => starts[0]! + 512 + 10],
    ['inside an entry body', (starts: number[]) => starts.at(-2)! + 512 + 10],
    ['between entries, at a header boundary', (starts: number[]) => starts.at(-2)!],
    ['inside a header', (starts: number[]) => starts.at(-2)! + 100],
    ['before the end-of-archive marker', (starts: number[]) => starts.at(-1)!],
    ['inside the end-of-archive marker', (starts: number[]) => starts.at(-1)! + 512],
  ])('cut %s', async (_where, cut) => {
    const { parts } = await validParts();
    const starts = [0];
    for (const part of parts) starts.push(starts.at(-1)! + 512 + Math.ceil(part.bytes.length / 512) * 512);
    const bytes = archive(parts, END);
    await refused(bytes.subarray(0, cut(starts)), 'TRANSFER_TRUNCATED');
  });

  it('refuses bytes appended after the end-of-archive marker', async () => {
    const { parts } = await validParts();
    await refused(archive(parts, END, encoder.encode('#!/bin/sh\nrm -rf /\n')), 'TRANSFER_TRAILING_DATA');
  });

  it('refuses a second archive appended after the first', async () => {
    const { parts } = await validParts();
    await refused(archive(parts, END, file('evil', 'x'), END), 'TRANSFER_TRAILING_DATA');
  });

  it('accepts zero padding up to the end of a 10 KiB tar record, as tar writes it', async () => {
    const { parts } = await validParts();
    const bytes = archive(parts, END);
    const record = Buffer.concat([bytes, new Uint8Array((10_240 - (bytes.length % 10_240)) % 10_240)]);
    expect((await attempt(record)).error).toBeUndefined();
  });

  it('refuses zero bytes beyond the end of the tar record', async () => {
    const { parts } = await validParts();
    const bytes = archive(parts, END);
    await refused(
      Buffer.concat([bytes, new Uint8Array(((10_240 - (bytes.length % 10_240)) % 10_240) + 512)]),
      'TRANSFER_TRAILING_DATA',
    );
  });

  it.each([
    ['a wrong checksum', { afterChecksum: (b: Uint8Array) => void (b[0]! ^= 1) }],
    ['old GNU magic instead of POSIX ustar', { magic: encoder.encode('ustar  \0') }],
    ['a base-256 size', { beforeChecksum: (b: Uint8Array) => void (b[124] = 0x80) }],
    ['text after the NUL of its name', { beforeChecksum: (b: Uint8Array) => void (b[99] = 0x41) }],
  ])('refuses a header with %s', async (_what, fields) => {
    const { parts } = await validParts();
    const bytes = archive([parts[0]!], header({ name: parts[1]!.path, size: parts[1]!.bytes.length, ...fields }), END);
    await refused(bytes, 'TRANSFER_HEADER_INVALID');
  });

  it('reads a valid file whole (the control for the cases above)', async () => {
    const { parts } = await validParts();
    const { yielded, error } = await attempt(archive(parts, END));
    expect(error).toBeUndefined();
    expect(yielded).toEqual(parts.map((p) => p.path));
  });
});
