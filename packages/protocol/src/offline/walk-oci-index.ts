import { createHash } from 'node:crypto';
import { FlotillaError } from '../errors.ts';
import {
  isIndexMediaType,
  isManifestMediaType,
  OCI_MANIFEST_MAX_BYTES,
  OciImageIndex,
  OciImageManifest,
  type OciDescriptor,
} from './oci.ts';
import { parseJson as boundedJson } from '../bounded-json.ts';

/** A blob an image index needs: a manifest or index (with its bytes), or a config or layer. */
export type OciNode =
  | { readonly kind: 'manifest' | 'index'; readonly descriptor: OciDescriptor; readonly bytes: Uint8Array }
  | { readonly kind: 'blob'; readonly descriptor: OciDescriptor };

function invalid(message: string, digest: string): FlotillaError {
  return new FlotillaError('OCI_LAYOUT_INVALID', message, { blob: digest });
}

function parseJson(bytes: Uint8Array, digest: string): unknown {
  try {
    return boundedJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes), `blob ${digest}`);
  } catch {
    throw invalid(`blob ${digest} is described as a manifest but is not UTF-8 JSON`, digest);
  }
}

/**
 * Every blob an image index needs, each once, children before parents: configs and layers,
 * then the manifest naming them, then any nested index. That is the order a registry push
 * takes, so that a registry never sees a manifest before its blobs. `load` reads a manifest
 * or index blob (at most {@link OCI_MANIFEST_MAX_BYTES}); its bytes are checked against the
 * descriptor's size and digest here (OCI_DIGEST_MISMATCH). A descriptor of another media
 * type where a manifest is expected is OCI_LAYOUT_INVALID.
 */
export async function walkOciIndex(
  index: OciImageIndex,
  load: (descriptor: OciDescriptor) => Promise<Uint8Array>,
): Promise<OciNode[]> {
  const nodes: OciNode[] = [];
  const seen = new Set<string>();

  const leaf = (descriptor: OciDescriptor): void => {
    if (seen.has(descriptor.digest)) return;
    seen.add(descriptor.digest);
    nodes.push({ kind: 'blob', descriptor });
  };

  const visit = async (descriptor: OciDescriptor, depth: number): Promise<void> => {
    if (seen.has(descriptor.digest)) return;
    if (depth > 4) throw invalid(`index ${descriptor.digest} nests more than 4 levels deep`, descriptor.digest);
    if (descriptor.size > OCI_MANIFEST_MAX_BYTES)
      throw invalid(
        `manifest ${descriptor.digest} is ${descriptor.size} bytes; a manifest is at most ${OCI_MANIFEST_MAX_BYTES}`,
        descriptor.digest,
      );
    const bytes = await load(descriptor);
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (bytes.length !== descriptor.size || actual !== descriptor.digest) {
      throw new FlotillaError(
        'OCI_DIGEST_MISMATCH',
        `manifest ${descriptor.digest} has ${bytes.length} bytes hashing to ${actual}; the descriptor says ${descriptor.size} bytes`,
        { blob: descriptor.digest, actual },
      );
    }
    const value = parseJson(bytes, descriptor.digest);
    seen.add(descriptor.digest);
    if (isIndexMediaType(descriptor.mediaType)) {
      const nested = OciImageIndex.safeParse(value);
      if (!nested.success) throw invalid(`blob ${descriptor.digest} is not an image index`, descriptor.digest);
      for (const child of nested.data.manifests) await visit(child, depth + 1);
      nodes.push({ kind: 'index', descriptor, bytes });
    } else if (isManifestMediaType(descriptor.mediaType)) {
      const manifest = OciImageManifest.safeParse(value);
      if (!manifest.success) throw invalid(`blob ${descriptor.digest} is not an image manifest`, descriptor.digest);
      leaf(manifest.data.config);
      for (const layer of manifest.data.layers) leaf(layer);
      nodes.push({ kind: 'manifest', descriptor, bytes });
    } else {
      throw invalid(
        `the index names ${descriptor.digest} as ${descriptor.mediaType}, which is neither an image manifest nor an index`,
        descriptor.digest,
      );
    }
  };

  for (const descriptor of index.manifests) await visit(descriptor, 0);
  return nodes;
}
