import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalize, FlotillaError, parseJson } from '@flotilla/protocol';
import {
  OCI_INDEX,
  OCI_LAYOUT_VERSION,
  OCI_MANIFEST_MAX_BYTES,
  OCI_REF_NAME,
  OciImageIndex,
  OciLayoutFile,
  verifiedBlob,
  walkOciIndex,
  type BlobClaim,
  type OciDescriptor,
  type OciNode,
} from '@flotilla/protocol/offline';
import { streamOf, syncDirectory, writeFileDurably, writeNewFile } from '@flotilla/runtime';

/** An OCI image layout on disk, read and checked: its index and every blob the index needs. */
export interface OciLayout {
  readonly dir: string;
  readonly index: OciImageIndex;
  /** Every blob the index needs, each once, children before parents (push order). */
  readonly nodes: readonly OciNode[];
  /** A blob's bytes, checked against its digest and size as they stream (OCI_DIGEST_MISMATCH). */
  open(blob: BlobClaim): AsyncIterable<Uint8Array>;
}

function invalid(dir: string, message: string, details: Record<string, unknown> = {}): FlotillaError {
  return new FlotillaError('OCI_LAYOUT_INVALID', `OCI layout ${dir}: ${message}`, { layout: dir, ...details });
}

/** `blobs/sha256/<hex>` of a layout directory. */
export function blobPath(dir: string, digest: string): string {
  const match = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (match === null) throw new TypeError(`blobPath: ${digest} is not a sha256 digest`);
  return join(dir, 'blobs', 'sha256', match[1]!);
}

async function readSmall(dir: string, path: string, max: number, what: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw invalid(dir, `${what} is missing`, { file: path });
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw invalid(dir, `${what} is not a regular file`, { file: path });
    if (stat.size > max) throw invalid(dir, `${what} is ${stat.size} bytes; at most ${max} are read`, { file: path });
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

function json(dir: string, bytes: Buffer, what: string): unknown {
  try {
    return parseJson(bytes.toString('utf8'), what);
  } catch {
    throw invalid(dir, `${what} is not JSON`);
  }
}

/**
 * Reads an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`): checks the layout
 * version, walks the index to every manifest, config and layer, checks every manifest's
 * digest, and that every other blob is a regular file of the declared size (its digest is
 * checked when it is read through `open`).
 */
export async function readOciLayout(dir: string): Promise<OciLayout> {
  const layoutFile = OciLayoutFile.safeParse(
    json(dir, await readSmall(dir, join(dir, 'oci-layout'), 4096, 'oci-layout'), 'oci-layout'),
  );
  if (!layoutFile.success || layoutFile.data.imageLayoutVersion !== OCI_LAYOUT_VERSION)
    throw invalid(dir, `oci-layout does not declare imageLayoutVersion ${OCI_LAYOUT_VERSION}`);
  const index = OciImageIndex.safeParse(
    json(dir, await readSmall(dir, join(dir, 'index.json'), OCI_MANIFEST_MAX_BYTES, 'index.json'), 'index.json'),
  );
  if (!index.success) throw invalid(dir, `index.json is not an image index: ${index.error.issues[0]?.message ?? ''}`);
  const nodes = await walkOciIndex(index.data, async (descriptor) =>
    readSmall(dir, blobPath(dir, descriptor.digest), OCI_MANIFEST_MAX_BYTES, `blob ${descriptor.digest}`),
  );
  for (const node of nodes) {
    if (node.kind !== 'blob') continue;
    const path = blobPath(dir, node.descriptor.digest);
    const stat = await lstat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT')
        throw invalid(dir, `blob ${node.descriptor.digest} is missing`, { blob: node.descriptor.digest });
      throw error;
    });
    if (!stat.isFile())
      throw invalid(dir, `blob ${node.descriptor.digest} is not a regular file`, { blob: node.descriptor.digest });
    if (stat.size !== node.descriptor.size) {
      throw new FlotillaError(
        'OCI_DIGEST_MISMATCH',
        `OCI layout ${dir}: blob ${node.descriptor.digest} has ${stat.size} bytes, but its descriptor says ${node.descriptor.size}`,
        { blob: node.descriptor.digest },
      );
    }
  }
  return {
    dir,
    index: index.data,
    nodes,
    open: (blob) =>
      verifiedBlob(
        createReadStream(blobPath(dir, blob.digest), { highWaterMark: 1 << 20 }),
        blob,
        `blob ${blob.digest} of ${dir}`,
      ),
  };
}

/**
 * Reads every blob of a layout through its digest: the full check, for a layout whose files
 * may have changed since they were written.
 */
export async function verifyOciLayout(layout: OciLayout): Promise<void> {
  for (const node of layout.nodes) {
    for await (const chunk of layout.open(node.descriptor)) void chunk;
  }
}

/**
 * Builds an OCI image layout: blobs are streamed to disk under their digest as they arrive,
 * and `close` writes `index.json` and `oci-layout` (atomically, last, so a layout that has
 * them is whole).
 */
export class OciLayoutWriter {
  readonly dir: string;
  private readonly manifests: OciDescriptor[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Starts a layout in `dir` (created if need be). */
  static async create(dir: string): Promise<OciLayoutWriter> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
    return new OciLayoutWriter(dir);
  }

  /** Stores a blob from a stream, hashing it on the way; a blob already there is kept. */
  async addBlob(source: AsyncIterable<Uint8Array>, mediaType: string): Promise<OciDescriptor> {
    const hash = createHash('sha256');
    async function* hashed(): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        hash.update(chunk);
        yield chunk;
      }
    }
    const temporary = join(this.dir, 'blobs', 'sha256', `.${randomBytes(6).toString('hex')}.partial`);
    const size = await writeNewFile(temporary, hashed(), 0o644);
    const digest = `sha256:${hash.digest('hex')}`;
    try {
      await rename(temporary, blobPath(this.dir, digest));
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return { mediaType, digest, size };
  }

  /** Stores a JSON document (a config, a manifest) as a blob, in the exact bytes returned. */
  async addJson(
    value: unknown,
    mediaType: string,
  ): Promise<{ readonly descriptor: OciDescriptor; readonly bytes: Uint8Array }> {
    const text = canonicalize(value);
    const descriptor = await this.addBlob(streamOf(text), mediaType);
    return { descriptor, bytes: new TextEncoder().encode(text) };
  }

  /** Names a manifest (or index) in the layout's index, as `ref` (`org.opencontainers.image.ref.name`). */
  tag(manifest: OciDescriptor, ref: string): void {
    this.manifests.push({
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.size,
      annotations: { [OCI_REF_NAME]: ref },
    });
  }

  /** Writes index.json and oci-layout; the layout is complete from then on. */
  async close(): Promise<OciImageIndex> {
    await syncDirectory(join(this.dir, 'blobs', 'sha256'));
    const index: OciImageIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.manifests };
    await writeFileDurably(join(this.dir, 'index.json'), streamOf(canonicalize(index)), 0o644);
    await writeFileDurably(
      join(this.dir, 'oci-layout'),
      streamOf(canonicalize({ imageLayoutVersion: OCI_LAYOUT_VERSION })),
      0o644,
    );
    return index;
  }
}
