import { open } from 'node:fs/promises';

/**
 * A file's bytes in chunks of up to `size` bytes, all read into one buffer: each chunk is a
 * view that the next read overwrites. Only for a consumer that is done with a chunk before it
 * asks for the next, such as the transfer importer and exporter (each write completes before
 * it reads on); fresh buffers per chunk made most of their memory at gigabyte sizes.
 */
export async function* fileChunks(path: string, size = 1 << 20): AsyncGenerator<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafeSlow(size);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, size, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
