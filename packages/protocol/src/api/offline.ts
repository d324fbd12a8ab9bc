import { z } from 'zod';
import { Digest, TargetId, Timestamp } from '../documents/common.ts';
import { SignedBundle } from '../documents/bundle.ts';
import { SignedEnvelope } from '../documents/envelope.ts';
import { SignedTrustRoot } from '../documents/trust-root.ts';
import { OciImageIndex } from '../offline/oci.ts';
import { SignedTransferManifest } from '../offline/transfer-manifest.ts';

/*
 * The air-gap exchange (docs/air-gap.md). The hub signs what a transfer file holds; the CLI
 * writes the file itself, streaming the image blobs from an OCI layout on its own disk, so a
 * multi-gigabyte export never passes through the hub. Reports files go up as they are.
 */

/** The longest offline expiry an operator may set for a target: long, never unbounded. */
export const OFFLINE_EXPIRY_MAX_SECONDS = 90 * 24 * 60 * 60;
/** The offline expiry of a target the operator set none for. */
export const OFFLINE_EXPIRY_DEFAULT_SECONDS = 7 * 24 * 60 * 60;

/** `POST /v1/offline/exports`: the signed manifest and documents of a transfer file for some targets. */
export const OfflineExportRequest = z
  .strictObject({
    /** Target ids; or `query`. */
    targets: z.array(TargetId).min(1).max(10_000).optional(),
    /** A fleet query selecting the targets; or `targets`. */
    query: z.string().min(1).max(4096).optional(),
    /** The trust-root version the site holds; the file carries every later one. Default 0: all. */
    trustRootSince: z.number().int().min(0).optional(),
    /** The images the file carries, as the CLI found them in an OCI layout: the hub signs their digests and sizes. */
    images: z
      .strictObject({
        index: OciImageIndex,
        blobs: z
          .array(z.strictObject({ digest: Digest, size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }))
          .max(100_000),
      })
      .optional(),
  })
  .refine((r) => (r.targets === undefined) !== (r.query === undefined), 'give either targets or query, not both');
export type OfflineExportRequest = z.infer<typeof OfflineExportRequest>;

/** What the CLI writes as a transfer file: the signed manifest, and the documents it lists. */
export const OfflineExportPlan = z.object({
  signed: SignedTransferManifest,
  trustRoots: z.array(SignedTrustRoot),
  envelopes: z.array(SignedEnvelope),
  releases: z.array(SignedBundle),
});
export type OfflineExportPlan = z.infer<typeof OfflineExportPlan>;

/** `PUT /v1/offline/targets/{id}`: how long the envelopes in this target's transfer files stay valid. */
export const OfflineSettings = z.strictObject({
  expirySeconds: z.number().int().min(60).max(OFFLINE_EXPIRY_MAX_SECONDS),
});
export type OfflineSettings = z.infer<typeof OfflineSettings>;

/** How a target syncs: `online` over HTTP, `offline-synced` when its last exchange was a file. */
export const OfflineSyncMode = z.enum(['online', 'offline-synced']);
export type OfflineSyncMode = z.infer<typeof OfflineSyncMode>;

/** A target's offline state, as `flotilla offline status` shows it. */
export const OfflineTargetState = z.object({
  targetId: TargetId,
  name: z.string(),
  sync: OfflineSyncMode,
  expirySeconds: z.number().int(),
  /** When the hub last wrote a transfer file for it or imported a reports file from it. */
  lastFileAt: Timestamp.nullable(),
  /** When its agent last reached the hub online. */
  lastContactAt: Timestamp.nullable(),
  /** The generation of the last transfer file exported for it. */
  exportedGeneration: z.number().int().nullable(),
  /** The highest generation its reports say it applied, by file or online. */
  acknowledgedGeneration: z.number().int().nullable(),
  /** The highest report seq the hub holds for it. */
  reportSeq: z.number().int(),
  /** The newest trust-root version the site holds, as its last reports file said. */
  trustRootVersion: z.number().int().nullable(),
});
export type OfflineTargetState = z.infer<typeof OfflineTargetState>;

export const OfflineTargetList = z.object({ items: z.array(OfflineTargetState) });
export type OfflineTargetList = z.infer<typeof OfflineTargetList>;
