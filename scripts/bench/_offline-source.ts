/**
 * What the offline benchmark carries: a signed release and an image whose layers are seeded
 * pseudo-random bytes (AES-CTR keystream), generated a chunk at a time so that no layer is
 * ever in memory or on disk before the export writes it.
 */
import { createCipheriv, createHash } from 'node:crypto';
import {
  API_VERSION,
  generateKeyPair,
  keyIdOf,
  signBundle,
  signPayload,
  type Envelope,
  type KeyPair,
  type SignedTrustRoot,
  type TrustRoot,
} from '@flotilla/protocol';
import {
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_TAR,
  OCI_MANIFEST,
  OCI_REF_NAME,
  type BlobSource,
  type TransferContents,
} from '@flotilla/protocol/offline';

const CHUNK = 1 << 20;
let keystream: Buffer | undefined;

/**
 * `length` bytes from a seed, in chunks of 1 MiB: one block of AES-CTR keystream with the
 * seed's hash and the chunk's number stamped on it, so every chunk of every layer differs.
 * Each chunk is a view of one buffer that the next overwrites, as the exporter's sources may
 * be (it writes each chunk before it asks for the next).
 */
export async function* seededStream(seed: string, length: number): AsyncGenerator<Uint8Array> {
  keystream ??= createCipheriv(
    'aes-128-ctr',
    createHash('sha256').update('flotilla-bench').digest().subarray(0, 16),
    Buffer.alloc(16),
  ).update(Buffer.alloc(CHUNK));
  const stamp = createHash('sha256').update(seed).digest();
  const buffer = Buffer.allocUnsafeSlow(CHUNK);
  for (let offset = 0, n = 0; offset < length; offset += CHUNK, n++) {
    buffer.set(keystream);
    buffer.set(stamp, 0);
    buffer.writeDoubleBE(n, stamp.length);
    yield buffer.subarray(0, Math.min(CHUNK, length - offset));
  }
}

/** The digests of the layers `layerDigests(n, size)` names; the writer checks each as it streams. */
export async function layerDigests(layers: number, layerBytes: number): Promise<string[]> {
  const digests: string[] = [];
  for (let i = 0; i < layers; i++) {
    const hash = createHash('sha256');
    for await (const chunk of seededStream(`layer-${i}`, layerBytes)) hash.update(chunk);
    digests.push(`sha256:${hash.digest('hex')}`);
  }
  return digests;
}

function memoryBlob(bytes: Uint8Array): BlobSource {
  return {
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    size: bytes.length,
    open: async function* () {
      yield bytes;
    },
  };
}

/** The contents of a transfer file whose layers (of `layerBytes` each) have the given digests. */
export function benchContents(hubKey: KeyPair, digests: readonly string[], layerBytes: number): TransferContents {
  const rootKey = generateKeyPair();
  const releaseKey = generateKeyPair();
  const now = new Date('2026-12-01T00:00:00Z');
  const root: TrustRoot = {
    apiVersion: API_VERSION,
    kind: 'TrustRoot',
    hubId: 'hub_bench',
    version: 2,
    keys: [
      { id: keyIdOf(rootKey.publicKey), publicKey: rootKey.publicKey, roles: ['root'] },
      { id: keyIdOf(hubKey.publicKey), publicKey: hubKey.publicKey, roles: ['hub'] },
      { id: keyIdOf(releaseKey.publicKey), publicKey: releaseKey.publicKey, roles: ['release'] },
    ],
    thresholds: { root: 1, release: 1 },
    issuedAt: now.toISOString(),
  };
  const trustRoot: SignedTrustRoot = { trustRoot: root, signatures: [signPayload('trust-root', root, rootKey)] };
  const release = signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'shop',
      version: '1.0.0',
      resources: Array.from({ length: 50 }, (_, i) => ({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `svc-${i}`, namespace: 'shop' },
        spec: {
          replicas: 2,
          template: { spec: { containers: [{ name: 'main', image: `registry.example.com/shop/svc-${i}:1.0.0` }] } },
        },
      })),
    },
    [releaseKey],
  );
  const targetId = 'tgt_0000000000000000be4c';
  const envelope: Envelope = {
    apiVersion: API_VERSION,
    kind: 'Envelope',
    targetId,
    generation: 1,
    bundles: [
      { name: 'shop', version: '1.0.0', digest: release.digest, size: Buffer.byteLength(JSON.stringify(release)) },
    ],
    holds: [],
    trustRootVersion: 2,
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 30 * 86_400_000).toISOString(),
  };
  const layerBlobs: BlobSource[] = digests.map((digest, i) => ({
    digest,
    size: layerBytes,
    open: () => seededStream(`layer-${i}`, layerBytes),
  }));
  const encoder = new TextEncoder();
  const config = memoryBlob(
    encoder.encode(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: layerBlobs.map((l) => l.digest) },
      }),
    ),
  );
  const manifest = memoryBlob(
    encoder.encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
        layers: layerBlobs.map((l) => ({ mediaType: OCI_LAYER_TAR, digest: l.digest, size: l.size })),
      }),
    ),
  );
  return {
    hubId: 'hub_bench',
    createdAt: now.toISOString(),
    trustRootSince: 1,
    trustRoots: [trustRoot],
    envelopes: [{ envelope, signature: signPayload('envelope', envelope, hubKey) }],
    releases: [release],
    images: {
      index: {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: manifest.digest,
            size: manifest.size,
            annotations: { [OCI_REF_NAME]: 'registry.example.com/shop/svc:1.0.0' },
          },
        ],
      },
      blobs: [...layerBlobs, config, manifest],
    },
  };
}
