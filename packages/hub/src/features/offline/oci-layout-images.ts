import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError, parseJson } from '@flotilla/protocol';
import {
  OCI_LAYOUT_VERSION,
  OCI_MANIFEST_MAX_BYTES,
  OCI_REF_NAME,
  OciImageIndex,
  OciLayoutFile,
  walkOciIndex,
  type TransferImages,
} from '@flotilla/protocol/offline';
import { fileChunks } from '@flotilla/runtime';

function invalid(dir: string, message: string): FlotillaError {
  return new FlotillaError('OCI_LAYOUT_INVALID', `OCI layout ${dir}: ${message}`, { layout: dir });
}

function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

async function readJson(dir: string, path: string, max: number): Promise<unknown> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw invalid(dir, `${path} is missing`);
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > max) throw invalid(dir, `${path} is not a regular file of at most ${max} bytes`);
    const bytes = await handle.readFile();
    try {
      return parseJson(bytes.toString('utf8'), path);
    } catch {
      throw invalid(dir, `${path} is not JSON`);
    }
  } finally {
    await handle.close();
  }
}

/**
 * The images of an OCI image layout directory (as `skopeo copy … oci:DIR` or a build writes
 * one) for a transfer file: the index, narrowed to the images named in `refs` (their
 * `org.opencontainers.image.ref.name`) when given, and every blob those images need. Manifest
 * digests are checked here; every other blob is checked while the transfer writer streams it.
 * Blobs are read into one reused buffer per blob: for `exportTransferFile`, which writes each
 * chunk before it reads the next.
 */
export async function ociLayoutImages(dir: string, refs?: readonly string[]): Promise<TransferImages> {
  const layout = OciLayoutFile.safeParse(await readJson(dir, join(dir, 'oci-layout'), 4096));
  if (!layout.success || layout.data.imageLayoutVersion !== OCI_LAYOUT_VERSION)
    throw invalid(dir, `oci-layout does not declare imageLayoutVersion ${OCI_LAYOUT_VERSION}`);
  const parsed = OciImageIndex.safeParse(await readJson(dir, join(dir, 'index.json'), OCI_MANIFEST_MAX_BYTES));
  if (!parsed.success) throw invalid(dir, 'index.json is not an image index');
  let manifests = parsed.data.manifests;
  if (refs !== undefined) {
    manifests = manifests.filter((m) => refs.includes(m.annotations?.[OCI_REF_NAME] ?? ''));
    const found = new Set(manifests.map((m) => m.annotations?.[OCI_REF_NAME]));
    const missing = refs.filter((ref) => !found.has(ref));
    if (missing.length > 0)
      throw new FlotillaError('NOT_FOUND', `OCI layout ${dir} has no image named ${missing.join(', ')}`, {
        layout: dir,
        missing,
      });
  }
  const index: OciImageIndex = { ...parsed.data, manifests };
  const nodes = await walkOciIndex(index, async (descriptor) => {
    const handle = await open(blobPath(dir, descriptor.digest), 'r').catch(() => {
      throw invalid(dir, `blob ${descriptor.digest} is missing`);
    });
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  });
  return {
    index,
    blobs: nodes.map((node) => ({
      digest: node.descriptor.digest,
      size: node.descriptor.size,
      open: () => fileChunks(blobPath(dir, node.descriptor.digest)),
    })),
  };
}
