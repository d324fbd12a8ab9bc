import { createHash, type Hash } from 'node:crypto';
import type { TrustedKey } from '../crypto/keys.ts';
import { FlotillaError } from '../errors.ts';
import { verifyTransferManifest } from './manifest-signature.ts';
import {
  checkTransferLayout,
  SignedTransferManifest,
  TRANSFER_MANIFEST_MAX_BYTES,
  TRANSFER_MANIFEST_PATH,
  type TransferEntry,
  type TransferManifest,
} from './transfer-manifest.ts';
import { ByteSource } from './lib/byte-source.ts';
import { BLOCK, decodeHeader, isZeroBlock, PAX_MAX_SIZE, paddingOf, parsePaxRecords } from './lib/ustar.ts';
import { parseJson } from '../bounded-json.ts';

export interface ReadTransferOptions {
  /** The hub keys the site trusts (the `hub` keys of its trust root): the manifest must verify against one. */
  readonly hubKeys: readonly TrustedKey[];
}

/**
 * What {@link readTransfer} yields: first the verified manifest, then each entry in manifest
 * order with its bytes. `body` can be iterated once; it fails at its end when the bytes do not
 * hash to the listed digest, and whatever of it is not read is still read and checked before
 * the next item.
 */
export type TransferItem =
  | { readonly type: 'manifest'; readonly manifest: TransferManifest; readonly signed: SignedTransferManifest }
  | { readonly type: 'entry'; readonly entry: TransferEntry; readonly body: AsyncIterable<Uint8Array> };

/** The zero bytes tolerated after the end-of-archive marker: up to the end of a 10 KiB tar record. */
const RECORD = 20 * BLOCK;
/** Pax keys that change nothing a transfer file relies on. `path` and `linkpath` rename entries. */
const HARMLESS_PAX_KEYS = new Set(['size', 'mtime', 'atime', 'ctime', 'uid', 'gid', 'uname', 'gname', 'comment']);
const TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '5': 'a directory',
  '6': 'a FIFO',
  '7': 'a contiguous file',
};

interface FileHeader {
  readonly name: string;
  readonly size: number;
  readonly offset: number;
}

function fail(code: FlotillaError['code'], message: string, details: Record<string, unknown>): never {
  throw new FlotillaError(code, message, details);
}

function quote(name: string): string {
  return JSON.stringify(name);
}

/** Refuses a path that is absolute, climbs out with `..`, or is not in canonical form. */
function checkPath(name: string, offset: number): void {
  if (name.startsWith('/'))
    fail(
      'TRANSFER_ENTRY_UNSAFE_PATH',
      `entry ${quote(name)} has an absolute path; entries are relative to the archive`,
      { entry: name, offset },
    );
  const parts = name.split('/');
  if (parts.includes('..'))
    fail('TRANSFER_ENTRY_UNSAFE_PATH', `entry ${quote(name)} climbs out of the archive with ".."`, {
      entry: name,
      offset,
    });
  if (parts.some((p) => p === '' || p === '.') || [...name].some((c) => c === '\\' || c < ' ' || c === '\u007f')) {
    fail(
      'TRANSFER_ENTRY_UNSAFE_PATH',
      `entry ${quote(name)} is not a plain relative path (empty or "." components, backslashes or control characters)`,
      { entry: name, offset },
    );
  }
}

/** The entry's bytes, hashed as they pass; its end is checked once, whoever reads it. */
class EntryBody implements AsyncIterable<Uint8Array> {
  private readonly hash: Hash = createHash('sha256');
  private remaining: number;
  private started = false;
  private outcome: FlotillaError | 'ok' | undefined;
  private readonly bytes: ByteSource;
  private readonly entry: TransferEntry;

  constructor(bytes: ByteSource, entry: TransferEntry) {
    this.bytes = bytes;
    this.entry = entry;
    this.remaining = entry.length;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.started) throw new TypeError(`the body of entry ${this.entry.path} can be read once`);
    this.started = true;
    while (this.remaining > 0) yield await this.pull();
    this.finish();
  }

  /** Reads and checks what the consumer left unread. */
  async drain(): Promise<void> {
    while (this.remaining > 0) await this.pull();
    this.finish();
  }

  private async pull(): Promise<Uint8Array> {
    const part = await this.bytes.readSome(this.remaining);
    if (part.length === 0) {
      fail(
        'TRANSFER_TRUNCATED',
        `the file ends inside entry ${this.entry.path}, ${this.remaining} of its ${this.entry.length} bytes missing; it was cut short in copying`,
        { entry: this.entry.path, missing: this.remaining },
      );
    }
    this.hash.update(part);
    this.remaining -= part.length;
    return part;
  }

  private finish(): void {
    if (this.outcome === undefined) {
      const actual = `sha256:${this.hash.digest('hex')}`;
      this.outcome =
        actual === this.entry.digest
          ? 'ok'
          : new FlotillaError(
              'TRANSFER_DIGEST_MISMATCH',
              `entry ${this.entry.path} hashes to ${actual}, but the signed manifest lists ${this.entry.digest}: its content was altered`,
              { entry: this.entry.path, expected: this.entry.digest, actual },
            );
    }
    if (this.outcome !== 'ok') throw this.outcome;
  }
}

/**
 * Reads a transfer file strictly, as a stream, and yields nothing it has not verified: the
 * first entry must be the manifest, signed by one of `hubKeys`, and from then on the archive
 * must hold exactly the listed entries, in order, each of the listed length and digest, then
 * the end-of-archive marker and at most zero padding. Every refusal is a FlotillaError whose
 * code names the problem and whose `details.entry` names the entry.
 *
 * The archive is only verified when the iteration ends without an error: a consumer writes
 * what it receives to a staging place and publishes it only then (the agent's importer does).
 * A declared length is never read past: an entry whose header is longer than listed is
 * refused at its header. The reader holds no chunk of `source` once it asked for the next,
 * so a source may reuse one buffer for every read, provided the consumer is done with each
 * body chunk before asking for the next (as a consumer that writes it to a file is).
 */
export async function* readTransfer(
  source: AsyncIterable<Uint8Array>,
  options: ReadTransferOptions,
): AsyncGenerator<TransferItem> {
  const bytes = new ByteSource(source);
  try {
    const first = await nextHeader(bytes);
    if (first === 'end' || first.name !== TRANSFER_MANIFEST_PATH) {
      fail(
        'TRANSFER_SIGNATURE_MISSING',
        `the file does not start with the signed manifest ${TRANSFER_MANIFEST_PATH} (its first entry is ${first === 'end' ? 'the end of the archive' : quote(first.name)}); it is not a Flotilla transfer file or it was assembled by hand`,
        { entry: first === 'end' ? null : first.name },
      );
    }
    const signed = await readManifest(bytes, first);
    const manifest = verifyTransferManifest(signed, options.hubKeys);
    checkTransferLayout(manifest);
    yield { type: 'manifest', manifest, signed };

    const position = new Map(manifest.entries.map((entry, index) => [entry.path, index]));
    const seen = new Set([TRANSFER_MANIFEST_PATH]);
    for (const [index, entry] of manifest.entries.entries()) {
      const header = await nextHeader(bytes);
      if (header === 'end')
        fail(
          'TRANSFER_ENTRY_MISSING',
          `the archive ends before entry ${entry.path}, which the manifest lists (${manifest.entries.length - index} listed entries missing)`,
          { entry: entry.path },
        );
      checkListed(header, seen, position);
      if (position.get(header.name) !== index)
        fail(
          'TRANSFER_ENTRY_ORDER',
          `entry ${header.name} comes where the manifest lists ${entry.path}; entries must follow the manifest's order`,
          { entry: header.name, expected: entry.path },
        );
      if (header.size > entry.length)
        fail(
          'TRANSFER_ENTRY_TOO_LONG',
          `entry ${entry.path} is ${header.size} bytes long, but the manifest declares ${entry.length}; refused at its header, nothing of it read`,
          { entry: entry.path, declared: entry.length, actual: header.size },
        );
      if (header.size < entry.length)
        fail(
          'TRANSFER_ENTRY_TOO_SHORT',
          `entry ${entry.path} is ${header.size} bytes long, but the manifest declares ${entry.length}`,
          { entry: entry.path, declared: entry.length, actual: header.size },
        );
      seen.add(header.name);
      const body = new EntryBody(bytes, entry);
      yield { type: 'entry', entry, body };
      await body.drain();
      await skipPadding(bytes, entry.length, entry.path);
    }

    const extra = await nextHeader(bytes);
    if (extra !== 'end') {
      checkListed(extra, seen, position);
      fail('TRANSFER_ENTRY_UNLISTED', `entry ${quote(extra.name)} follows the last listed entry`, {
        entry: extra.name,
      });
    }
    await checkTrailer(bytes);
  } finally {
    await bytes.close();
  }
}

function checkListed(header: FileHeader, seen: ReadonlySet<string>, position: ReadonlyMap<string, number>): void {
  if (seen.has(header.name))
    fail(
      'TRANSFER_ENTRY_DUPLICATE',
      `entry ${quote(header.name)} appears a second time at byte ${header.offset}; each entry appears once`,
      { entry: header.name, offset: header.offset },
    );
  if (!position.has(header.name))
    fail(
      'TRANSFER_ENTRY_UNLISTED',
      `entry ${quote(header.name)} at byte ${header.offset} is not listed in the signed manifest`,
      { entry: header.name, offset: header.offset },
    );
}

async function readManifest(bytes: ByteSource, header: FileHeader): Promise<SignedTransferManifest> {
  if (header.size > TRANSFER_MANIFEST_MAX_BYTES) {
    fail(
      'TRANSFER_MANIFEST_INVALID',
      `the manifest is ${header.size} bytes; a manifest is at most ${TRANSFER_MANIFEST_MAX_BYTES}, so this one is refused unread`,
      { entry: TRANSFER_MANIFEST_PATH, size: header.size },
    );
  }
  const data = await bytes.read(header.size);
  if (data.length < header.size)
    fail('TRANSFER_TRUNCATED', `the file ends inside the manifest (${data.length} of ${header.size} bytes)`, {
      entry: TRANSFER_MANIFEST_PATH,
    });
  let text: string | undefined;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    text = undefined;
  }
  // Decoded before the next read: `data` may be a view into a buffer the source reuses.
  await skipPadding(bytes, header.size, TRANSFER_MANIFEST_PATH);
  let value: unknown;
  try {
    if (text === undefined) throw new SyntaxError('not UTF-8');
    value = parseJson(text, 'the manifest');
  } catch {
    fail('TRANSFER_MANIFEST_INVALID', 'the manifest is not UTF-8 JSON', { entry: TRANSFER_MANIFEST_PATH });
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !('signature' in value)) {
    fail(
      'TRANSFER_SIGNATURE_MISSING',
      'the manifest carries no signature; a transfer file is accepted only with a hub-signed manifest',
      { entry: TRANSFER_MANIFEST_PATH },
    );
  }
  const parsed = SignedTransferManifest.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(
      'TRANSFER_MANIFEST_INVALID',
      `the manifest does not have the TransferManifest shape: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      { entry: TRANSFER_MANIFEST_PATH },
    );
  }
  return parsed.data;
}

async function skipPadding(bytes: ByteSource, size: number, entry: string): Promise<void> {
  const length = paddingOf(size);
  if (length === 0) return;
  const padding = await bytes.read(length);
  if (padding.length < length)
    fail('TRANSFER_TRUNCATED', `the file ends in the padding after entry ${entry}`, { entry });
  if (!isZeroBlock(padding))
    fail('TRANSFER_HEADER_INVALID', `the padding after entry ${entry} holds data; padding is zero bytes`, { entry });
}

/**
 * The next regular file's header, with any pax extended header folded in, or `end` at the
 * end-of-archive marker. Links, devices, FIFOs and directories are refused, and so is any
 * header that would give an entry another name than its own (pax `path`/`linkpath`, GNU
 * long names).
 */
async function nextHeader(bytes: ByteSource): Promise<FileHeader | 'end'> {
  let paxSize: number | undefined;
  for (;;) {
    const offset = bytes.position;
    const block = await bytes.read(BLOCK);
    if (block.length < BLOCK) {
      fail(
        'TRANSFER_TRUNCATED',
        block.length === 0
          ? `the file ends at byte ${offset} without the tar end-of-archive marker; it was cut short in copying`
          : `the file ends inside a tar header at byte ${offset}`,
        { offset },
      );
    }
    if (isZeroBlock(block)) {
      if (paxSize !== undefined)
        fail('TRANSFER_HEADER_INVALID', `a pax header at byte ${offset} is followed by the end of the archive`, {
          offset,
        });
      const second = await bytes.read(BLOCK);
      if (second.length < BLOCK)
        fail('TRANSFER_TRUNCATED', `the file ends inside the end-of-archive marker at byte ${offset}`, { offset });
      if (!isZeroBlock(second))
        fail('TRANSFER_HEADER_INVALID', `a lone zero block at byte ${offset} is not an end-of-archive marker`, {
          offset,
        });
      return 'end';
    }
    const header = decodeHeader(block, offset);
    if (header.type === 'x' || header.type === 'g') {
      if (paxSize !== undefined)
        fail('TRANSFER_HEADER_INVALID', `two pax headers in a row at byte ${offset}`, { offset });
      if (header.size > PAX_MAX_SIZE)
        fail(
          'TRANSFER_HEADER_INVALID',
          `the pax header at byte ${offset} is ${header.size} bytes; at most ${PAX_MAX_SIZE} are read`,
          { offset },
        );
      const data = await bytes.read(header.size);
      if (data.length < header.size)
        fail('TRANSFER_TRUNCATED', `the file ends inside the pax header at byte ${offset}`, { offset });
      const records = parsePaxRecords(data, offset);
      await skipPadding(bytes, header.size, `pax header at byte ${offset}`);
      for (const key of ['path', 'linkpath']) {
        const value = records.get(key);
        if (value !== undefined) {
          fail(
            'TRANSFER_ENTRY_RENAMED',
            `a pax header at byte ${offset} sets ${key}=${quote(value)}, renaming the next entry; a transfer file names each entry in its own header`,
            { entry: value, offset, key },
          );
        }
      }
      if (header.type === 'g')
        fail('TRANSFER_HEADER_INVALID', `a global pax header at byte ${offset}; a transfer file has none`, { offset });
      for (const key of records.keys()) {
        if (!HARMLESS_PAX_KEYS.has(key))
          fail(
            'TRANSFER_HEADER_INVALID',
            `the pax header at byte ${offset} sets ${quote(key)}, which a transfer file does not use`,
            { offset, key },
          );
      }
      const size = records.get('size');
      if (size !== undefined) {
        if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size)))
          fail(
            'TRANSFER_HEADER_INVALID',
            `the pax header at byte ${offset} has size ${quote(size)}, not a byte count`,
            { offset },
          );
        paxSize = Number(size);
      } else {
        paxSize = -1;
      }
      continue;
    }
    if (header.type === 'L' || header.type === 'K') {
      fail(
        'TRANSFER_ENTRY_RENAMED',
        `a GNU long-name header at byte ${offset} renames the next entry; a transfer file names each entry in its own header`,
        { entry: header.name, offset },
      );
    }
    if (header.type !== '0') {
      const what = TYPE_NAMES[header.type] ?? `of tar type ${quote(header.type)}`;
      const target = header.type === '1' || header.type === '2' ? ` to ${quote(header.linkname)}` : '';
      fail(
        'TRANSFER_ENTRY_TYPE',
        `entry ${quote(header.name)} is ${what}${target}; a transfer file holds regular files only`,
        { entry: header.name, offset, type: header.type },
      );
    }
    checkPath(header.name, offset);
    return { name: header.name, size: paxSize !== undefined && paxSize >= 0 ? paxSize : header.size, offset };
  }
}

/** After the end-of-archive marker: zero bytes up to the end of a tar record, then nothing. */
async function checkTrailer(bytes: ByteSource): Promise<void> {
  const allowed = (RECORD - (bytes.position % RECORD)) % RECORD;
  let left = allowed;
  while (left > 0) {
    const part = await bytes.readSome(left);
    if (part.length === 0) return;
    if (!isZeroBlock(part))
      fail(
        'TRANSFER_TRAILING_DATA',
        `data follows the end of the archive at byte ${bytes.position - part.length}; the file was appended to`,
        { offset: bytes.position - part.length },
      );
    left -= part.length;
  }
  if (!(await bytes.atEnd()))
    fail(
      'TRANSFER_TRAILING_DATA',
      `data follows the end of the archive at byte ${bytes.position}; the file was appended to`,
      { offset: bytes.position },
    );
}
