import { FlotillaError } from '@flotilla/protocol';
import { OCI_REF_NAME, walkOciIndex, type OciDescriptor } from '@flotilla/protocol/offline';
import type { OciLayout } from './oci-layout.ts';
import type { RegistryClient } from './registry-client.ts';

/** Where an image goes in the site registry. */
export interface ImageDestination {
  readonly repository: string;
  /** Absent: the image is pushed by digest only. */
  readonly tag?: string | undefined;
}

/** What was pushed for one image of a layout. */
export interface PushedImage {
  /** The image's name in the layout (`org.opencontainers.image.ref.name`). */
  readonly ref: string;
  readonly repository: string;
  readonly tag: string | undefined;
  /** The digest of the image's manifest (or index): what a digest-pinned reference names. */
  readonly digest: string;
  readonly blobsPushed: number;
  readonly blobsPresent: number;
}

/**
 * The default place of an image in the site registry: its reference without the registry
 * host (`registry.example.com/team/app:1.2` goes to repository `team/app`, tag `1.2`), so that
 * a site registry mirrors the paths the releases name.
 */
export function siteDestination(ref: string): ImageDestination {
  let rest = ref.split('@')[0]!;
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  const repository =
    slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost')
      ? rest.slice(slash + 1)
      : rest;
  return { repository: repository.toLowerCase(), tag };
}

/**
 * Pushes every named image of an OCI layout into a registry: for each, its configs and
 * layers first (skipping blobs the registry has), then its manifests by digest, then the
 * image's own manifest (or index) under its tag. A blob whose bytes do not match its digest
 * fails the push before the manifest that names it is sent.
 */
export async function pushOciImages(
  layout: OciLayout,
  client: RegistryClient,
  destinationOf: (ref: string) => ImageDestination = siteDestination,
): Promise<PushedImage[]> {
  const manifests = new Map<string, Uint8Array>();
  for (const node of layout.nodes) if (node.kind !== 'blob') manifests.set(node.descriptor.digest, node.bytes);
  const pushed: PushedImage[] = [];
  for (const image of layout.index.manifests) {
    const ref = image.annotations?.[OCI_REF_NAME];
    if (ref === undefined)
      throw new FlotillaError(
        'OCI_LAYOUT_INVALID',
        `OCI layout ${layout.dir}: image ${image.digest} has no ${OCI_REF_NAME} to push it under`,
        { blob: image.digest },
      );
    const destination = destinationOf(ref);
    const nodes = await walkOciIndex({ schemaVersion: 2, manifests: [image] }, async (d: OciDescriptor) =>
      manifests.get(d.digest)!,
    );
    let blobsPushed = 0;
    let blobsPresent = 0;
    for (const node of nodes) {
      if (node.kind === 'blob') {
        const outcome = await client.pushBlob(destination.repository, node.descriptor, () =>
          layout.open(node.descriptor),
        );
        if (outcome === 'pushed') blobsPushed++;
        else blobsPresent++;
      } else {
        const top = node.descriptor.digest === image.digest;
        await client.pushManifest(
          destination.repository,
          top && destination.tag !== undefined ? destination.tag : node.descriptor.digest,
          node.bytes,
          node.descriptor.mediaType,
        );
      }
    }
    pushed.push({
      ref,
      repository: destination.repository,
      tag: destination.tag,
      digest: image.digest,
      blobsPushed,
      blobsPresent,
    });
  }
  return pushed;
}
