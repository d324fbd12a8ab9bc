import { z } from 'zod';
import { ApiVersion, Digest, TargetId, Timestamp } from '../documents/common.ts';
import { Signature } from '../crypto/keys.ts';
import { FlotillaError } from '../errors.ts';

/** The path of the signed manifest: always the first entry of a transfer file. */
export const TRANSFER_MANIFEST_PATH = 'manifest.json';
/** A manifest is metadata: a file whose manifest is larger than this is refused unread. */
export const TRANSFER_MANIFEST_MAX_BYTES = 16 * 1024 * 1024;
/** How many entries a manifest may list. */
export const TRANSFER_MAX_ENTRIES = 100_000;

/**
 * What an entry holds, in the order entries appear: the trust-root chain, the hub-signed
 * envelopes, the releases (signed bundles), then one OCI image layout (its `oci-layout`, its
 * `index.json`, its blobs).
 */
export const TransferEntryKind = z.enum(['trust-root', 'envelope', 'release', 'oci-layout', 'oci-index', 'oci-blob']);
export type TransferEntryKind = z.infer<typeof TransferEntryKind>;

const KIND_RANK: Record<TransferEntryKind, number> = {
  'trust-root': 0,
  envelope: 1,
  release: 2,
  'oci-layout': 3,
  'oci-index': 4,
  'oci-blob': 5,
};

/** One entry of a transfer file as its manifest lists it. */
export const TransferEntry = z.strictObject({
  path: z.string().min(1).max(100),
  kind: TransferEntryKind,
  /** sha256 of the entry's bytes as stored in the archive. */
  digest: Digest,
  /** The entry's length in bytes; the archive's entry must be exactly this long. */
  length: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});
export type TransferEntry = z.infer<typeof TransferEntry>;

/** A target a transfer file carries an envelope for. */
export const TransferTarget = z.strictObject({
  targetId: TargetId,
  /** The generation of the envelope the file carries for this target. */
  generation: z.number().int().min(1),
});
export type TransferTarget = z.infer<typeof TransferTarget>;

/** The signed table of contents of a transfer file. */
export const TransferManifest = z.strictObject({
  apiVersion: ApiVersion,
  kind: z.literal('TransferManifest'),
  hubId: z.string().min(1).max(64),
  createdAt: Timestamp,
  /** The trust-root version the site(s) acknowledged; the file carries every version after it. */
  trustRootSince: z.number().int().min(0),
  targets: z.array(TransferTarget).min(1).max(10_000),
  entries: z.array(TransferEntry).max(TRANSFER_MAX_ENTRIES),
});
export type TransferManifest = z.infer<typeof TransferManifest>;

/** `manifest.json`: the manifest and the hub key's signature over it. */
export const SignedTransferManifest = z.strictObject({
  manifest: TransferManifest,
  /** The hub key's signature over the manifest, purpose `transfer-manifest`. */
  signature: Signature,
});
export type SignedTransferManifest = z.infer<typeof SignedTransferManifest>;

const HEX = '[0-9a-f]{64}';
const PATH_OF_KIND: Record<TransferEntryKind, RegExp> = {
  'trust-root': /^trust-root\/([0-9]{12})\.json$/,
  envelope: /^envelopes\/(tgt_[0-9a-f]{20})\.json$/,
  release: new RegExp(`^releases/(${HEX})\\.json$`),
  'oci-layout': /^images\/oci-layout$/,
  'oci-index': /^images\/index\.json$/,
  'oci-blob': new RegExp(`^images/blobs/sha256/(${HEX})$`),
};

/** The path of each kind of entry; `name` is the version, target id, or digest hex it is named by. */
export function transferEntryPath(kind: TransferEntryKind, name?: string | number): string {
  switch (kind) {
    case 'trust-root':
      return `trust-root/${String(name).padStart(12, '0')}.json`;
    case 'envelope':
      return `envelopes/${String(name)}.json`;
    case 'release':
      return `releases/${String(name).replace(/^sha256:/, '')}.json`;
    case 'oci-layout':
      return 'images/oci-layout';
    case 'oci-index':
      return 'images/index.json';
    case 'oci-blob':
      return `images/blobs/sha256/${String(name).replace(/^sha256:/, '')}`;
  }
}

function layoutError(message: string, entry?: string): FlotillaError {
  return new FlotillaError('TRANSFER_MANIFEST_INVALID', message, entry === undefined ? {} : { entry });
}

/**
 * Checks what the schema cannot: each path has the form of its kind, entries come in the
 * fixed order (kinds in order, then by path), no path repeats, trust-root versions follow the
 * acknowledged one, every target has exactly its envelope, and images come whole (layout
 * file, index, blobs named by their digest) or not at all. A writer and a reader that both
 * hold to this produce and accept one byte sequence for one set of contents.
 */
export function checkTransferLayout(manifest: TransferManifest): void {
  let previous: TransferEntry | undefined;
  const envelopeTargets: string[] = [];
  const kinds = new Set<TransferEntryKind>();
  for (const entry of manifest.entries) {
    const match = PATH_OF_KIND[entry.kind].exec(entry.path);
    if (match === null)
      throw layoutError(
        `entry ${JSON.stringify(entry.path)} is not a path for a ${entry.kind} entry (expected like ${transferEntryPath(entry.kind, entry.kind === 'trust-root' ? 1 : entry.kind === 'envelope' ? 'tgt_…' : 'sha256:…')})`,
        entry.path,
      );
    if (previous !== undefined) {
      const rank = KIND_RANK[entry.kind] - KIND_RANK[previous.kind];
      if (rank < 0 || (rank === 0 && entry.path <= previous.path)) {
        throw layoutError(
          `entry ${JSON.stringify(entry.path)} is listed after ${JSON.stringify(previous.path)}; entries are listed once each, by kind, then by path`,
          entry.path,
        );
      }
    }
    if (entry.kind === 'trust-root' && Number(match[1]) <= manifest.trustRootSince) {
      throw layoutError(
        `entry ${entry.path} is trust-root version ${Number(match[1])}, which the site already acknowledged (since ${manifest.trustRootSince})`,
        entry.path,
      );
    }
    if (entry.kind === 'envelope') envelopeTargets.push(match[1]!);
    if (entry.kind === 'oci-blob' && `sha256:${match[1]}` !== entry.digest) {
      throw layoutError(`blob ${entry.path} is named for another digest than its own ${entry.digest}`, entry.path);
    }
    kinds.add(entry.kind);
    previous = entry;
  }
  const targets = manifest.targets.map((t) => t.targetId);
  if (targets.some((id, i) => i > 0 && id <= targets[i - 1]!))
    throw layoutError('the manifest lists its targets more than once or out of order; they are sorted by id');
  if (targets.join() !== envelopeTargets.join()) {
    throw layoutError(
      `the manifest's targets (${targets.join(', ')}) are not the targets of its envelopes (${envelopeTargets.join(', ') || 'none'})`,
    );
  }
  const images = (['oci-layout', 'oci-index'] as const).filter((k) => kinds.has(k)).length;
  if ((images === 0 && kinds.has('oci-blob')) || images === 1)
    throw layoutError(
      'the manifest lists part of an OCI image layout; it needs oci-layout and index.json, or no image entry at all',
    );
}
