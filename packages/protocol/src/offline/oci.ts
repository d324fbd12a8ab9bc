/**
 * The parts of the OCI image spec a transfer file and a registry push use: descriptors, image
 * manifests, image indexes and the image layout's `oci-layout` file. Unknown members are kept
 * (the spec lets documents grow); the members Flotilla relies on are checked.
 */
import { z } from 'zod';
import { Digest } from '../documents/common.ts';

/** Media types of the documents and layers Flotilla reads and writes. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** The annotation an index entry of an image layout names its image by. */
export const OCI_REF_NAME = 'org.opencontainers.image.ref.name';
/** The content of every `oci-layout` file Flotilla writes. */
export const OCI_LAYOUT_VERSION = '1.0.0';

/** Manifests and indexes are metadata; registries must accept 4 MiB, so no more is read. */
export const OCI_MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

const MediaType = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/,
    'a media type is type/subtype',
  );

/** A pointer to a blob: its media type, digest and size. */
export const OciDescriptor = z.looseObject({
  mediaType: MediaType,
  digest: Digest,
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type OciDescriptor = z.infer<typeof OciDescriptor>;

/** An image manifest: a config and layers. */
export const OciImageManifest = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.enum([OCI_MANIFEST, DOCKER_MANIFEST]).optional(),
  config: OciDescriptor,
  layers: z.array(OciDescriptor).max(1000),
});
export type OciImageManifest = z.infer<typeof OciImageManifest>;

/** An image index: manifests (per platform, or per image in a layout's `index.json`). */
export const OciImageIndex = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.enum([OCI_INDEX, DOCKER_MANIFEST_LIST]).optional(),
  manifests: z.array(OciDescriptor).max(10_000),
});
export type OciImageIndex = z.infer<typeof OciImageIndex>;

/** The `oci-layout` file of an image layout. */
export const OciLayoutFile = z.looseObject({ imageLayoutVersion: z.string() });
export type OciLayoutFile = z.infer<typeof OciLayoutFile>;

/** True for a descriptor that points at another index (a multi-platform image). */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

/** True for a descriptor that points at an image manifest. */
export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST;
}
