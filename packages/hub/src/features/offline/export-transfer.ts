import { createHash } from 'node:crypto';
import { type KeyPair } from '@flotilla/protocol';
import { writeTransfer, type TransferContents } from '@flotilla/protocol/offline';
import { writeFileDurably } from '@flotilla/runtime';

/** What an export wrote: for the audit trail and the operator. */
export interface ExportedTransfer {
  readonly path: string;
  readonly bytes: number;
  /** sha256 of the whole file. */
  readonly digest: string;
}

/**
 * Writes a transfer file for `contents`, signed by the hub key, to `path`: streamed (blobs go
 * from their sources to the file a chunk at a time), then flushed and renamed into place, so
 * `path` holds a whole file or none. The same contents give the same bytes.
 */
export async function exportTransferFile(
  path: string,
  contents: TransferContents,
  hubKey: KeyPair,
): Promise<ExportedTransfer> {
  const hash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of writeTransfer(contents, hubKey)) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const bytes = await writeFileDurably(path, hashed(), 0o600);
  return { path, bytes, digest: `sha256:${hash.digest('hex')}` };
}
