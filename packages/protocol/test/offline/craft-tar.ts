/**
 * Writes tar bytes by hand for tests, independently of the codec under test, so that an
 * attacker's archive (links, devices, renames, lies about sizes) can be built byte by byte.
 */
const encoder = new TextEncoder();

export interface HeaderFields {
  readonly name: string;
  readonly size: number;
  /** Typeflag character; `0` by default. */
  readonly type?: string;
  readonly linkname?: string;
  readonly prefix?: string;
  /** Six magic bytes and two version bytes; POSIX `ustar\0` + `00` by default. */
  readonly magic?: Uint8Array;
  /** Change bytes after the checksum is computed (a damaged header). */
  readonly afterChecksum?: (block: Uint8Array) => void;
  /** Change bytes before the checksum is computed (a header that is consistent but odd). */
  readonly beforeChecksum?: (block: Uint8Array) => void;
}

function put(block: Uint8Array, offset: number, text: string): void {
  block.set(encoder.encode(text), offset);
}

export function header(fields: HeaderFields): Uint8Array {
  const block = new Uint8Array(512);
  put(block, 0, fields.name);
  put(block, 100, '0000644\0');
  put(block, 108, '0000000\0');
  put(block, 116, '0000000\0');
  put(block, 124, `${fields.size.toString(8).padStart(11, '0')}\0`);
  put(block, 136, '00000000000\0');
  put(block, 156, fields.type ?? '0');
  if (fields.linkname !== undefined) put(block, 157, fields.linkname);
  block.set(fields.magic ?? encoder.encode('ustar\u000000'), 257);
  if (fields.prefix !== undefined) put(block, 345, fields.prefix);
  fields.beforeChecksum?.(block);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  put(block, 148, `${sum.toString(8).padStart(6, '0')}\0 `);
  fields.afterChecksum?.(block);
  return block;
}

function padded(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(body.length / 512) * 512);
  out.set(body);
  return out;
}

/** A regular file (or another type) with its body and padding. */
export function file(
  name: string,
  body: Uint8Array | string,
  extra: Omit<HeaderFields, 'name' | 'size'> & { readonly size?: number } = {},
): Uint8Array {
  const bytes = typeof body === 'string' ? encoder.encode(body) : body;
  return Buffer.concat([header({ name, size: extra.size ?? bytes.length, ...extra }), padded(bytes)]);
}

/** A pax extended header (`x`, or global `g`) with the given records. */
export function pax(records: Record<string, string>, type: 'x' | 'g' = 'x'): Uint8Array {
  let text = '';
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    text += `${length}${body}`;
  }
  const data = encoder.encode(text);
  return Buffer.concat([header({ name: 'PaxHeaders/x', size: data.length, type }), padded(data)]);
}

export const END = new Uint8Array(1024);

export function tar(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}
