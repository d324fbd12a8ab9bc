import { createHash } from 'node:crypto';
import {
  API_VERSION,
  generateKeyPair,
  keyIdOf,
  signBundle,
  signPayload,
  type Envelope,
  type KeyPair,
  type Report,
  type SignedBundle,
  type SignedReport,
  type SignedEnvelope,
  type SignedTrustRoot,
  type TrustRoot,
  type TrustedKey,
} from '../../src/index.ts';
import {
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_TAR,
  OCI_MANIFEST,
  OCI_REF_NAME,
  type BlobSource,
  type OciImageIndex,
  type TransferContents,
} from '../../src/offline/index.ts';

export const NOW = new Date('2026-11-28T12:00:00Z');
export const TARGET = 'tgt_00000000000000000001';
export const OTHER_TARGET = 'tgt_00000000000000000002';

export const rootKey = generateKeyPair();
export const hubKey = generateKeyPair();
export const releaseKey = generateKeyPair();

export function trusted(key: KeyPair): TrustedKey {
  return { id: keyIdOf(key.publicKey), publicKey: key.publicKey };
}
export const hubKeys: TrustedKey[] = [trusted(hubKey)];

export function trustRoot(version: number, hub: KeyPair = hubKey): TrustRoot {
  return {
    apiVersion: API_VERSION,
    kind: 'TrustRoot',
    hubId: 'hub_test',
    version,
    keys: [
      { id: keyIdOf(rootKey.publicKey), publicKey: rootKey.publicKey, roles: ['root'] },
      { id: keyIdOf(hub.publicKey), publicKey: hub.publicKey, roles: ['hub'] },
      { id: keyIdOf(releaseKey.publicKey), publicKey: releaseKey.publicKey, roles: ['release'] },
    ],
    thresholds: { root: 1, release: 1 },
    issuedAt: NOW.toISOString(),
  };
}

export function signedTrustRoot(version: number, hub: KeyPair = hubKey): SignedTrustRoot {
  const root = trustRoot(version, hub);
  return { trustRoot: root, signatures: [signPayload('trust-root', root, rootKey)] };
}

export function release(name = 'app', version = '4.2.0'): SignedBundle {
  return signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name,
      version,
      resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { version } }],
    },
    [releaseKey],
  );
}

export function envelope(
  targetId: string,
  generation: number,
  bundles: readonly SignedBundle[],
  overrides: Partial<Envelope> = {},
  key: KeyPair = hubKey,
): SignedEnvelope {
  const body: Envelope = {
    apiVersion: API_VERSION,
    kind: 'Envelope',
    targetId,
    generation,
    bundles: bundles.map((b) => ({
      name: b.bundle.name,
      version: b.bundle.version,
      digest: b.digest,
      size: Buffer.byteLength(JSON.stringify(b)),
    })),
    holds: [],
    trustRootVersion: 2,
    issuedAt: NOW.toISOString(),
    expiresAt: new Date(NOW.getTime() + 7 * 86_400_000).toISOString(),
    ...overrides,
  };
  return { envelope: body, signature: signPayload('envelope', body, key) };
}

export function digestOfBytes(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A blob held in memory, served in chunks of `chunk` bytes. */
export function memoryBlob(bytes: Uint8Array, chunk = 64 * 1024): BlobSource {
  return { digest: digestOfBytes(bytes), size: bytes.length, open: () => chunks(bytes, chunk) };
}

export async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

/** Deterministic bytes: a counter through sha256, so tests can make layers of any size. */
export function seededBytes(seed: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0, block = 0; i < length; block++) {
    const digest = createHash('sha256').update(`${seed}:${block}`).digest();
    out.set(digest.subarray(0, Math.min(32, length - i)), i);
    i += 32;
  }
  return out;
}

/** A one-layer image: its blobs (layer, config, manifest) and an index naming it `ref`. */
export function image(
  ref: string,
  layerBytes: Uint8Array,
): { readonly index: OciImageIndex; readonly blobs: BlobSource[]; readonly manifestBytes: Uint8Array } {
  const encoder = new TextEncoder();
  const config = encoder.encode(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [digestOfBytes(layerBytes)] },
    }),
  );
  const manifestBytes = encoder.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: digestOfBytes(config), size: config.length },
      layers: [{ mediaType: OCI_LAYER_TAR, digest: digestOfBytes(layerBytes), size: layerBytes.length }],
    }),
  );
  const index: OciImageIndex = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: digestOfBytes(manifestBytes),
        size: manifestBytes.length,
        annotations: { [OCI_REF_NAME]: ref },
      },
    ],
  };
  return { index, blobs: [memoryBlob(layerBytes), memoryBlob(config), memoryBlob(manifestBytes)], manifestBytes };
}

/** Contents with two trust-root versions, one envelope, two releases and a one-layer image. */
export function contents(overrides: Partial<TransferContents> = {}): TransferContents {
  const app = release('app', '4.2.0');
  const db = release('db', '1.0.0');
  const img = image('registry.example/app:4.2.0', seededBytes('layer', 20_000));
  return {
    hubId: 'hub_test',
    createdAt: NOW.toISOString(),
    trustRootSince: 1,
    trustRoots: [signedTrustRoot(3), signedTrustRoot(2)],
    envelopes: [envelope(TARGET, 7, [app, db])],
    releases: [db, app],
    images: { index: img.index, blobs: img.blobs },
    ...overrides,
  };
}

export const agentKey = generateKeyPair();
export const agentKeys: TrustedKey[] = [trusted(agentKey)];

/** A signed report of `TARGET` (or `targetId`) with the given seq. */
export function report(seq: number, overrides: Partial<Report> = {}, key: KeyPair = agentKey): SignedReport {
  const body: Report = {
    apiVersion: API_VERSION,
    kind: 'Report',
    targetId: TARGET,
    seq,
    generation: 7,
    phase: 'applied',
    health: 'healthy',
    bundles: [],
    resources: [{ key: 'ConfigMap/default/app', status: 'applied', health: 'healthy' }],
    facts: { driver: 'manifests-dir' },
    observedAt: new Date(NOW.getTime() + seq * 60_000).toISOString(),
    ...overrides,
  };
  return { report: body, signature: signPayload('report', body, key) };
}
