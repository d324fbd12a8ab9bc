import { canonicalize } from '../canonical-json.ts';
import { sha256 } from '../crypto/digest.ts';
import type { KeyPair } from '../crypto/keys.ts';
import { API_VERSION } from '../documents/common.ts';
import type { SignedBundle } from '../documents/bundle.ts';
import type { SignedEnvelope } from '../documents/envelope.ts';
import type { SignedTrustRoot } from '../documents/trust-root.ts';
import { signTransferManifest } from './manifest-signature.ts';
import { OCI_LAYOUT_VERSION, type OciImageIndex } from './oci.ts';
import {
  checkTransferLayout,
  TRANSFER_MANIFEST_PATH,
  transferEntryPath,
  TransferManifest,
  type SignedTransferManifest,
  type TransferEntry,
} from './transfer-manifest.ts';
import { encodeFileHeader, END_OF_ARCHIVE, paddingOf } from './lib/ustar.ts';
import { verifiedBlob, type BlobClaim } from './verified-blob.ts';

/** A content-addressed blob the writer streams from wherever it lives; `open` may be called once. */
export interface BlobSource extends BlobClaim {
  /** The blob's bytes. A chunk may be a view of a buffer the source reuses once the next chunk is asked for. */
  open(): AsyncIterable<Uint8Array>;
}

/** An OCI image layout to carry: its index (written as `images/index.json`) and every blob it needs. */
export interface TransferImages {
  readonly index: OciImageIndex;
  readonly blobs: readonly BlobSource[];
}

/** Everything a transfer file carries. Order does not matter: the writer sorts. */
export interface TransferContents {
  readonly hubId: string;
  /** The only time in the file: the manifest's `createdAt` and every entry's mtime. */
  readonly createdAt: string;
  /** The trust-root version the site acknowledged; `trustRoots` are the versions after it. */
  readonly trustRootSince: number;
  readonly trustRoots: readonly SignedTrustRoot[];
  readonly envelopes: readonly SignedEnvelope[];
  readonly releases: readonly SignedBundle[];
  readonly images?: TransferImages | undefined;
}

type Body = { readonly bytes: Uint8Array } | { readonly blob: BlobSource };
interface PlannedEntry {
  readonly entry: TransferEntry;
  readonly body: Body;
}

const encoder = new TextEncoder();
const ZEROS = new Uint8Array(512);

function jsonEntry(kind: TransferEntry['kind'], path: string, value: unknown): PlannedEntry {
  const bytes = encoder.encode(canonicalize(value));
  return { entry: { path, kind, digest: sha256(bytes), length: bytes.length }, body: { bytes } };
}

function unique<T>(items: readonly T[], key: (item: T) => string, what: string): T[] {
  const seen = new Set<string>();
  for (const item of items) {
    const k = key(item);
    if (seen.has(k)) throw new TypeError(`writeTransfer: ${what} ${k} is given twice`);
    seen.add(k);
  }
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * The manifest (unsigned) and the entries, in file order, for a set of contents. Throws a
 * TypeError for contents that do not make a consistent file (an envelope naming a release
 * the file lacks, a trust root the site already has, an index naming a missing blob).
 */
export function planTransferManifest(contents: TransferContents): {
  readonly manifest: TransferManifest;
  readonly entries: readonly PlannedEntry[];
} {
  const planned: PlannedEntry[] = [];
  for (const root of unique(
    contents.trustRoots,
    (r) => String(r.trustRoot.version).padStart(12, '0'),
    'trust-root version',
  )) {
    if (root.trustRoot.version <= contents.trustRootSince)
      throw new TypeError(
        `writeTransfer: trust root v${root.trustRoot.version} is not newer than the acknowledged v${contents.trustRootSince}`,
      );
    planned.push(jsonEntry('trust-root', transferEntryPath('trust-root', root.trustRoot.version), root));
  }
  const releases = new Set(contents.releases.map((r) => r.digest));
  const envelopes = unique(contents.envelopes, (e) => e.envelope.targetId, 'envelope for target');
  for (const signed of envelopes) {
    for (const ref of signed.envelope.bundles) {
      if (!releases.has(ref.digest))
        throw new TypeError(
          `writeTransfer: the envelope for ${signed.envelope.targetId} names ${ref.name}@${ref.version} (${ref.digest}), which is not among the releases`,
        );
    }
    planned.push(jsonEntry('envelope', transferEntryPath('envelope', signed.envelope.targetId), signed));
  }
  for (const release of unique(contents.releases, (r) => r.digest, 'release'))
    planned.push(jsonEntry('release', transferEntryPath('release', release.digest), release));
  if (contents.images !== undefined) {
    const blobs = unique(contents.images.blobs, (b) => b.digest, 'image blob');
    const have = new Set(blobs.map((b) => b.digest));
    for (const descriptor of contents.images.index.manifests) {
      if (!have.has(descriptor.digest))
        throw new TypeError(`writeTransfer: the image index names ${descriptor.digest}, which is not among the blobs`);
    }
    planned.push(jsonEntry('oci-layout', transferEntryPath('oci-layout'), { imageLayoutVersion: OCI_LAYOUT_VERSION }));
    planned.push(jsonEntry('oci-index', transferEntryPath('oci-index'), contents.images.index));
    for (const blob of blobs)
      planned.push({
        entry: {
          path: transferEntryPath('oci-blob', blob.digest),
          kind: 'oci-blob',
          digest: blob.digest,
          length: blob.size,
        },
        body: { blob },
      });
  }
  const manifest = TransferManifest.parse({
    apiVersion: API_VERSION,
    kind: 'TransferManifest',
    hubId: contents.hubId,
    createdAt: contents.createdAt,
    trustRootSince: contents.trustRootSince,
    targets: envelopes.map((e) => ({ targetId: e.envelope.targetId, generation: e.envelope.generation })),
    entries: planned.map((p) => p.entry),
  });
  checkTransferLayout(manifest);
  return { manifest, entries: planned };
}

/** The signed manifest and the entries, in file order, for a set of contents (see {@link planTransferManifest}). */
export function planTransfer(
  contents: TransferContents,
  hubKey: KeyPair,
): { readonly signed: SignedTransferManifest; readonly entries: readonly PlannedEntry[] } {
  const { manifest, entries } = planTransferManifest(contents);
  return { signed: signTransferManifest(manifest, hubKey), entries };
}

/**
 * Writes a transfer file as a stream of bytes: a POSIX tar archive whose first entry is the
 * signed manifest, then every entry it lists in its order, then the end-of-archive marker.
 * Same contents and key, same bytes: entries are sorted, every header has mode 0644, owner
 * 0:0 and the manifest's `createdAt` as mtime, and JSON entries are RFC 8785 canonical. Blobs
 * stream from their sources and are checked against their digest and size on the way
 * (OCI_DIGEST_MISMATCH); nothing is held in memory beyond one chunk. A blob chunk is passed
 * on as its source gave it, so write (or copy) each chunk before asking for the next.
 *
 * @example
 * await pipeline(Readable.from(writeTransfer(contents, hubKey)), createWriteStream(path));
 */
export async function* writeTransfer(contents: TransferContents, hubKey: KeyPair): AsyncGenerator<Uint8Array> {
  yield* writePlanned(planTransfer(contents, hubKey));
}

/**
 * Writes a transfer file whose manifest another party signed (the hub, for the CLI that
 * streams the images from its own disk): the contents must plan to exactly that manifest,
 * else a TypeError before anything is written. Otherwise as {@link writeTransfer}.
 */
export async function* writeSignedTransfer(
  contents: TransferContents,
  signed: SignedTransferManifest,
): AsyncGenerator<Uint8Array> {
  const { manifest, entries } = planTransferManifest(contents);
  if (canonicalize(manifest) !== canonicalize(signed.manifest))
    throw new TypeError('writeSignedTransfer: the contents do not match the signed manifest');
  yield* writePlanned({ signed, entries });
}

async function* writePlanned({
  signed,
  entries,
}: {
  readonly signed: SignedTransferManifest;
  readonly entries: readonly PlannedEntry[];
}): AsyncGenerator<Uint8Array> {
  const mtime = Math.floor(Date.parse(signed.manifest.createdAt) / 1000);
  const manifestBytes = encoder.encode(canonicalize(signed));
  yield encodeFileHeader(TRANSFER_MANIFEST_PATH, manifestBytes.length, mtime);
  yield manifestBytes;
  if (paddingOf(manifestBytes.length) > 0) yield ZEROS.subarray(0, paddingOf(manifestBytes.length));
  for (const { entry, body } of entries) {
    yield encodeFileHeader(entry.path, entry.length, mtime);
    if ('bytes' in body) yield body.bytes;
    else yield* verifiedBlob(body.blob.open(), body.blob, `image blob ${entry.path}`);
    const padding = paddingOf(entry.length);
    if (padding > 0) yield ZEROS.subarray(0, padding);
  }
  yield END_OF_ARCHIVE;
}
