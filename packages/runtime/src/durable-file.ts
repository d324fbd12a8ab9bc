import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Flushes a directory's entries (a new name, a rename) to disk. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a stream of bytes to a new file: `path` must not exist (`wx`), the bytes are on
 * disk (fsync) when this resolves, and a failure removes what was written.
 */
export async function writeNewFile(path: string, source: AsyncIterable<Uint8Array>, mode = 0o600): Promise<number> {
  const handle = await open(path, 'wx', mode);
  let written = 0;
  try {
    for await (const chunk of source) {
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
      }
      written += chunk.length;
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(path, { force: true });
    throw error;
  }
  await handle.close();
  return written;
}

/**
 * Replaces `path` with the bytes of `source` atomically: a temporary file beside it, fsync,
 * rename, fsync of the directory. A crash leaves the old file or the new one, never a part.
 */
export async function writeFileDurably(path: string, source: AsyncIterable<Uint8Array>, mode = 0o600): Promise<number> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  const written = await writeNewFile(temporary, source, mode);
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path));
  return written;
}

/** Bytes or text as the stream the writers take. */
export async function* streamOf(content: Uint8Array | string): AsyncGenerator<Uint8Array> {
  yield typeof content === 'string' ? new TextEncoder().encode(content) : content;
}
