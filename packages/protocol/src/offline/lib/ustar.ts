/**
 * The POSIX ustar header (IEEE 1003.1-2001 `ustar` with `pax` extended headers), the subset a
 * transfer file uses: regular files, and a pax `size` record for entries of 8 GiB and more.
 * Decoding is strict: the checksum must hold, numbers are plain octal, names are UTF-8, and
 * every field is read, so that this reader and any other tar reader see the same entry.
 */
import { FlotillaError } from '../../errors.ts';

export const BLOCK = 512;
/** The largest size the 11 octal digits of a ustar size field hold: 8 GiB - 1. */
export const USTAR_MAX_SIZE = 8 ** 11 - 1;
/** A pax header is a few records; more than this is not a header a transfer file writes. */
export const PAX_MAX_SIZE = 64 * 1024;

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes of zero padding after `size` bytes of data, up to the next block. */
export function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function writeText(block: Uint8Array, offset: number, width: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > width) throw new TypeError(`tar: "${text}" does not fit a ${width}-byte header field`);
  block.set(bytes, offset);
}

function writeOctal(block: Uint8Array, offset: number, width: number, value: number): void {
  // width - 1 zero-padded octal digits and a NUL, as POSIX tar writes them.
  writeText(block, offset, width - 1, value.toString(8).padStart(width - 1, '0'));
}

function header(name: string, size: number, mtime: number, type: string): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeText(block, 0, 100, name);
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, mtime);
  block.fill(0x20, 148, 156);
  writeText(block, 156, 1, type);
  writeText(block, 257, 6, 'ustar');
  writeText(block, 263, 2, '00');
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeText(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** One pax record: `<length> <key>=<value>\n`, where the length counts the whole record. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return `${length}${body}`;
}

/**
 * The header blocks of a regular file: one ustar block, preceded by a pax header carrying the
 * size when it exceeds what ustar holds. Owner 0:0, mode 0644, the given mtime: nothing that
 * varies between two writes of the same content.
 */
export function encodeFileHeader(path: string, size: number, mtime: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`tar: size ${size} is not a byte count`);
  if (size <= USTAR_MAX_SIZE) return header(path, size, mtime, '0');
  const records = encoder.encode(paxRecord('size', String(size)));
  const pax = new Uint8Array(BLOCK + records.length + paddingOf(records.length) + BLOCK);
  pax.set(header(`PaxHeaders/${path}`.slice(0, 100), records.length, mtime, 'x'), 0);
  pax.set(records, BLOCK);
  pax.set(header(path, 0, mtime, '0'), pax.length - BLOCK);
  return pax;
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = new Uint8Array(2 * BLOCK);

/** A header block as read, before the reader decides what the entry may be. */
export interface RawHeader {
  /** The path: `prefix/name` when the prefix field is used. */
  readonly name: string;
  /** The typeflag character: `0` for a regular file, `x` for a pax header, and so on. */
  readonly type: string;
  readonly size: number;
  readonly linkname: string;
}

function invalid(message: string, details: Record<string, unknown>): FlotillaError {
  return new FlotillaError('TRANSFER_HEADER_INVALID', message, details);
}

function readText(block: Uint8Array, offset: number, width: number, field: string, at: number): string {
  const bytes = block.subarray(offset, offset + width);
  const end = bytes.indexOf(0);
  const text = end === -1 ? bytes : bytes.subarray(0, end);
  if (end !== -1 && bytes.subarray(end).some((b) => b !== 0)) {
    throw invalid(
      `the tar header at byte ${at} hides bytes after the end of its ${field} field; a transfer file's headers carry nothing unread`,
      { offset: at, field },
    );
  }
  try {
    return utf8.decode(text);
  } catch {
    throw invalid(`the ${field} field of the tar header at byte ${at} is not UTF-8`, { offset: at, field });
  }
}

function readOctal(block: Uint8Array, offset: number, width: number, field: string, at: number): number {
  const bytes = block.subarray(offset, offset + width);
  let i = 0;
  while (i < width && bytes[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < width; i++) {
    const b = bytes[i]!;
    if (b < 0x30 || b > 0x37) break;
    value = value * 8 + (b - 0x30);
    digits++;
  }
  for (; i < width; i++) {
    if (bytes[i] !== 0 && bytes[i] !== 0x20) {
      throw invalid(
        `the ${field} field of the tar header at byte ${at} is not a plain octal number (base-256 and other encodings are not POSIX ustar)`,
        { offset: at, field },
      );
    }
  }
  if (digits === 0 && field !== 'devmajor' && field !== 'devminor') {
    throw invalid(`the ${field} field of the tar header at byte ${at} is empty`, { offset: at, field });
  }
  return value;
}

/** True for a block of 512 zero bytes, half of the end-of-archive marker. */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * Decodes one header block at stream offset `at`. Refuses, with TRANSFER_HEADER_INVALID, a
 * wrong checksum, a header that is not POSIX ustar, numbers that are not octal and text that
 * is not UTF-8; what the entry may be (its type, its path) is the reader's decision.
 */
export function decodeHeader(block: Uint8Array, at: number): RawHeader {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  const stored = readOctal(block, 148, 8, 'checksum', at);
  if (stored !== sum)
    throw invalid(
      `the tar header at byte ${at} has checksum ${stored.toString(8)} but its bytes sum to ${sum.toString(8)}; the file is damaged or not a tar archive`,
      { offset: at },
    );
  if (readText(block, 257, 6, 'magic', at) !== 'ustar' || block[263] !== 0x30 || block[264] !== 0x30) {
    throw invalid(`the tar header at byte ${at} is not a POSIX ustar header (magic "ustar\\0" and version "00")`, {
      offset: at,
    });
  }
  const name = readText(block, 0, 100, 'name', at);
  const prefix = readText(block, 345, 155, 'prefix', at);
  for (const [offset, width, field] of [
    [100, 8, 'mode'],
    [108, 8, 'uid'],
    [116, 8, 'gid'],
    [136, 12, 'mtime'],
    [329, 8, 'devmajor'],
    [337, 8, 'devminor'],
  ] as const) {
    readOctal(block, offset, width, field, at);
  }
  readText(block, 265, 32, 'uname', at);
  readText(block, 297, 32, 'gname', at);
  if (block.subarray(500, 512).some((b) => b !== 0))
    throw invalid(`the tar header at byte ${at} carries bytes in its padding`, { offset: at });
  return {
    name: prefix === '' ? name : `${prefix}/${name}`,
    type: String.fromCharCode(block[156]!),
    size: readOctal(block, 124, 12, 'size', at),
    linkname: readText(block, 157, 100, 'linkname', at),
  };
}

/**
 * Parses the records of a pax extended header. Each is `<length> <key>=<value>\n` with a
 * decimal length that counts the whole record; anything else is refused.
 */
export function parsePaxRecords(bytes: Uint8Array, at: number): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < bytes.length) {
    const space = bytes.indexOf(0x20, offset);
    const lengthText = space === -1 ? '' : String.fromCharCode(...bytes.subarray(offset, space));
    const length = /^[1-9][0-9]{0,5}$/.test(lengthText) ? Number(lengthText) : NaN;
    if (!Number.isInteger(length) || offset + length > bytes.length || bytes[offset + length - 1] !== 0x0a) {
      throw invalid(`the pax header at byte ${at} has a malformed record at its byte ${offset}`, { offset: at });
    }
    let record: string;
    try {
      record = utf8.decode(bytes.subarray(space + 1, offset + length - 1));
    } catch {
      throw invalid(`the pax header at byte ${at} has a record that is not UTF-8`, { offset: at });
    }
    const equals = record.indexOf('=');
    if (equals <= 0) throw invalid(`the pax header at byte ${at} has a record without key=value`, { offset: at });
    const key = record.slice(0, equals);
    if (records.has(key))
      throw invalid(`the pax header at byte ${at} sets ${JSON.stringify(key)} twice`, { offset: at, key });
    records.set(key, record.slice(equals + 1));
    offset += length;
  }
  return records;
}
